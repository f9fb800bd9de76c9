"""A third-party connector that quotes its config in errors and warnings: the run's
records, its events and the server log never show the connector's secrets, in any
of the forms the plugin wrote them (as given, URL-encoded, inside basic auth)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from projectqa.v1 import ingestion_pb2 as pb

from ..service.conftest import server_log  # noqa: F401  (captures the projectqa loggers)
from ..service.helpers import assert_never_logged, assert_not_in_response
from .conftest import QA

pytestmark = pytest.mark.model
TOKEN = "tok-3f9a+b/c=d7e1"  # changes when URL-encoded
PASSWORD = "url p@ss:w0rd!"
URL = f"https://bot:{quote(PASSWORD, safe='')}@git.example.com/team/repo.git"
BASIC = base64.b64encode(f"bot@example.com:{TOKEN}".encode()).decode()
FORMS = (TOKEN, quote(TOKEN), quote(TOKEN, safe=""), PASSWORD, quote(PASSWORD, safe=""), BASIC)


async def leaky_run(qa: QA, project: str, name: str, **script: int) -> list[pb.IngestionEvent]:
    connector = await qa.connector(
        project,
        "scripted",
        name,
        documents=3,
        bad=["mod_0.py"],
        echo_config=True,
        api_token=TOKEN,
        url=URL,
        **script,
    )
    run = await qa.start(project, connector, full=True)
    return await qa.events(run.id)


@pytest.mark.usefixtures("server_log")  # before the server starts: it may stop propagation
@pytest.mark.parametrize("failure", ["fail_after", "crash_after"])
async def test_a_plugins_errors_and_warnings_never_show_its_secrets(
    caplog: pytest.LogCaptureFixture, qa: QA, failure: str
) -> None:
    project = await qa.project("demo")

    events = await leaky_run(qa, project, "leaky", **{failure: 2})

    ended = events[-1].run
    assert ended.status == pb.INGESTION_STATUS_FAILED
    if failure == "fail_after":  # a SourceError's message is the run's error, scrubbed
        assert "scripted failure at document 2 with config" in ended.error
        assert "https://git.example.com/team/repo.git" in ended.error  # shown bare
    [warning] = ended.warnings
    assert warning.document_key == "mod_0.py"
    assert "unreadable (scripted) with config" in warning.message
    got = await qa.ingestion.GetIngestionRun(pb.GetIngestionRunRequest(run_id=ended.id))
    runs = await qa.ingestion.ListIngestionRuns(pb.ListIngestionRunsRequest(project=project))
    for response in (*events, got, runs):
        assert_not_in_response(response, *FORMS)
    assert_never_logged(caplog.records, *FORMS)
