"""A signed GitHub push to the server's webhook endpoint starts an incremental run by itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from projectqa.server.webhooks import sign
from projectqa.v1 import ingestion_pb2 as pb

from .conftest import QA, commit, make_repo

pytestmark = pytest.mark.model
SECRET = "It's a Secret to Everybody"


@pytest.fixture
def server_settings() -> dict[str, Any]:
    return {"webhook_address": "127.0.0.1:0"}


@pytest.fixture
def hooked(qa: QA) -> tuple[QA, int]:
    """The admin's stubs and the port of the server's webhook endpoint."""
    return qa, qa.server.ingestion.webhook_port


async def push(port: int, connector: str, delivery: str, secret: str = SECRET) -> tuple[int, dict]:
    body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(secret, body),
    }
    url = f"http://127.0.0.1:{port}/webhooks/github/{connector}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_a_verified_push_runs_once_and_a_replay_does_not(hooked, tmp_path: Path):  # type: ignore[no-untyped-def]
    qa, port = hooked
    repo = make_repo(tmp_path / "repo", {"a.py": "def a():\n    return 1\n"})
    project = await qa.project("hooked")
    connector = await qa.connector(project, "git", "code", url=str(repo), webhook_secret=SECRET)
    assert (await qa.ingest(project)).status == pb.INGESTION_STATUS_SUCCEEDED
    head = commit(repo, {"b.py": "def b():\n    return 2\n"}, "add b")

    status, answer = await push(port, connector, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    run = await qa.finish(answer["run_id"])
    replay_status, replay = await push(port, connector, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    # GitHub does not sign the delivery id: the same signed body with a fresh id is a replay.
    fresh_id_status, fresh_id = await push(port, connector, "a-fresh-delivery-id")
    forged_status, _ = await push(port, connector, "another-delivery", secret="wrong")

    assert status == 202
    assert run.trigger == "webhook" and run.mode == pb.INGESTION_MODE_INCREMENTAL
    assert run.status == pb.INGESTION_STATUS_SUCCEEDED and run.revision == head
    assert run.counts.documents_changed == 2  # b.py and the record of its commit
    assert (replay_status, replay) == (200, {"duplicate": True})
    assert (fresh_id_status, fresh_id) == (200, {"duplicate": True})
    assert forged_status == 401
    listed = await qa.ingestion.ListIngestionRuns(pb.ListIngestionRunsRequest(project=project))
    assert len(listed.runs) == 2  # the manual run and one webhook run
