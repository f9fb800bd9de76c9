"""AdminService.ListPlugins, and connector configs that keep their integers, on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from projectqa.client.admin import connector_config
from projectqa.plugin import Checkpoint, ConnectorType, SourceContext, hookimpl, tool
from projectqa.server.app import ProjectQAServer, create_server
from projectqa.server.config import Settings
from projectqa.v1 import admin_pb2, admin_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc

from .conftest import RunningServer, open_backend
from .fake_plugin import CONNECTOR_TYPE_NAMES, PLUGIN_NAME, TOOL_NAMES, FakePlugin
from .helpers import bearer_interceptors

COUNTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "max_items": {"type": "integer"},
        "ratio": {"type": "number"},
        "limits": {"type": "object", "properties": {"depth": {"type": "integer"}}},
        "sizes": {"type": "array", "items": {"type": "integer"}},
    },
}


class ConfigRecorder:
    """A connector type whose source records the config each run receives."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def open_source(self, context: SourceContext) -> Iterator[Any]:
        self.seen.append(context.config)
        return self

    def items(self) -> Iterator[Any]:
        yield Checkpoint({})

    @hookimpl
    def projectqa_register_connectors(self, register: Callable[[ConnectorType], None]) -> None:
        register(ConnectorType("counted", "Records its config", COUNTED_SCHEMA, self.open_source))


@tool
def halve(number: int) -> float:
    """Half a number."""
    return number / 2


class SignaturePlugin:
    @hookimpl
    def projectqa_register_tools(self, register: Callable[[Any], None]) -> None:
        register(halve)


class RaisingPlugin:
    @hookimpl
    def projectqa_register_tools(self, register: Callable[[Any], None]) -> None:
        raise RuntimeError("plugin bug")


@pytest.fixture
async def plugin_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> AsyncIterator[tuple[RunningServer, ConfigRecorder]]:
    """A server with built-in ``local``, the fake plugin and the plugins above."""
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    recorder = ConfigRecorder()
    settings = Settings(
        data_dir=tmp_path / "data",
        listen_address="127.0.0.1:0",
        plugins=["local"],
        embedded_worker="thread",
    )
    extra = [
        (PLUGIN_NAME, FakePlugin()),
        ("recorder", recorder),
        ("signatures", SignaturePlugin()),
        ("raising", RaisingPlugin()),
    ]
    server: ProjectQAServer
    server, port = await create_server(settings, extra_plugins=extra, store=open_backend(backend))
    try:
        yield RunningServer(server, port), recorder
    finally:
        await server.stop(0)


@pytest.fixture
async def plugin_admin(
    plugin_server: tuple[RunningServer, ConfigRecorder],
    connect: Callable[..., admin_pb2_grpc.AdminServiceStub],
) -> admin_pb2_grpc.AdminServiceStub:
    running, _ = plugin_server
    return connect(running.admin_token, running.address)


async def test_list_plugins_names_each_plugin_and_what_it_registered(plugin_admin) -> None:
    listed = (await plugin_admin.ListPlugins(admin_pb2.ListPluginsRequest())).plugins

    by_name = {p.name: p for p in listed}
    assert [p.name for p in listed] == sorted(by_name)
    local = by_name["local"]
    assert (local.distribution, local.version) == ("projectqa", metadata.version("projectqa"))
    assert local.module == "projectqa.plugins.local"
    assert list(local.connector_types) == ["local"]
    assert list(local.hooks) == ["projectqa_register_connectors"]
    fake = by_name[PLUGIN_NAME]
    assert list(fake.connector_types) == sorted(CONNECTOR_TYPE_NAMES)
    assert list(fake.tools) == sorted(TOOL_NAMES)
    assert fake.distribution == ""  # handed to create_server, not installed
    assert fake.module == "tests.service.fake_plugin"
    assert list(by_name["signatures"].tools) == ["halve"]
    assert not any(p.blocked for p in listed if p.name != "raising")


async def test_a_blocked_plugin_is_listed_with_its_reason(plugin_admin) -> None:
    listed = (await plugin_admin.ListPlugins(admin_pb2.ListPluginsRequest())).plugins

    (raising,) = [p for p in listed if p.name == "raising"]
    assert raising.blocked
    assert "projectqa_register_tools raised RuntimeError('plugin bug')" in raising.blocked_reason
    assert list(raising.hooks) == ["projectqa_register_tools"]
    assert list(raising.tools) == []


async def test_any_authenticated_caller_may_list_plugins(server, new_user) -> None:
    nobody = await new_user("nora")  # no project, no role

    listed = (await nobody.stub.ListPlugins(admin_pb2.ListPluginsRequest())).plugins

    assert [p.name for p in listed] == [PLUGIN_NAME]  # the default test server's one plugin


async def test_integers_in_a_connector_config_stay_integers(plugin_server) -> None:
    running, recorder = plugin_server
    config = struct_pb2.Struct()
    config.update({"max_items": 100, "ratio": 0.5, "limits": {"depth": 3}, "sizes": [1, 2]})
    channel = grpc.aio.insecure_channel(
        running.address, interceptors=bearer_interceptors(running.admin_token)
    )
    async with channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        await admin.CreateProject(admin_pb2.CreateProjectRequest(slug="ints", name="Ints"))
        created = await admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="ints", type="counted", name="c", config=config
            )
        )
        connector_id = created.connector.id
        got = await admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=connector_id))
        await _ingest(ingestion_pb2_grpc.IngestionServiceStub(channel), "ints")

    expected = {"max_items": 100, "ratio": 0.5, "limits": {"depth": 3}, "sizes": [1, 2]}
    for returned in (connector_config(created.connector), connector_config(got.connector)):
        assert returned == expected
        assert type(returned["max_items"]) is int
        assert type(returned["limits"]["depth"]) is int
    (seen,) = recorder.seen  # what the connector's source was opened with
    assert seen == expected
    assert type(seen["max_items"]) is int
    assert [type(size) for size in seen["sizes"]] == [int, int]


async def _ingest(ingestion: ingestion_pb2_grpc.IngestionServiceStub, project: str) -> None:
    request = ingestion_pb2.StartIngestionRequest(
        project=project, mode=ingestion_pb2.INGESTION_MODE_FULL
    )
    [run] = (await ingestion.StartIngestion(request)).runs
    done = {
        ingestion_pb2.INGESTION_STATUS_SUCCEEDED,
        ingestion_pb2.INGESTION_STATUS_FAILED,
        ingestion_pb2.INGESTION_STATUS_CANCELLED,
    }
    for _ in range(2400):  # bounded: the run has one checkpoint and no documents
        current = await ingestion.GetIngestionRun(
            ingestion_pb2.GetIngestionRunRequest(run_id=run.id)
        )
        if current.run.status in done:
            assert current.run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, current.run
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run.id} did not finish")
