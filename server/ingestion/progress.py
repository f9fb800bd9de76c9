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
AFTER_READING = frozenset({"embedding", "publishing", "done"})  # phases (pipeline.py)
SOURCE_READ = "source_read"  # in checkpoint_counts: the source was read to its end


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
    chunks_pending_embedding: int = 0  # a gauge of the attempt, not a sum

    @classmethod
    def of(cls, run: IngestionRun) -> Counts:
        return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(cls)})

    @property
    def documents_read(self) -> int:
        """Documents the source yielded so far, deletions included: the unit of its Estimate."""
        return self.documents_seen + self.documents_failed + self.documents_deleted

    @property
    def chunks_with_vectors(self) -> int:
        """Chunks the run gave a vector: encoded, or found in the cache."""
        return self.chunks_embedded + self.chunks_cached


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
        # What an earlier attempt left without vectors is counted again as it is found.
        self.counts.chunks_pending_embedding = 0

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

    def embedding_pending(self, count: int) -> None:
        """``count`` more chunks wait for their vectors (negative: fewer)."""
        with self._lock:
            self.counts.chunks_pending_embedding += count

    def embedding_done(self, embedded: int, cached: int) -> None:
        """Of the chunks waiting, ``embedded`` were encoded and ``cached`` had a vector."""
        with self._lock:
            counts = self.counts
            counts.chunks_embedded += embedded
            counts.chunks_cached += cached
            counts.chunks_pending_embedding -= embedded + cached

    def checkpoint(
        self, cursor: dict[str, Any], revision: str, *, source_read: bool = False
    ) -> IngestionRun:
        """Everything before ``cursor`` is written: a resumed run starts there, with
        these counters. ``source_read``: the source was read to its end (deletions
        included), so a resumed run has only vectors to compute and an index to publish."""
        with self._lock:
            counts = {**dataclasses.asdict(self.counts), "warning_count": self.run.warning_count}
            if source_read:
                counts[SOURCE_READ] = 1
            self.run = replace(self.run, cursor=cursor, revision=revision, checkpoint_counts=counts)
            return self.run

    @property
    def source_read(self) -> bool:
        """Whether the run's last checkpoint came after its source was read to the end."""
        return source_read(self.run)

    def record(self) -> IngestionRun:
        """The run record with the current counters and a fresh heartbeat."""
        with self._lock:
            self.run = replace(self.run, updated_at=utcnow(), **dataclasses.asdict(self.counts))
            return self.run


# Vectors stay in the embedding cache whatever becomes of the run: a resumed run does not
# compute again those computed after its checkpoint, so it keeps counting from the last
# record instead (short only of what was embedded after the last heartbeat).
VECTOR_COUNTERS = ("chunks_embedded", "chunks_cached")


def source_read(run: IngestionRun) -> bool:
    """Whether ``run``'s last checkpoint came after its source was read to the end."""
    return bool(run.checkpoint_counts.get(SOURCE_READ))


def at_checkpoint(run: IngestionRun) -> dict[str, Any]:
    """The counters and warnings of ``run`` as they were at its last checkpoint (none
    before any): what a run resumed from that checkpoint starts with. The vector
    counters are the last record's (see ``VECTOR_COUNTERS``)."""
    kept = run.checkpoint_counts
    counts: dict[str, Any] = {f.name: int(kept.get(f.name, 0)) for f in dataclasses.fields(Counts)}
    counts.update({name: getattr(run, name) for name in VECTOR_COUNTERS})
    counts["chunks_pending_embedding"] = 0  # counted again by the resumed run as found
    warning_count = int(kept.get("warning_count", 0))
    return {**counts, "warning_count": warning_count, "warnings": run.warnings[:warning_count]}


@dataclass
class RateWindow:
    """Rates and ETA of one run from successive records of it (a watcher's view).

    The ETA is the slow stage's: a run ends when its chunks have vectors, and reading
    runs ahead of embedding. While the source is read, the chunks still to come are
    projected from the chunks per document so far and the source's estimate (unknown
    without one); then the chunks still waiting are divided by the embedding rate.
    """

    _samples: deque[tuple[float, int, int]] = field(default_factory=deque)
    _attempt: int = 0

    def snapshot(self, run: IngestionRun, now: float | None = None) -> ProgressSnapshot:
        if run.attempts != self._attempt:  # resumed: its counters went back to a checkpoint
            self._attempt = run.attempts
            self._samples.clear()
        counts = Counts.of(run)
        done, vectors = counts.documents_read, counts.chunks_with_vectors
        now = time.monotonic() if now is None else now
        self._samples.append((now, done, vectors))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        first = self._samples[0]
        elapsed = now - first[0]
        doc_rate = (done - first[1]) / elapsed if elapsed > 0 else 0.0
        vector_rate = (vectors - first[2]) / elapsed if elapsed > 0 else 0.0
        total = max(run.documents_total, done) if run.documents_total else 0
        eta = _eta(run, counts, total, doc_rate, vector_rate)
        chunks = counts.chunks_written
        return ProgressSnapshot(run, done, total, chunks, doc_rate, vector_rate, eta)


def _eta(
    run: IngestionRun, counts: Counts, total: int, doc_rate: float, vector_rate: float
) -> float:
    """Seconds until the run's last vector, negative when unknown."""
    pending = float(counts.chunks_pending_embedding)
    read_eta = 0.0
    if run.phase not in AFTER_READING:
        done = counts.documents_read
        if not total:
            return -1.0
        if total > done:
            if doc_rate <= 0:
                return -1.0
            read_eta = (total - done) / doc_rate
            pending += counts.chunks_written / done * (total - done) if done else 0.0
    if pending <= 0:
        return read_eta
    if vector_rate <= 0:
        return -1.0
    return max(read_eta, pending / vector_rate)
