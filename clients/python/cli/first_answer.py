"""The quickstart's first answer, as soon as keyword search is ready.

A run publishes index generations as it goes, keyword-searchable chunks first
and their vectors behind, so a first question need not wait for the run's end.
The run's progress is shown until the project's served generation holds every
stored chunk while the run is still on (it is past "reading": embedding is what
takes long); the caller then answers, says what is still missing (the dense index
filling in) and follows the rest of the run. An answer from a generation that
holds only the documents read first (in path order: ``bench/``, ``clients/``…)
would cite whatever those are, not what the repository answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from projectqa.client.cli.progress import WATCH_INTERVAL_S, RunsView, runs_view
from projectqa.client.client import Client
from projectqa.client.errors import ClientError
from projectqa.client.index_status import IndexStatus
from projectqa.client.ingestion import is_active
from projectqa.v1 import ingestion_pb2

Run = ingestion_pb2.IngestionRun

STATUS_EVERY_S = 1.0  # index status asked at most this often while the run goes on


def is_searchable(status: IndexStatus) -> bool:
    """A generation with chunks is served: keyword search answers."""
    return status.generation > 0 and status.chunks_indexed > 0


def keyword_complete(run: Run, status: IndexStatus) -> bool:
    """Keyword search answers from everything the run will store: it has read its
    source, and the served generation holds every stored chunk."""
    return (
        run.phase != "reading"
        and is_searchable(status)
        and status.chunks_indexed >= status.chunks_stored
    )


class _StatusPoll:
    """The project's index status, asked at most every ``STATUS_EVERY_S`` seconds."""

    def __init__(
        self, client: Client, project_id: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client, self._project_id, self._clock = client, project_id, clock
        self._asked_at = -math.inf

    def searchable(self, run: Run) -> IndexStatus | None:
        """The index status once keyword search covers what ``run`` stores (None
        before, and between polls)."""
        if run.phase == "reading" or self._clock() - self._asked_at < STATUS_EVERY_S:
            return None
        self._asked_at = self._clock()
        try:
            status = self._client.index_status(self._project_id)
        except ClientError:  # an older server: no early answer, the run's end is awaited
            self._asked_at = math.inf
            return None
        return status if keyword_complete(run, status) else None


def follow_until_searchable(
    client: Client, project_id: str, run: Run, names: Mapping[str, str], *, progress: bool = True
) -> tuple[Run, IndexStatus | None]:
    """Shows the run's progress until keyword search answers from all it stores while
    it is still on (the run as last seen and that status), or until it ends (its final
    state and None)."""
    poll = _StatusPoll(client, project_id)
    with runs_view(names, progress=progress) as view:
        view.add(run)
        final, status = _watch(client, run, view, poll)
        if status is None:
            if is_active(final):  # the stream ended early (a server shutting down, say)
                final = client.get_ingestion_run(run.id)
            view.finish(final)
    return final, status


def _watch(
    client: Client, run: Run, view: RunsView, poll: _StatusPoll
) -> tuple[Run, IndexStatus | None]:
    final = run
    with client.watch_ingestion(run.id, WATCH_INTERVAL_S) as events:
        for event in events:
            view.update(event)
            final = event.run
            if not is_active(final):
                return final, None
            status = poll.searchable(final)
            if status is not None:
                return final, status
    return final, None
