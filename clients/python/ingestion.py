"""Typed calls of the IngestionService, shared by :class:`~projectqa.client.Client` and
:class:`~projectqa.client.AsyncClient`.

Runs are started, read, listed and cancelled with unary calls; their progress
is followed with :meth:`IngestionCalls.watch_ingestion`, a server stream that
has no deadline unless one is given and that the caller can cancel at any time
(an :class:`IngestionWatch`, or an :class:`AsyncIngestionWatch` on the
``AsyncClient``). :meth:`BlockingIngestionCalls.wait_for_ingestion` is sync-only:
with asyncio, ``async for`` over ``watch_ingestion`` until it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from projectqa.client.calls import AsyncServerStream, ServerStream, StreamKind, StubCalls
from projectqa.v1 import ingestion_pb2, ingestion_pb2_grpc

ModeName = Literal["incremental", "full"]

MODES: dict[str, ingestion_pb2.IngestionMode.ValueType] = {
    "incremental": ingestion_pb2.INGESTION_MODE_INCREMENTAL,
    "full": ingestion_pb2.INGESTION_MODE_FULL,
}

ACTIVE_STATUSES = frozenset(
    {ingestion_pb2.INGESTION_STATUS_QUEUED, ingestion_pb2.INGESTION_STATUS_RUNNING}
)


def is_active(run: ingestion_pb2.IngestionRun) -> bool:
    """Whether the run is still queued or running."""
    return run.status in ACTIVE_STATUSES


def _mode_number(mode: ModeName | int) -> ingestion_pb2.IngestionMode.ValueType:
    if isinstance(mode, int):
        return ingestion_pb2.IngestionMode.ValueType(mode)
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}") from None


class IngestionWatch(ServerStream[ingestion_pb2.IngestionEvent]):
    """The events of one WatchIngestion stream; iteration ends with the run.

    ``cancel()`` (or leaving a ``with`` block) ends the stream from the client side; the
    run itself goes on, since watching is only reading.
    """


class AsyncIngestionWatch(AsyncServerStream[ingestion_pb2.IngestionEvent]):
    """:class:`IngestionWatch` for ``async for``; ``cancel()`` or ``async with`` end it."""


WATCH_STREAM = StreamKind(IngestionWatch, AsyncIngestionWatch)


class IngestionCalls(StubCalls):
    """IngestionService calls; mixed into a client with ``ingestion`` and the call primitives."""

    ingestion: ingestion_pb2_grpc.IngestionServiceStub

    def start_ingestion(
        self, project: str, connector: str = "", mode: ModeName | int = "incremental"
    ) -> list[ingestion_pb2.IngestionRun]:
        """Starts a run of ``connector`` (id or name), or one per connector when it is "".

        ``mode`` is "incremental" (only what changed since the last successful
        run) or "full". Returns the queued or running runs at once.
        """
        request = ingestion_pb2.StartIngestionRequest(
            project=project, connector=connector, mode=_mode_number(mode)
        )
        return self._call(self.ingestion.StartIngestion, request, lambda r: list(r.runs))

    def watch_ingestion(
        self, run_id: str, interval: float = 0.5, *, timeout: float | None = None
    ) -> IngestionWatch:
        """Progress events of a run, about one per ``interval`` seconds, until it ends.

        A run that has already ended yields its final event only. The stream
        has no deadline unless ``timeout`` is given.
        """
        request = ingestion_pb2.WatchIngestionRequest(run_id=run_id, interval_seconds=interval)
        return self._stream(WATCH_STREAM, self.ingestion.WatchIngestion, request, timeout)

    def get_ingestion_run(self, run_id: str) -> ingestion_pb2.IngestionRun:
        request = ingestion_pb2.GetIngestionRunRequest(run_id=run_id)
        return self._call(self.ingestion.GetIngestionRun, request, lambda r: r.run)

    def list_ingestion_runs(
        self, project: str, connector: str = "", *, page_size: int = 0
    ) -> Iterator[ingestion_pb2.IngestionRun]:
        """Runs of ``project`` (of one connector, by id or name, if given), newest first."""
        request = ingestion_pb2.ListIngestionRunsRequest(
            project=project, connector=connector, page_size=page_size
        )
        return self._pages(self.ingestion.ListIngestionRuns, request, "runs")

    def cancel_ingestion(self, run_id: str) -> ingestion_pb2.IngestionRun:
        """Asks a queued or running run to stop; it ends CANCELLED shortly after."""
        request = ingestion_pb2.CancelIngestionRequest(run_id=run_id)
        return self._call(self.ingestion.CancelIngestion, request, lambda r: r.run)

    def rebuild_indexes(self, project: str) -> ingestion_pb2.RebuildIndexesResponse:
        """Rebuilds the project's dense and keyword indexes from the Store."""
        request = ingestion_pb2.RebuildIndexesRequest(project=project)
        return self._call(self.ingestion.RebuildIndexes, request)


class BlockingIngestionCalls(IngestionCalls):
    """IngestionCalls plus what only the sync client offers."""

    def wait_for_ingestion(self, run_id: str, interval: float = 1.0) -> ingestion_pb2.IngestionRun:
        """Blocks until the run ends and returns it in its final state (sync client only)."""
        with self.watch_ingestion(run_id, interval) as events:
            final = None
            for event in events:
                final = event.run
        return final if final is not None else self.get_ingestion_run(run_id)


__all__ = [
    "MODES",
    "WATCH_STREAM",
    "AsyncIngestionWatch",
    "BlockingIngestionCalls",
    "IngestionCalls",
    "IngestionWatch",
    "is_active",
]
