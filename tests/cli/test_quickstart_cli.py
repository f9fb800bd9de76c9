"""``projectqa quickstart`` answers as soon as keyword search is ready, while its run goes on.

A real server ingests a git repository through quickstart; a chunk without a vector is
then published (a generation that is still being embedded). A second server on the same
data directory has no ingestion worker, so quickstart's next run stays queued for as
long as the test wants: quickstart must answer from the served generation at once, say
that the dense index is still filling in, and only then follow the run (which the test
cancels once quickstart has read the index status).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projectqa.client import Client
from projectqa.client.ingestion import is_active
from projectqa.server.services import tools as tools_service
from tests.e2e.test_serve import git_repository

from .conftest import Cli, running_server
from .test_index_status_cli import write_unembedded_chunk

pytestmark = pytest.mark.model

QUESTION = "How is a widget made?"
STATUS_READ_TIMEOUT_S = 300.0  # a bound for a stuck test, not a measurement


@pytest.fixture
def status_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Set once a client has read an index status from a server of this process (the
    real servicer still answers)."""
    read = threading.Event()
    real = tools_service.ToolsServicer.GetIndexStatus

    async def spy(self: Any, request: Any, context: Any) -> Any:
        try:
            return await real(self, request, context)
        finally:
            read.set()

    monkeypatch.setattr(tools_service.ToolsServicer, "GetIndexStatus", spy)
    yield read


def cancel_once_read(address: str, token: str, read: threading.Event) -> threading.Thread:
    """Cancels the project's active run once quickstart has read the index status."""

    def cancel() -> None:
        if not read.wait(STATUS_READ_TIMEOUT_S):
            return
        with Client(address, token) as client:
            for run in client.list_ingestion_runs("demo"):
                if is_active(run):
                    client.cancel_ingestion(run.id)

    thread = threading.Thread(target=cancel, name="cancel-quickstart-run", daemon=True)
    thread.start()
    return thread


def test_quickstart_answers_from_a_partial_index_before_following_the_run(
    tmp_path: Path, status_read: threading.Event
) -> None:
    repo = git_repository(tmp_path / "widgets")
    data = tmp_path / "data"
    with running_server(data, plugins=["git"]) as first:
        cli = Cli(first.address, first.admin_token)
        cli.ok("quickstart", "--repo", str(repo), "--question", QUESTION)
        status = write_unembedded_chunk(first, "demo")
    assert status.chunks_embedded < status.chunks_indexed
    status_read.clear()
    with running_server(data, plugins=["git"], embedded_worker="off") as second:
        canceller = cancel_once_read(second.address, second.admin_token, status_read)
        cli = Cli(second.address, second.admin_token)
        result = cli("quickstart", "--repo", str(repo), "--question", QUESTION)
        canceller.join(timeout=60)
    out = result.stdout
    assert result.exit_code == 1, out  # the run was cancelled: quickstart says so and fails
    ready = out.index("Keyword search is ready (")
    assert f"{status.chunks_embedded:,} embedded so far" in out
    asked = out.index(f"Asking 'demo': {QUESTION}", ready)
    assert "return 'w' * size" in out[asked:]  # answered from the served generation
    noted = out.index("dense index ", asked)  # and said it may improve
    assert "results may improve" in out[noted:]
    assert noted < out.index("Following the rest of run ", noted)
    assert "Asking again" not in out  # the run did not succeed: nothing new to ask
