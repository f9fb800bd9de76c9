"""Ingestion throughput on a real codebase (Django's source distribution).

What it does, on a fresh data directory and a cold embedding cache:

1. ``pip download --no-binary :all: --no-deps django==VERSION`` (cached under
   ``bench/.work``, never committed), unpacks it and makes it a git repository;
2. starts ``python -m projectqa.server`` (SQLite, git connector only) and runs a
   full ingestion through IngestionService, following WatchIngestion;
3. encodes the very same chunk texts with the bare embedding model — the
   physical limit of this model on this machine — and prints the pipeline's
   share of it;
4. commits a one-file change and times an incremental run end to end (from
   StartIngestion to the final WatchIngestion event);
5. prints the server's peak RSS (VmHWM) and the index size on disk per 1,000 chunks.

Usage::

    python bench/ingest_django.py [--version 5.2.8] [--exclude '**/locale/**']
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from google.protobuf import struct_pb2
from sdists import unpacked_sdist

from projectqa.client import Client
from projectqa.server.embedding import shared_embedder
from projectqa.server.ingestion.pipeline import embed_text, vector_hash
from projectqa.server.models import PageRequest
from projectqa.server.store.sqlite import SqliteStore
from projectqa.v1 import admin_pb2, ingestion_pb2

WORK = Path(__file__).resolve().parent / ".work"


def django_repo(version: str) -> Path:
    repo = WORK / f"django-{version}"
    if (repo / ".git").is_dir():
        subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "bench-base"], check=True)
        return repo
    unpacked_sdist("django", version)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        [
            "-c",
            "user.email=b@example.com",
            "-c",
            "user.name=bench",
            "commit",
            "-q",
            "-m",
            "django sdist",
        ],
        ["tag", "bench-base"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    return repo


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        "PROJECTQA_PLUGINS": "git",
        "PROJECTQA_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "projectqa.server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"server did not start: {line}")
    return proc, line.split("listening on ")[1].split()[0]


def follow(qa: Client, run_id: str) -> ingestion_pb2.IngestionRun:
    request = ingestion_pb2.WatchIngestionRequest(run_id=run_id, interval_seconds=5)
    last = None
    for event in qa.ingestion.WatchIngestion(request):
        last = event
        print(
            f"  {event.run.phase:9} docs {event.documents_done}/{event.documents_total} "
            f"chunks {event.chunks_done} ({event.chunks_per_second:.0f}/s)",
            flush=True,
        )
    assert last is not None
    return last.run


def ingest(qa: Client, full: bool) -> tuple[ingestion_pb2.IngestionRun, float]:
    mode = ingestion_pb2.INGESTION_MODE_FULL if full else ingestion_pb2.INGESTION_MODE_INCREMENTAL
    started = time.perf_counter()
    [run] = qa.ingestion.StartIngestion(
        ingestion_pb2.StartIngestionRequest(project="django", mode=mode)
    ).runs
    run = follow(qa, run.id)
    return run, time.perf_counter() - started


def embed_texts(db: Path, project_id: str) -> list[str]:
    store = SqliteStore(db)
    store.open()
    texts, after = [], None
    while page := store.list_chunks(project_id, PageRequest(limit=5000, after=after)):
        for c in page:
            texts.append(embed_text(c.path, c.document_key, c.title, c.symbol, c.text))
            assert vector_hash(texts[-1]) == c.embed_hash
        after = page[-1].id
    store.close()
    return texts


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="5.2.8")
    parser.add_argument("--exclude", action="append", default=None)
    args = parser.parse_args()
    repo = django_repo(args.version)
    files = len(
        subprocess.run(
            ["git", "-C", str(repo), "ls-files"], check=True, capture_output=True, text=True
        ).stdout.splitlines()
    )
    data = Path(tempfile.mkdtemp(prefix="pqa-bench-"))
    proc, address = start_server(data)
    try:
        qa = Client(address, (data / "admin.token").read_text().strip(), timeout=600)
        project = qa.create_project("django", name="Django")
        config = struct_pb2.Struct()
        config.update({"url": str(repo), **({"exclude": args.exclude} if args.exclude else {})})
        qa.admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="django", type="git", name="code", config=config
            )
        )
        print(f"Django {args.version}: {files} files in git")
        full, full_s = ingest(qa, full=True)
        assert full.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, full.error
        c = full.counts
        target = repo / "django" / "utils" / "text.py"
        target.write_text(target.read_text() + "\n\ndef bench_marker():\n    return 1\n")
        subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "-c",
                "user.email=b@example.com",
                "-c",
                "user.name=bench",
                "commit",
                "-qam",
                "one-file change",
            ],
            check=True,
        )
        incr, incr_s = ingest(qa, full=False)
        rss = peak_rss_mib(proc.pid)
        qa.close()
    finally:
        proc.terminate()
        proc.wait(60)
    texts = embed_texts(data / "projectqa.sqlite3", project.id)
    embedder = shared_embedder()
    embedder.encode(texts[:64])  # load and warm up outside the timing
    started = time.perf_counter()
    embedder.encode(texts)
    raw_s = time.perf_counter() - started
    index_bytes = tree_bytes(data / "indexes" / project.id)
    raw_rate, pipe_rate = len(texts) / raw_s, c.chunks_written / full_s
    print()
    print(
        f"full run        {full_s:8.1f} s  {c.documents_seen} documents, "
        f"{c.chunks_written} chunks, {c.documents_failed} skipped"
    )
    print(f"  files/s       {c.documents_seen / full_s:8.1f}")
    print(f"  chunks/s      {pipe_rate:8.1f}")
    print(f"raw encode      {raw_s:8.1f} s  {raw_rate:.1f} chunks/s (same {len(texts)} texts)")
    print(f"pipeline share  {100 * pipe_rate / raw_rate:8.1f} % of the model's limit")
    print(
        f"incremental     {incr_s:8.2f} s  end to end ({incr.counts.documents_changed} changed, "
        f"{incr.counts.chunks_embedded} embedded, status {incr.status})"
    )
    print(f"peak RSS        {rss:8.0f} MiB (server process)")
    print(
        f"index on disk   {index_bytes / 2**20:8.1f} MiB, "
        f"{index_bytes / 1024 / (c.chunks_written / 1000):.0f} KiB per 1,000 chunks"
    )
    print(f"store on disk   {tree_bytes(data) / 2**20 - index_bytes / 2**20:8.1f} MiB (SQLite)")


if __name__ == "__main__":
    main()
