"""When a project becomes searchable during its first run, and how fast each embedder is
(issue 15's figures), shared by ``ingest_django.py`` and ``big_repo.py``.

- ``serve``: a real ``projectqa serve`` on a fresh data directory and a free loopback port,
  embedding with ``PROJECTQA_EMBEDDER``; the int8 model is exported once into
  ``bench/.work/models`` and copied into each fresh data directory, so no run's figures
  include the one-off export (``prebuilt_models`` prints what it cost);
- ``Availability``: a thread that, from StartIngestion on, polls Search on the project
  being ingested and notes when a keyword search first finds the file that answers an
  early question, a late one (the end of reading), when dense search first answers,
  and the run's phases; it samples the RSS of the server and its embedded worker;
- ``embedder_rates``: chunks/s of fp32 PyTorch and int8 ONNX on the very same texts in
  this process, rounds interleaved so the machine's noise falls on both alike.

Nothing here asserts a time; the scripts print figures and met/MISSED against targets.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from procstat import memory_mib
from search_during_ingest import address_of, start, worker_child

from projectqa.client import Client, ClientError
from projectqa.v1 import ingestion_pb2

WORK = Path(__file__).resolve().parent / ".work"
MODELS = WORK / "models"  # the int8 export, made once and copied into fresh data dirs
EMBEDDERS = ("torch", "onnx-int8")
POLL_S = 0.5
ACTIVE = (ingestion_pb2.INGESTION_STATUS_QUEUED, ingestion_pb2.INGESTION_STATUS_RUNNING)


# ------------------------------------------------------------------ the server
@dataclass
class Served:
    """A running ``projectqa serve`` and how to reach it."""

    proc: subprocess.Popen
    address: str
    token: str
    data_dir: Path

    def client(self, timeout: float = 600) -> Client:
        return Client(self.address, self.token, timeout=timeout)

    def pids(self) -> dict[str, int]:
        pids = {"server": self.proc.pid}
        worker = worker_child(self.proc.pid)
        if worker:
            pids["worker"] = worker
        return pids

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def prebuilt_models() -> float:
    """Export the int8 model into ``MODELS`` if it is not there; seconds it took (0: cached)."""
    from projectqa.server.embedding import Embedder

    started = time.monotonic()
    Embedder(kind="onnx-int8", models_dir=MODELS).warm_up()
    return time.monotonic() - started


def serve(data_dir: Path, embedder: str, plugins: str, log: Path) -> Served:
    """``projectqa serve`` on ``data_dir`` (created fresh), embedding with ``embedder``."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if embedder != "torch" and MODELS.is_dir():
        shutil.copytree(MODELS, data_dir / "models", ignore=shutil.ignore_patterns(".*.lock"))
    env = {
        **os.environ,
        "PROJECTQA_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        "PROJECTQA_EMBEDDER": embedder,
        "PROJECTQA_PLUGINS": plugins,
        "PROJECTQA_LOG_LEVEL": os.environ.get("PROJECTQA_LOG_LEVEL", "WARNING"),
    }
    proc = start("serve", env, log)
    address = address_of(proc, log)
    token = (data_dir / "admin.token").read_text().strip()
    return Served(proc, address, token, data_dir)


# -------------------------------------------------------------- availability
@dataclass(frozen=True)
class Question:
    """A keyword question and the file whose chunk answers it."""

    query: str
    path: str


@dataclass
class Seen:
    """Seconds after StartIngestion at which each thing was first seen (None: never)."""

    early_keyword: float | None = None  # the early question's file found by keyword
    late_keyword: float | None = None  # the late question's file found by keyword
    dense: float | None = None  # dense search answered with a hit
    embedded: float | None = None  # IndexStatus.chunks_embedded > 0 (when the field exists)
    phases: dict[str, float] = field(default_factory=dict)  # phase -> first seen
    ended: float | None = None
    run: ingestion_pb2.IngestionRun | None = None
    peak_rss: dict[str, float] = field(default_factory=dict)  # sampled VmRSS, MiB
    hwm: dict[str, float] = field(default_factory=dict)  # VmHWM at the end, MiB
    search_errors: int = 0
    first_error: str = ""


class Availability(threading.Thread):
    """Polls the run and Search from StartIngestion until the run ends (or ``timeout_s``:
    then the run is cancelled)."""

    def __init__(
        self,
        served: Served,
        project: str,
        early: Question,
        late: Question,
        dense_query: str,
        timeout_s: float,
    ) -> None:
        super().__init__(name="availability", daemon=True)
        self.served, self.project = served, project
        self.early, self.late, self.dense_query = early, late, dense_query
        self.timeout_s = timeout_s
        self.seen = Seen()
        self.run_id = ""
        self.started = 0.0
        self.ready = threading.Event()

    def begin(self, connector: str) -> None:
        """StartIngestion (full) now, then follow it in this thread."""
        with self.served.client() as client:
            self.started = time.monotonic()
            (run,) = client.start_ingestion(self.project, connector, "full")
        self.run_id = run.id
        self.start()

    def run(self) -> None:
        client = self.served.client(timeout=60)
        try:
            self._follow(client)
        except Exception as exc:  # shown with the figures instead of dying unseen
            self.seen.first_error = f"the bench's follower failed: {exc!r}"
            self.seen.search_errors += 1
        finally:
            self._memory(final=True)
            client.close()

    def _follow(self, client: Client) -> None:
        seen = self.seen
        while True:
            now = self._elapsed()
            run = client.get_ingestion_run(self.run_id)
            seen.phases.setdefault(run.phase, now)
            if run.status not in ACTIVE:
                seen.ended, seen.run = now, run
                self._probe(client)  # what the finished index answers
                return
            if now > self.timeout_s:
                client.cancel_ingestion(self.run_id)
                seen.run = client.wait_for_ingestion(self.run_id)
                seen.ended = self._elapsed()
                return
            self._probe(client)
            self._memory()
            time.sleep(POLL_S)

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _probe(self, client: Client) -> None:
        seen = self.seen
        if seen.early_keyword is None and self._finds(client, self.early):
            seen.early_keyword = self._elapsed()
        if seen.late_keyword is None and self._finds(client, self.late):
            seen.late_keyword = self._elapsed()
        if seen.dense is None or seen.embedded is None:
            self._probe_dense(client)

    def _finds(self, client: Client, question: Question) -> bool:
        # Inside the file's path only: whether the served index holds the file, not how
        # the file ranks among others defining the same name (generated code repeats names).
        response = self._search(client, question.query, "keyword", [question.path])
        return response is not None and any(h.citation.path == question.path for h in response.hits)

    def _probe_dense(self, client: Client) -> None:
        response = self._search(client, self.dense_query, "dense")
        if response is None:
            return
        if self.seen.dense is None and response.hits:
            self.seen.dense = self._elapsed()
        if self.seen.embedded is None and embedded_chunks(response) > 0:
            self.seen.embedded = self._elapsed()

    def _search(self, client: Client, query: str, mode: str, paths: list[str] | None = None):
        """The SearchResponse, or None while the project has no index."""
        try:
            return client.search(self.project, query, mode=mode, top_k=20, path_globs=paths or ())
        except ClientError as exc:  # no index yet: FAILED_PRECONDITION, expected at first
            if exc.code_name != "FAILED_PRECONDITION":
                self.seen.search_errors += 1
                self.seen.first_error = self.seen.first_error or f"{exc.code_name}: {exc}"
            return None

    def _memory(self, final: bool = False) -> None:
        for name, pid in self.served.pids().items():
            try:
                figures = memory_mib(pid)
            except OSError:
                continue
            rss = figures.get("VmRSS", 0.0)
            self.seen.peak_rss[name] = max(self.seen.peak_rss.get(name, 0.0), rss)
            if final:
                self.seen.hwm[name] = figures.get("VmHWM", 0.0)


def embedded_chunks(response: object) -> int:
    """``SearchResponse.index_status.chunks_embedded``; -1 on a server without the field."""
    status = getattr(response, "index_status", None)
    if status is None or not response.HasField("index_status"):  # type: ignore[attr-defined]
        return -1
    return int(getattr(status, "chunks_embedded", -1))


def when(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:7.1f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_seen(seen: Seen, early: Question, late: Question) -> None:
    run = seen.run
    status = ingestion_pb2.IngestionStatus.Name(run.status) if run else "?"
    print(f"  first keyword hit, early file ({early.path!s:.60}) {when(seen.early_keyword)}")
    print(f"  keyword hit in the last file read ({late.path!s:.60}) {when(seen.late_keyword)}")
    print(f"  first dense hit                              {when(seen.dense)}")
    embedded = when(seen.embedded) if seen.embedded is not None else "n/a (no IndexStatus)"
    print(f"  IndexStatus chunks_embedded > 0              {embedded}")
    print(f"  end of the run                               {when(seen.ended)}  ({status})")
    phases = ", ".join(f"{p or '?'} {t:.1f} s" for p, t in seen.phases.items())
    print(f"  phases first seen: {phases}")
    if run:
        c = run.counts
        print(
            f"  {c.documents_seen} documents, {c.chunks_written} chunks written, "
            f"{c.chunks_embedded} embedded, {c.chunks_cached} from the cache"
            + (f"; error {run.error!r}" if run.error else "")
        )
    rss = ", ".join(
        f"{n} peak {seen.peak_rss.get(n, 0):.0f} MiB (VmHWM {seen.hwm.get(n, 0):.0f})"
        for n in seen.peak_rss
    )
    print(f"  RSS sampled every {POLL_S} s: {rss}")
    if seen.search_errors:
        print(f"  Search errors while probing: {seen.search_errors}, first {seen.first_error}")


# --------------------------------------------------------------- embedders
def embedder_rates(
    texts: list[str], rounds: int, kinds: tuple[str, ...] = EMBEDDERS
) -> dict[str, float]:
    """Median chunks/s of each embedder kind over ``rounds`` interleaved encodes of ``texts``."""
    from projectqa.server.embedding import Embedder

    embedders = {kind: Embedder(kind=kind, models_dir=MODELS) for kind in kinds}  # type: ignore[arg-type]
    for embedder in embedders.values():
        embedder.encode(texts[:64])  # load and warm up outside the timing
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, embedder in embedders.items():
            began = time.perf_counter()
            embedder.encode(texts)
            rates[kind].append(len(texts) / (time.perf_counter() - began))
    return {kind: statistics.median(r) for kind, r in rates.items()}


def spread_sample(texts: list[str], count: int) -> list[str]:
    """``count`` of ``texts`` taken evenly over the whole list (all if fewer)."""
    if len(texts) <= count:
        return list(texts)
    step = len(texts) / count
    return [texts[int(i * step)] for i in range(count)]
