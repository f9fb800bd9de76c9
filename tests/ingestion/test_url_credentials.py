"""A git connector whose URL holds a user and password, end to end: the run logs in with
them, and neither the connector, its runs nor the server log ever shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.v1 import admin_pb2
from projectqa.v1 import ingestion_pb2 as pb

from ..connectors.fakes import FakeGitHost
from ..service.conftest import server_log  # noqa: F401  (captures the projectqa loggers)
from ..service.helpers import assert_never_logged, assert_not_in_response
from .conftest import QA, make_repo

pytestmark = pytest.mark.model
PASSWORD = "git-url-pa55word-0e4b"


@pytest.mark.usefixtures("server_log")  # before the server starts: it may stop propagation
async def test_a_git_run_logs_in_with_the_url_credentials_and_never_shows_them(
    caplog: pytest.LogCaptureFixture, qa: QA, tmp_path: Path
) -> None:
    make_repo(tmp_path / "repos" / "code", {"app.py": "def main():\n    return 1\n"})
    project = await qa.project("demo")
    with FakeGitHost(tmp_path / "repos", "alice", PASSWORD) as host:
        good = await qa.connector(
            project, "git", "good", url=host.url("code", f"alice:{PASSWORD}@")
        )
        wrong = host.url("code", f"alice:not-{PASSWORD}@")
        bad = await qa.connector(project, "git", "bad", url=wrong)

        succeeded = await qa.ingest(project, good, full=True)
        failed = await qa.ingest(project, bad, full=True)

    assert succeeded.status == pb.INGESTION_STATUS_SUCCEEDED, succeeded.error
    assert host.expected in host.seen_auth
    assert failed.status == pb.INGESTION_STATUS_FAILED
    assert "authentication failed" in failed.error and host.url("code") in failed.error
    runs = await qa.ingestion.ListIngestionRuns(pb.ListIngestionRunsRequest(project=project))
    connectors = await qa.admin.ListConnectors(admin_pb2.ListConnectorsRequest(project=project))
    for response in (succeeded, failed, runs, connectors):
        assert_not_in_response(response, PASSWORD)
    assert [list(c.secret_fields_set) for c in connectors.connectors] == [["url"], ["url"]]
    assert_never_logged(caplog.records, PASSWORD)
