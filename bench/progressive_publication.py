"""Progressive publication (issue #15): how soon a run's project is searchable, and what
a generation costs to build as the project grows.

Two parts, each on a fresh data directory:

``builds`` (no model): Django's source (``bench/.work/django-VERSION``, made by
``ingest_django.py``) ingested in-process through the local connector, with an
embedder that hashes texts into 384-dimension unit vectors at once, so the run is
bound by reading, chunking and writing alone. Prints when the first generation was
published, every build the run made (seconds, chunks, vectors), and the time of a
build of the whole project with and without the previous generation's token cache.

``serve`` (the configured embedder): ``projectqa serve`` with its embedded worker
ingests a folder (this repository by default, the quickstart's) through the local
connector. Prints the time from StartIngestion to the first Search that answers (a
keyword hit), to the first answer from a generation with vectors, and to the run's
end, and the builds the worker logged.

Usage::

    python bench/progressive_publication.py builds [--version 5.2.8] [--exclude GLOB ...]
    python bench/progressive_publication.py serve [--path .]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from projectqa.client import Client
from projectqa.plugins.local import FolderSource
from projectqa.server.index import IndexManager
from projectqa.server.ingestion.pipeline import IngestionPipeline
from projectqa.server.ingestion.progress import RunProgress
from projectqa.server.ingestion.publishing import ProgressivePublisher
from projectqa.server.models import (
    Connector,
    IngestionRun,
    Project,
    RunMode,
    RunStatus,
    RunTrigger,
    new_id,
    utcnow,
)
from projectqa.server.registry import ConnectorType
from projectqa.server.store.sqlite import SqliteStore
from projectqa.v1 import ingestion_pb2

WORK = Path(__file__).resolve().parent / ".work"
ROOT = Path(__file__).resolve().parent.parent
PROJECTQA = shutil.which("projectqa") or str(Path(sys.executable).parent / "projectqa")
DIM = 384
DJANGO_EXCLUDE = ["**/locale/**", "tests/**"]  # ingest_django.py's input
ACTIVE = (ingestion_pb2.INGESTION_STATUS_QUEUED, ingestion_pb2.INGESTION_STATUS_RUNNING)


class HashEmbedder:
    """Unit vectors from each text's hash: an embedder that costs nothing."""

    name = "hash-384"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            out[row] = np.random.default_rng(seed).normal(size=DIM)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def builds(version: str, exclude: list[str]) -> None:
    repo = WORK / f"django-{version}"
    if not repo.is_dir():
        sys.exit(f"{repo} is missing: run bench/ingest_django.py once first")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.sqlite3").open()
        indexes = IndexManager(store, Path(tmp) / "indexes", HashEmbedder.name)
        publishers: list[ProgressivePublisher] = []
        first: list[float] = []

        def publisher(publish):  # type: ignore[no-untyped-def]
            def timed() -> object:
                result = publish()
                if not first:
                    first.append(time.monotonic())
                return result

            publishers.append(ProgressivePublisher(timed))
            return publishers[-1]

        pipeline = IngestionPipeline(
            store, HashEmbedder(), indexes, Path(tmp) / "work", publisher=publisher
        )
        now = utcnow()
        project = Project(new_id("prj"), "django", "Django", "", now, now)
        store.create_project(project)
        config = {"path": str(repo), "exclude": exclude}
        connector = Connector(new_id("con"), project.id, "local", "src", config, {}, now, now)
        store.create_connector(connector)
        ctype = ConnectorType("local", "folder", {}, FolderSource)
        run_id = new_id("run")
        run = IngestionRun(
            run_id, project.id, connector.id, RunMode.FULL, RunTrigger.MANUAL,
            RunStatus.RUNNING, "reading", now, now, scan_id=run_id, model=HashEmbedder.name,
        )  # fmt: skip
        started = time.monotonic()
        pipeline.execute(RunProgress(run), connector, ctype, threading.Event(), lambda: None)
        ended = time.monotonic() - started
        chunks = store.count_chunks(project.id)
        print(
            f"run: {chunks} chunks in {ended:.1f}s; first generation at {first[0] - started:.1f}s"
        )
        print("builds during the run (s):", ", ".join(f"{b:.2f}" for b in publishers[0].builds))
        with_cache = _timed(lambda: indexes.rebuild(project.id))
        shutil.rmtree(Path(tmp) / "indexes")
        cold = _timed(
            lambda: IndexManager(store, Path(tmp) / "i2", HashEmbedder.name).rebuild(project.id)
        )
        print(f"build at {chunks} chunks: {with_cache:.2f}s with the token cache, {cold:.2f}s cold")
        store.close()


def _timed(step) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    step()
    return time.monotonic() - started


def serve(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
        env |= {
            "PROJECTQA_DATA_DIR": str(data),
            "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
            "PROJECTQA_PLUGINS": "local",
        }
        log = Path(tmp) / "server.log"
        with log.open("w") as stderr:
            server = subprocess.Popen(
                [PROJECTQA, "serve"], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        try:
            assert server.stdout is not None
            address = server.stdout.readline().split("listening on ")[1].split()[0]
            token = (data / "admin.token").read_text().strip()
            started = time.time()
            project_id = _follow(Client(address, token), path)
            manifest = json.loads((data / "indexes" / project_id / "manifest.json").read_text())
            print(f"embedder {manifest['model']}: {manifest['vectors']}/{manifest['chunks']}")
            print("builds the worker logged (s after StartIngestion: build time, summary):")
            for line in log.read_text().splitlines():
                if "built index of project" in line:
                    record = json.loads(line)
                    at = datetime.fromisoformat(record["ts"]).timestamp() - started
                    print(f"  {at:6.1f}: {record['msg'].split(' in ', 1)[-1]}")
        finally:
            server.terminate()
            server.wait(120)


def _follow(qa: Client, path: Path) -> str:
    """Ingest ``path`` into a new project and time it; the project's id."""
    project_id = qa.create_project("bench", name="Bench").id
    qa.create_connector("bench", "local", "src", {"path": str(path.resolve())})
    started = time.monotonic()
    [run] = qa.start_ingestion("bench", mode="full")
    keyword = dense = None
    while True:
        run = qa.get_ingestion_run(run.id)
        if keyword is None:  # keyword mode: the server's query embedder plays no part
            answer = _search(qa, "keyword")
            if answer is not None and answer.hits:
                keyword = time.monotonic() - started
                written = run.counts.chunks_written
                print(f"first keyword hit after {keyword:.1f}s ({written} chunks written)")
        elif dense is None:
            answer = _search(qa, "dense")
            if answer is not None and answer.hits:
                dense = time.monotonic() - started
                print(f"first dense hit after {dense:.1f}s ({run.counts.chunks_embedded} embedded)")
        now = time.monotonic() - started
        if run.status not in ACTIVE:
            counts = run.counts
            print(f"run ended after {now:.1f}s: {counts.chunks_written} chunks, "
                  f"{counts.chunks_embedded} embedded, status {run.status}")  # fmt: skip
            return project_id
        time.sleep(0.2)


def _search(qa: Client, mode: str):  # type: ignore[no-untyped-def]
    try:
        return qa.search("bench", "index generation manifest", mode=mode, top_k=5)
    except Exception:  # FAILED_PRECONDITION until the first generation is out
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("builds")
    part.add_argument("--version", default="5.2.8")
    part.add_argument("--exclude", action="append", help=f"default: {DJANGO_EXCLUDE} (16k chunks)")
    sub.add_parser("serve").add_argument("--path", type=Path, default=ROOT)
    args = parser.parse_args()
    if args.part == "builds":
        builds(args.version, args.exclude or DJANGO_EXCLUDE)
    else:
        serve(args.path)


if __name__ == "__main__":
    main()
