"""A real ProjectQA server per test on 127.0.0.1:0, and AdminService stubs to call it.

Each test gets a fresh server with its own store, so tests never see each
other's data; every test runs twice, on SQLite and on MongoDB (mongomock).
``connect(token)`` gives a stub whose every call carries
``authorization: Bearer <token>`` (or nothing, for ``connect(None)``).
"""

from __future__ import annotations

import logging
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import mongomock
import mongomock.gridfs
import pytest

from projectqa.server.app import ProjectQAServer, create_server
from projectqa.server.config import Settings
from projectqa.server.store import MongoStore, Store
from projectqa.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from .fake_plugin import PLUGIN_NAME, FakePlugin
from .helpers import Caller, bearer_interceptors


class RunningServer(NamedTuple):
    server: ProjectQAServer
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_token(self) -> str:
        return self.server.settings.admin_token_path.read_text(encoding="utf-8").strip()


@pytest.fixture(params=["sqlite", "mongomock"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every service test runs on both store backends: SQLite and MongoDB (mongomock)."""
    return request.param


def open_backend(backend: str) -> Store | None:
    """The store to serve from; None lets the server open its default (SQLite)."""
    if backend == "mongomock":
        # Index generations are published in GridFS beside a MongoDB store.
        mongomock.gridfs.enable_gridfs_integration()
        client = mongomock.MongoClient()
        # pymongo's GridFSBucket reads client.options.timeout, which mongomock lacks.
        client.options = types.SimpleNamespace(timeout=None)
        return MongoStore(client, "projectqa_service_test")
    return None


@pytest.fixture
async def start_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """Starts servers (``await start_server(max_message_bytes=...)``, also ``plugins=[...]``
    for built-in ones); stops them after the test."""
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    started: list[ProjectQAServer] = []

    async def start(**overrides: Any) -> RunningServer:
        defaults: dict[str, Any] = {
            "data_dir": tmp_path / f"data{len(started)}",
            "listen_address": "127.0.0.1:0",
            "plugins": [],  # only the fake plugin: no built-in contributions to count
        }
        settings = Settings(**(defaults | overrides))
        server, port = await create_server(
            settings,
            extra_plugins=[(PLUGIN_NAME, FakePlugin())],
            store=open_backend(backend),
        )
        started.append(server)
        return RunningServer(server, port)

    yield start
    for server in started:
        await server.stop(0)


@pytest.fixture
async def server(start_server: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    """The test's server: empty store, fake plugin, bootstrap admin token on disk."""
    return await start_server()


@pytest.fixture
async def connect(
    server: RunningServer,
) -> AsyncIterator[Callable[..., admin_pb2_grpc.AdminServiceStub]]:
    """``connect(token, address=None)``: an AdminService stub sending that bearer token."""
    channels: list[grpc.aio.Channel] = []

    def stub(token: str | None, address: str | None = None) -> admin_pb2_grpc.AdminServiceStub:
        interceptors = bearer_interceptors(token) if token is not None else None
        channel = grpc.aio.insecure_channel(address or server.address, interceptors=interceptors)
        channels.append(channel)
        return admin_pb2_grpc.AdminServiceStub(channel)

    yield stub
    for channel in channels:
        await channel.close()


@pytest.fixture
def admin(
    server: RunningServer, connect: Callable[..., admin_pb2_grpc.AdminServiceStub]
) -> admin_pb2_grpc.AdminServiceStub:
    """Stub authenticated with the bootstrap global-admin token from the token file."""
    return connect(server.admin_token)


@pytest.fixture
def new_user(
    admin: admin_pb2_grpc.AdminServiceStub,
    connect: Callable[..., admin_pb2_grpc.AdminServiceStub],
) -> Callable[..., Awaitable[Caller]]:
    """``await new_user("bob", member_of="alpha", role=...)``: a user and a stub acting as them."""

    async def create(
        name: str,
        *,
        global_admin: bool = False,
        member_of: str | None = None,
        role: int = common_pb2.PROJECT_ROLE_MEMBER,
    ) -> Caller:
        created = await admin.CreateUser(
            admin_pb2.CreateUserRequest(name=name, global_admin=global_admin)
        )
        issued = await admin.CreateToken(
            admin_pb2.CreateTokenRequest(user=name, description=f"tests as {name}")
        )
        if member_of is not None:
            await admin.AddMember(
                admin_pb2.AddMemberRequest(project=member_of, user=name, role=role)
            )
        return Caller(created.user, issued.token, issued.secret, connect(issued.secret))

    return create


@pytest.fixture
def new_project(admin: admin_pb2_grpc.AdminServiceStub) -> Callable[..., Awaitable[Any]]:
    """``await new_project("beta")``: a project created by the global admin."""

    async def create(slug: str, name: str = "", description: str = "") -> common_pb2.Project:
        request = admin_pb2.CreateProjectRequest(
            slug=slug, name=name or slug.title(), description=description
        )
        return (await admin.CreateProject(request)).project

    return create


@pytest.fixture
async def project(new_project: Callable[..., Awaitable[Any]]) -> common_pb2.Project:
    """Project ``alpha``."""
    return await new_project("alpha", "Alpha", "The first project")


@pytest.fixture
async def member(project: common_pb2.Project, new_user: Callable[..., Awaitable[Caller]]) -> Caller:
    """``mia``: a plain member of ``alpha``."""
    return await new_user("mia", member_of=project.slug)


@pytest.fixture
async def project_admin(
    project: common_pb2.Project, new_user: Callable[..., Awaitable[Caller]]
) -> Caller:
    """``pat``: holds the admin role in ``alpha`` (but is no global admin)."""
    return await new_user("pat", member_of=project.slug, role=common_pb2.PROJECT_ROLE_ADMIN)


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures every record of the ``projectqa`` loggers, even if they stop propagating."""
    logger = logging.getLogger("projectqa")
    with caplog.at_level(logging.DEBUG, logger="projectqa"):
        attach = not logger.propagate
        if attach:
            logger.addHandler(caplog.handler)
        try:
            yield caplog
        finally:
            if attach:
                logger.removeHandler(caplog.handler)
