"""Issue #13, item 1, end to end: with PROJECTQA_LOCAL_ROOTS=<tmp>/srv and the data directory
at <tmp>/srv/data, nobody gets the global-admin token (``data/admin.token``) through a
connector on <tmp>/srv: not by creating or updating one, and not through one saved before
that was refused (its run refuses, its chunks go, and OpenFile, Grep and Search find
nothing of the data directory).

A real server (SQLite, the real embedding model, the built-in ``local`` connector).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from projectqa.server.app import ProjectQAServer, create_server
from projectqa.server.config import Settings
from projectqa.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    chat_pb2_grpc,
    common_pb2,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
    tools_pb2,
    tools_pb2_grpc,
)

from .helpers import Code, bearer_interceptors, rpc_error
from .retrieval_fixtures import Caller, ingest

pytestmark = pytest.mark.model

PROJECT = "srv"
APP_TEXT = "def checkout_total(basket):\n    return sum(basket)\n"


@dataclasses.dataclass
class Deployment:
    server: ProjectQAServer
    srv: Path
    admin: Caller  # the bootstrap global admin
    project_admin: Caller  # "pat": admin of the project, no global admin
    admin_token: str


@pytest.fixture
async def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Deployment]:
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    srv = tmp_path / "srv"
    (srv / "repos" / "app").mkdir(parents=True)
    (srv / "repos" / "app" / "cart.py").write_text(APP_TEXT)
    settings = Settings(
        data_dir=srv / "data",
        local_roots=[srv],
        listen_address="127.0.0.1:0",
        plugins=["local"],
    )
    server, port = await create_server(settings)
    channels: list[grpc.aio.Channel] = []

    def connect(secret: str) -> Caller:
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=bearer_interceptors(secret)
        )
        channels.append(channel)
        return Caller(
            admin_pb2_grpc.AdminServiceStub(channel),
            ingestion_pb2_grpc.IngestionServiceStub(channel),
            retrieval_pb2_grpc.RetrievalServiceStub(channel),
            tools_pb2_grpc.ToolsServiceStub(channel),
            chat_pb2_grpc.ChatServiceStub(channel),
        )

    try:
        token = settings.admin_token_path.read_text(encoding="utf-8").strip()
        admin = connect(token)
        await admin.admin.CreateProject(admin_pb2.CreateProjectRequest(slug=PROJECT, name="Srv"))
        await admin.admin.CreateUser(admin_pb2.CreateUserRequest(name="pat"))
        issued = await admin.admin.CreateToken(admin_pb2.CreateTokenRequest(user="pat"))
        role = common_pb2.PROJECT_ROLE_ADMIN
        await admin.admin.AddMember(
            admin_pb2.AddMemberRequest(project=PROJECT, user="pat", role=role)
        )
        yield Deployment(server, srv, admin, connect(issued.secret), token)
    finally:
        for channel in channels:
            await channel.close()
        await server.stop(0)


def create_request(name: str, folder: Path) -> admin_pb2.CreateConnectorRequest:
    config = struct_pb2.Struct()
    config.update({"path": str(folder)})
    return admin_pb2.CreateConnectorRequest(project=PROJECT, type="local", name=name, config=config)


async def test_nobody_creates_or_updates_a_connector_holding_the_data_directory(
    deployment: Deployment,
) -> None:
    srv = deployment.srv
    for caller in (deployment.project_admin, deployment.admin):
        for folder, relation in [(srv, "contains"), (srv / "data", "is")]:
            await rpc_error(
                caller.admin.CreateConnector(create_request("all", folder)),
                Code.PERMISSION_DENIED,
                "data directory",
                relation,
            )
    created = await deployment.project_admin.admin.CreateConnector(
        create_request("app", srv / "repos" / "app")
    )
    config = struct_pb2.Struct()
    config.update({"path": str(srv)})
    update = admin_pb2.UpdateConnectorRequest(connector_id=created.connector.id, config=config)
    await rpc_error(
        deployment.project_admin.admin.UpdateConnector(update),
        Code.PERMISSION_DENIED,
        "data directory",
    )


async def test_a_connector_saved_before_the_rule_is_refused_and_forgotten(
    deployment: Deployment,
) -> None:
    srv, admin = deployment.srv, deployment.admin
    app = await admin.admin.CreateConnector(create_request("app", srv / "repos" / "app"))
    kept = await admin.admin.CreateConnector(create_request("kept", srv / "repos"))
    (run_app, run_kept) = await ingest(admin, PROJECT)
    assert run_app.status == run_kept.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED
    assert await keyword_hits(admin, "checkout_total") == {app.connector.id, kept.connector.id}

    # As a server before the fix allowed: the connector now reads all of <tmp>/srv.
    store = deployment.server.store
    saved = store.get_connector(app.connector.id)
    assert saved is not None
    store.update_connector(dataclasses.replace(saved, config={"path": str(srv)}))

    runs = {run.connector_id: run for run in await ingest(admin, PROJECT)}
    refused = runs[app.connector.id]
    assert refused.status == ingestion_pb2.INGESTION_STATUS_FAILED
    assert "data directory" in refused.error and "contains it" in refused.error
    assert runs[kept.connector.id].status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED
    # Its chunks are gone (they could quote the token or the log); the others stay.
    assert await keyword_hits(admin, "checkout_total") == {kept.connector.id}
    assert await keyword_hits(admin, deployment.admin_token) == set()

    open_token = tools_pb2.OpenFileRequest(project=PROJECT, path="data/admin.token")
    await rpc_error(admin.tools.OpenFile(open_token), Code.NOT_FOUND)
    for pattern in (deployment.admin_token, "checkout_total"):
        grep = tools_pb2.GrepRequest(project=PROJECT, pattern=pattern, fixed_strings=True)
        found = await admin.tools.Grep(grep)
        assert {m.connector_id for m in found.matches} <= {kept.connector.id}
        assert all(deployment.admin_token not in m.line.text for m in found.matches)


async def keyword_hits(caller: Caller, text: str) -> set[str]:
    """Ids of the connectors whose chunks a keyword search for ``text`` finds."""
    request = retrieval_pb2.SearchRequest(
        project=PROJECT, query=text, mode=retrieval_pb2.SEARCH_MODE_KEYWORD
    )
    response = await caller.retrieval.Search(request)
    return {hit.citation.connector_id for hit in response.hits}
