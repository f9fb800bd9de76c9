"""Indexing a real repository's commit history (issue 16, item 3): 10,000 commits in
<= 60 s on this machine.

What it does, on a fresh data directory:

1. a bare copy of a real repository with more than 10,000 commits (python/mypy by
   default, fetched once into ``/work/.mirror`` by the session's ``fetch`` tool, or any
   local repository given with ``--repo``), cached under ``bench/.work/history``;
2. a first run of the real ingestion pipeline in this process, with the real ``git``
   connector and ``history_commits`` 0: the clone every git connector fetches (timed,
   not the history's cost); ``include`` matches no file, so no file is read;
3. a full run with ``history_commits`` = ``--commits``: git log, parsing, chunking,
   writing to SQLite and publishing the keyword index. The embedder hashes texts (it
   costs nothing), so the figure is the history's own cost: the commits are
   keyword-searchable at its end;
4. one new commit, then an incremental run (it reads only the new commit);
5. keyword searches over the commits and the history signal's latency
   (``server/retrieval/history.py``);
6. with ``--embed-sample N``: the real embedder (``PROJECTQA_EMBEDDER``, int8 ONNX by
   default) on N commit chunks, and what embedding all of them would add.

Prints the times and rates, and the target met/MISSED. Nothing is asserted. Usage::

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/history_ingest.py [--repo PATH]
        [--commits 10000] [--embed-sample 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from progressive_publication import HashEmbedder

from projectqa.plugins.git import GitSource
from projectqa.server.index import IndexManager
from projectqa.server.ingestion.backfill import embed_text
from projectqa.server.ingestion.pipeline import IngestionPipeline
from projectqa.server.ingestion.progress import RunProgress
from projectqa.server.models import (
    Connector,
    IngestionRun,
    PageRequest,
    Project,
    RunMode,
    RunStatus,
    RunTrigger,
    new_id,
    utcnow,
)
from projectqa.server.registry import ConnectorType
from projectqa.server.retrieval.history import similar_change_scores
from projectqa.server.retrieval.query import SearchFilter, SearchMode, SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.store.sqlite import SqliteStore

WORK = Path(__file__).resolve().parent / ".work" / "history"
MIRROR = Path("/work/.mirror/python+mypy/repo")
TARGET_S = 60.0
QUESTIONS = [
    "crash when a TypedDict is used as a base class",
    "false positive for unreachable code after an assert",
    "daemon does not notice a changed stub file",
    "mypyc generates wrong refcounts in an attribute setter",
]


def bare_copy(source: Path) -> Path:
    """A bare clone of ``source`` with a config git may fetch from (cached)."""
    target = WORK / f"{source.parent.name if source.name == 'repo' else source.name}.git"
    if not target.is_dir():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "--quiet", "--bare", "--no-local", str(source), str(target)],
            check=True,
        )
    return target


def add_commit(repo: Path) -> str:
    """A new commit on HEAD (same tree) in the bare repository, as a push would bring."""
    head = _git(repo, "rev-parse", "HEAD")
    new = _git(
        repo,
        *("-c", "user.name=bench", "-c", "user.email=bench@example.com"),
        *("commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "Retry the daemon socket"),
    )
    branch = _git(repo, "symbolic-ref", "HEAD")
    _git(repo, "update-ref", branch, new)
    return new


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return done.stdout.decode().strip()


class Bench:
    def __init__(self, tmp: Path, repo: Path, commits: int) -> None:
        self.store = SqliteStore(tmp / "store.sqlite3").open()
        self.indexes = IndexManager(self.store, tmp / "indexes", HashEmbedder.name)
        self.pipeline = IngestionPipeline(self.store, HashEmbedder(), self.indexes, tmp / "work")
        now = utcnow()
        self.project = Project(new_id("prj"), "history", "History", "", now, now)
        self.store.create_project(self.project)
        config = {"url": str(repo), "include": ["no-file-is-called-this"]}
        config["history_commits"] = commits
        self.connector = Connector(
            new_id("con"), self.project.id, "git", "history", config, {}, now, now
        )
        self.store.create_connector(self.connector)
        self.ctype = ConnectorType("git", "git", {}, GitSource)
        self.cursor: dict[str, object] = {}

    def run(self, mode: RunMode) -> tuple[float, IngestionRun]:
        now = utcnow()
        run_id = new_id("run")
        run = IngestionRun(
            run_id, self.project.id, self.connector.id, mode, RunTrigger.MANUAL,
            RunStatus.RUNNING, "reading", now, now, scan_id=run_id, model=HashEmbedder.name,
            cursor=self.cursor,
        )  # fmt: skip
        progress = RunProgress(run)
        started = time.monotonic()
        self.pipeline.execute(progress, self.connector, self.ctype, threading.Event(), lambda: None)
        elapsed = time.monotonic() - started
        run = progress.record()
        self.cursor = run.cursor
        return elapsed, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=MIRROR)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--embed-sample", type=int, default=0)
    args = parser.parse_args()
    if not args.repo.exists():
        sys.exit(f"{args.repo} is missing: fetch github:python/mypy first, or give --repo")
    repo = bare_copy(args.repo)
    print(f"repository: {args.repo} ({_git(repo, 'rev-list', '--count', 'HEAD')} commits)")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), repo, 0)
        fetch_s, _ = bench.run(RunMode.FULL)  # the clone a git connector makes anyway
        print(f"clone (a connector's first fetch, without history): {fetch_s:.1f} s")
        bench.connector.config["history_commits"] = args.commits
        full_s, run = bench.run(RunMode.FULL)
        print(
            f"history run: {run.documents_changed} commits, {run.chunks_written} chunks "
            f"in {full_s:.1f} s ({run.documents_changed / full_s:.0f} commits/s); "
            f"target <= {TARGET_S:.0f} s: {'met' if full_s <= TARGET_S else 'MISSED'}"
        )
        print(f"  warnings {run.warning_count}, error {run.error!r}; {load()}")
        add_commit(repo)
        incremental_s, run = bench.run(RunMode.INCREMENTAL)
        print(
            f"incremental run after one new commit: {run.documents_changed} changed, "
            f"{run.documents_deleted} deleted (the oldest leaves the window) "
            f"in {incremental_s:.2f} s"
        )
        searches(bench)
        if args.embed_sample:
            embedding_cost(bench, args.embed_sample)
        bench.store.close()


def load() -> str:
    """The machine's load, which the figures depend on (2 cores, shared)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def searches(bench: Bench) -> None:
    searcher = Searcher(bench.store, bench.indexes, HashEmbedder())  # type: ignore[arg-type]
    index = searcher.index(bench.project.id)
    commits = SearchFilter(kinds=("commit",))
    for question in QUESTIONS:  # keyword: the embedder of this bench hashes texts
        query = SearchQuery.checked(question, SearchMode.KEYWORD, search_filter=commits)
        found = searcher.search(bench.project.id, query)
        top = found.hits[0].chunk.symbol if found.hits else "(none)"
        print(f"  {question!r}: {top[:90]}")
    latencies = []
    for _ in range(5):
        for question in QUESTIONS:
            started = time.perf_counter()
            similar_change_scores(index, bench.store, question)
            latencies.append((time.perf_counter() - started) * 1000)
    print(
        f"history signal: median {statistics.median(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms over {len(latencies)} calls"
    )


def embedding_cost(bench: Bench, sample: int) -> None:
    """The configured real embedder's rate on commit chunks, and the time for all of them."""
    from projectqa.server.embedding import ingestion_embedder

    embedder = ingestion_embedder()  # PROJECTQA_EMBEDDER's, as a worker's runs use
    chunks = bench.store.list_chunks(bench.project.id, PageRequest(limit=sample))
    texts = [embed_text(c.path, c.document_key, c.title, c.symbol, c.text) for c in chunks]
    embedder.encode(texts[:8])  # load
    started = time.monotonic()
    embedder.encode(texts)
    rate = len(texts) / (time.monotonic() - started)
    total = bench.store.count_chunks(bench.project.id)
    print(
        f"embedding ({embedder.name}): {rate:.0f} commit chunks/s; all {total} would add "
        f"{total / rate:.0f} s"
    )


if __name__ == "__main__":
    main()
