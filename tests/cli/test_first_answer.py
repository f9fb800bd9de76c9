"""When the quickstart's first answer may come: keyword search covers the repository."""

from __future__ import annotations

from projectqa.client.cli.first_answer import _StatusPoll, keyword_complete
from projectqa.v1 import ingestion_pb2, retrieval_pb2

Run = ingestion_pb2.IngestionRun
Status = retrieval_pb2.IndexStatus


def status(indexed: int, stored: int, embedded: int = 0) -> Status:
    return Status(
        generation=1, chunks_indexed=indexed, chunks_stored=stored, chunks_embedded=embedded
    )


def test_the_first_answer_waits_for_a_keyword_index_of_everything_read() -> None:
    # The first generations hold the documents read first (bench/ of this repository):
    # an answer from them cites whatever those are.
    assert not keyword_complete(Run(phase="reading"), status(527, 2987))
    assert not keyword_complete(Run(phase="reading"), status(527, 527))  # more is coming
    assert not keyword_complete(Run(phase="embedding"), status(527, 7901))  # not published yet
    assert keyword_complete(Run(phase="embedding"), status(7901, 7901))  # vectors behind
    assert keyword_complete(Run(phase="queued"), status(40, 40, 39))  # a run waiting
    assert not keyword_complete(Run(phase="queued"), Status())  # nothing served


class Statuses:
    """Answers index_status with the given statuses in turn; counts the calls."""

    def __init__(self, *statuses: Status) -> None:
        self.statuses = list(statuses)
        self.calls = 0

    def index_status(self, project_id: str) -> Status:
        self.calls += 1
        return self.statuses.pop(0)


def test_the_status_is_not_asked_while_the_run_reads() -> None:
    now = [0.0]
    client = Statuses(status(100, 900), status(900, 900))
    poll = _StatusPoll(client, "prj_1", clock=lambda: now[0])  # type: ignore[arg-type]
    assert poll.searchable(Run(phase="reading")) is None and client.calls == 0
    assert poll.searchable(Run(phase="embedding")) is None  # 100 of 900 published
    now[0] += 5
    assert poll.searchable(Run(phase="embedding")) == status(900, 900)
