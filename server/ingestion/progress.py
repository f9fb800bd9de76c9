"""Progress of a run: counters its worker keeps (``RunProgress``) and publishes with every
heartbeat, and the rates and ETA a watcher works out from what the Store shows
(``RateWindow``), on whatever host the run executes."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from ..models import IngestionRun, utcnow

MAX_KEPT_WARNINGS = 100  # stored on the run; the count goes on
RATE_WINDOW_S = 10.0


@dataclass
class Counts:
    """The counters of ``IngestionRun``, mutable while the run goes on."""

    documents_seen: int = 0
    documents_changed: int = 0
    documents_unchanged: int = 0
    documents_deleted: int = 0
    documents_failed: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    chunks_cached: int = 0

    @classmethod
    def of(cls, run: IngestionRun) -> Counts:
        return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(cls)})

    @property
    def documents_read(self) -> int:
        """Documents the source yielded so far, deletions included: the unit of its Estimate.
        (Chunks count only once written, after embedding.)"""
        return self.documents_seen + self.documents_failed + self.documents_deleted


@dataclass(frozen=True)
class ProgressSnapshot:
    run: IngestionRun
    documents_done: int
    documents_total: int
    chunks_done: int
    documents_per_second: float
    chunks_per_second: float
    eta_seconds: float  # negative: unknown


@dataclass
class RunProgress:
    """A run's record plus counters that change faster than the record is saved."""

    run: IngestionRun
    counts: Counts = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.counts = Counts.of(self.run)

    @property
    def documents_total(self) -> int:
        return self.run.documents_total

    @documents_total.setter
    def documents_total(self, value: int) -> None:
        self.change(documents_total=value)

    def change(self, **fields: Any) -> IngestionRun:
        """Replace fields of the run record (status, phase, cursor, …); return it."""
        with self._lock:
            self.run = replace(self.run, **fields)
            return self.run

    def add_warning(self, key: str, message: str) -> None:
        with self._lock:
            warnings = self.run.warnings
            if len(warnings) < MAX_KEPT_WARNINGS:
                warnings = [*warnings, {"key": key, "message": message}]
            self.run = replace(
                self.run, warnings=warnings, warning_count=self.run.warning_count + 1
            )
            self.counts.documents_failed += 1

    def checkpoint(self, cursor: dict[str, Any], revision: str) -> IngestionRun:
        """Everything before ``cursor`` is written: a resumed run starts there, with
        these counters."""
        with self._lock:
            counts = {**dataclasses.asdict(self.counts), "warning_count": self.run.warning_count}
            self.run = replace(self.run, cursor=cursor, revision=revision, checkpoint_counts=counts)
            return self.run

    def record(self) -> IngestionRun:
        """The run record with the current counters and a fresh heartbeat."""
        with self._lock:
            self.run = replace(self.run, updated_at=utcnow(), **dataclasses.asdict(self.counts))
            return self.run


def at_checkpoint(run: IngestionRun) -> dict[str, Any]:
    """The counters and warnings of ``run`` as they were at its last checkpoint (none
    before any): what a run resumed from that checkpoint starts with."""
    kept = run.checkpoint_counts
    counts: dict[str, Any] = {f.name: int(kept.get(f.name, 0)) for f in dataclasses.fields(Counts)}
    warning_count = int(kept.get("warning_count", 0))
    return {**counts, "warning_count": warning_count, "warnings": run.warnings[:warning_count]}


@dataclass
class RateWindow:
    """Rates and ETA of one run from successive records of it (a watcher's view)."""

    _samples: deque[tuple[float, int, int]] = field(default_factory=deque)
    _attempt: int = 0

    def snapshot(self, run: IngestionRun, now: float | None = None) -> ProgressSnapshot:
        if run.attempts != self._attempt:  # resumed: its counters went back to a checkpoint
            self._attempt = run.attempts
            self._samples.clear()
        counts = Counts.of(run)
        done, chunks = counts.documents_read, counts.chunks_written
        now = time.monotonic() if now is None else now
        self._samples.append((now, done, chunks))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        first = self._samples[0]
        elapsed = now - first[0]
        doc_rate = (done - first[1]) / elapsed if elapsed > 0 else 0.0
        chunk_rate = (chunks - first[2]) / elapsed if elapsed > 0 else 0.0
        total = max(run.documents_total, done) if run.documents_total else 0
        eta = (total - done) / doc_rate if total and doc_rate > 0 else -1.0
        return ProgressSnapshot(run, done, total, chunks, doc_rate, chunk_rate, eta)
