"""A run's pipeline on its own: real SQLite, real index publication (a worker's and a
server's IndexManager), the scripted source, and a fake embedder the test can hold.

The fake embedder stands in for the model where its speed would make a test slow or
where a test must stop it half-way (tests/e2e runs the real one).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from projectqa.server.index import IndexManager
from projectqa.server.ingestion.pipeline import IngestionPipeline
from projectqa.server.ingestion.progress import RunProgress
from projectqa.server.ingestion.publishing import ProgressivePublisher
from projectqa.server.models import Connector, IngestionRun, PageRequest, RunStatus
from projectqa.server.registry import ConnectorType
from projectqa.server.store import SqliteStore

from ..store.contract import make_connector, make_project
from ..store.contract_ingestion import make_run
from .scripted_plugin import SCHEMA, ScriptedSource

DIM = 8
HOLD_S = 60.0  # the longest a held encode waits for its release (a failing test's bound)
POLLS = 4000  # looks, 10 ms apart, for what a thread does (bounded in count, not time)


def wait_for(condition: Callable[[], bool], polls: int = POLLS) -> bool:
    """True once ``condition()`` holds, after at most ``polls`` looks."""
    for _ in range(polls):
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def unit_vector(text: str, dim: int = DIM) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeEmbedder:
    """Vectors from each text's hash, under ``name``. The encode calls past the first
    ``free_calls`` wait for ``release()``; ``waiting`` is set while one does."""

    def __init__(self, name: str = "fake-a", free_calls: float = math.inf) -> None:
        self.name = name
        self.free_calls = free_calls
        self.calls = 0
        self.encoded = 0
        self.waiting = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls > self.free_calls:
            self.waiting.set()
            if not self.released.wait(HOLD_S):
                raise AssertionError("an encode was held past the test's bound")
        self.encoded += len(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([unit_vector(text) for text in texts])


def eager_publisher(publish: Callable[[], object]) -> ProgressivePublisher:
    """Publishes at every change (the interval is a bench's concern, not these tests')."""
    return ProgressivePublisher(publish, min_interval_s=0.0, factor=0.0)


SCRIPTED = ConnectorType("scripted", "Scripted test source", SCHEMA, ScriptedSource)


@dataclass
class Running:
    """A run executing in a thread, and how it ended (``error`` None: it succeeded)."""

    progress: RunProgress
    cancel: threading.Event
    thread: threading.Thread
    saved: list[IngestionRun] = field(default_factory=list)
    error: BaseException | None = None

    def join(self) -> BaseException | None:
        self.thread.join(HOLD_S)
        assert not self.thread.is_alive(), "the run did not end"
        return self.error


@dataclass
class Project:
    """One project with one scripted connector, and the pieces that index it."""

    store: SqliteStore
    root: Path
    connector: Connector
    worker_indexes: IndexManager
    server_indexes: IndexManager

    @property
    def id(self) -> str:
        return self.connector.project_id

    def pipeline(self, embedder: FakeEmbedder, write_batch: int = 256) -> IngestionPipeline:
        return IngestionPipeline(
            self.store,
            embedder,
            self.worker_indexes,
            self.root / "work",
            write_batch=write_batch,
            publisher=eager_publisher,
        )

    def start(
        self, pipeline: IngestionPipeline, run: IngestionRun | None = None, **changes: Any
    ) -> Running:
        model = pipeline.embedder.name
        run = run or make_run(self.id, self.connector.id, RunStatus.RUNNING, model=model)
        running = Running(RunProgress(replace(run, **changes)), threading.Event(), None)  # type: ignore[arg-type]

        def execute() -> None:
            try:
                pipeline.execute(
                    running.progress,
                    self.connector,
                    SCRIPTED,
                    running.cancel,
                    lambda: running.saved.append(running.progress.record()),
                )
            except BaseException as exc:
                running.error = exc

        running.thread = threading.Thread(target=execute, name="test-run", daemon=True)
        running.thread.start()
        return running

    def with_models(self, worker_model: str, server_model: str) -> Project:
        """The same project indexed by a worker and a server of other embedders."""
        indexes = self.root / "indexes"
        return replace(
            self,
            worker_indexes=IndexManager(self.store, indexes, worker_model),
            server_indexes=IndexManager(self.store, indexes, server_model),
        )

    def published_chunk_ids(self) -> list[str]:
        index = self.server_indexes.serving(self.id)
        return [index.chunk_id(row) for row in range(len(index))]

    def chunks_without_vector(self, model: str) -> int:
        return len(self.store.chunks_without_vector(self.id, model, PageRequest(100_000)))

    def cached_models(self) -> set[str]:
        return {row[0] for row in self.store._rows("SELECT DISTINCT model FROM embeddings", ())}


def scripted_project(
    store: SqliteStore, root: Path, worker_model: str, server_model: str, **config: Any
) -> Project:
    project = make_project("progressive")
    store.create_project(project)
    connector = make_connector(project.id, "src", type="scripted", config=config)
    store.create_connector(connector)
    indexes = root / "indexes"
    return Project(
        store,
        root,
        connector,
        IndexManager(store, indexes, worker_model),
        IndexManager(store, indexes, server_model),
    )


def open_store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path).open()
    yield store
    store.close()
