"""AdminService.ListPlugins, and connector configs that keep their integers, on a real server."""

from __future__ import annotations

import asyncio
import sys
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
from projectqa.v1 import admin_pb2, admin_pb2_grpc, common_pb2, ingestion_pb2, ingestion_pb2_grpc

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


@tool
def double(number: int) -> int:
    """Twice a number."""
    return number * 2


def fraction(text: str) -> str:
    """A tool whose annotation JSON cannot carry: refused alone."""
    return text


fraction.__annotations__["text"] = complex  # no JSON form


class HalfBadPlugin:
    """One tool the catalog takes, one it refuses: the plugin stays loaded."""

    @hookimpl
    def projectqa_register_tools(self, register: Callable[[Any], None]) -> None:
        register(double)
        register(fraction)


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
        ("halfbad", HalfBadPlugin()),
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
    # Installed entry points PROJECTQA_PLUGINS leaves out are listed too, as not loaded.
    left_out = {ep.name for ep in metadata.entry_points(group="projectqa")} - {"local"}
    assert "git" in left_out
    assert {p.name for p in listed if p.blocked_reason == "not in PROJECTQA_PLUGINS"} == left_out
    assert {p.name for p in listed if p.blocked} == left_out | {"raising"}
    assert not any(by_name[name].tools or by_name[name].connector_types for name in left_out)


async def test_a_blocked_plugin_is_listed_with_its_reason(plugin_admin) -> None:
    listed = (await plugin_admin.ListPlugins(admin_pb2.ListPluginsRequest())).plugins

    (raising,) = [p for p in listed if p.name == "raising"]
    assert raising.blocked
    assert "projectqa_register_tools raised RuntimeError('plugin bug')" in raising.blocked_reason
    assert list(raising.hooks) == ["projectqa_register_tools"]
    assert list(raising.tools) == []


async def test_a_refused_contribution_is_listed_on_its_plugin(plugin_admin) -> None:
    listed = (await plugin_admin.ListPlugins(admin_pb2.ListPluginsRequest())).plugins

    (halfbad,) = [p for p in listed if p.name == "halfbad"]
    assert not halfbad.blocked and list(halfbad.tools) == ["double"]  # the other is in use
    (problem,) = halfbad.problems
    assert "fraction" in problem and "text" in problem
    assert all(not p.problems for p in listed if p.name != "halfbad")


async def test_any_authenticated_caller_may_list_plugins(server, new_user) -> None:
    nobody = await new_user("nora")  # no project, no role

    listed = (await nobody.stub.ListPlugins(admin_pb2.ListPluginsRequest())).plugins

    loaded = [p.name for p in listed if not p.blocked]
    assert loaded == [PLUGIN_NAME]  # the default test server's one plugin (PROJECTQA_PLUGINS=)
    assert {p.blocked_reason for p in listed if p.blocked} == {"not in PROJECTQA_PLUGINS"}


LEAKY_MODULES = {
    # pluggy names a module plugin with its file: <module 'x' from '/.../x.py'>
    "pqa_svc_regster": "from projectqa.plugin import hookimpl\n\n"
    "@hookimpl\ndef projectqa_regster_tools(register):\n    pass\n",
    # a SyntaxError's repr holds the file's path
    "pqa_svc_badsyntax": "def projectqa_register_tools(register:\n",
}


@pytest.fixture
def leaky_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution of two plugins whose failures name their files."""
    site = tmp_path / "site"
    info = site / "pqa_svc_leaky-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pqa-svc-leaky\nVersion: 0.1\n")
    lines = ["[projectqa]"] + [f"{m.removeprefix('pqa_svc_')} = {m}" for m in LEAKY_MODULES]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in LEAKY_MODULES.items():
        (site / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(site))
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    yield site
    for module in LEAKY_MODULES:
        sys.modules.pop(module, None)


async def test_only_global_admins_see_server_paths_in_reasons(
    leaky_site: Path, tmp_path: Path, backend: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", listen_address="127.0.0.1:0", plugins=["regster", "badsyntax"]
    )
    server, port = await create_server(settings, store=open_backend(backend))
    address = f"127.0.0.1:{port}"
    try:
        admin_token = settings.admin_token_path.read_text(encoding="utf-8").strip()
        async with grpc.aio.insecure_channel(
            address, interceptors=bearer_interceptors(admin_token)
        ) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            as_admin = await admin.ListPlugins(admin_pb2.ListPluginsRequest())
            member_token = await _member_token(admin)
        async with grpc.aio.insecure_channel(
            address, interceptors=bearer_interceptors(member_token)
        ) as channel:
            member = admin_pb2_grpc.AdminServiceStub(channel)
            as_member = await member.ListPlugins(admin_pb2.ListPluginsRequest())
    finally:
        await server.stop(0)

    full = {p.name: p.blocked_reason for p in as_admin.plugins}
    public = {p.name: p.blocked_reason for p in as_member.plugins}
    assert f"<module 'pqa_svc_regster' from '{leaky_site}" in full["regster"]
    assert "projectqa_regster_tools" in full["regster"]
    assert full["badsyntax"].startswith("failed to load: SyntaxError(")
    assert str(leaky_site) in full["badsyntax"]
    assert str(tmp_path) not in str(as_member)  # no field of any plugin names a server path
    assert "projectqa_regster_tools" in public["regster"]
    assert "<module 'pqa_svc_regster'>" in public["regster"]
    assert public["badsyntax"].startswith("failed to load: SyntaxError: ")
    assert "pqa_svc_badsyntax.py" in public["badsyntax"]  # the file's name only
    assert [p.name for p in as_member.plugins] == [p.name for p in as_admin.plugins]


async def _member_token(admin: admin_pb2_grpc.AdminServiceStub) -> str:
    """A token of a plain member of one project (no global admin)."""
    await admin.CreateProject(admin_pb2.CreateProjectRequest(slug="alpha", name="Alpha"))
    await admin.CreateUser(admin_pb2.CreateUserRequest(name="mia"))
    await admin.AddMember(
        admin_pb2.AddMemberRequest(project="alpha", user="mia", role=common_pb2.PROJECT_ROLE_MEMBER)
    )
    issued = await admin.CreateToken(admin_pb2.CreateTokenRequest(user="mia"))
    return str(issued.secret)


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
