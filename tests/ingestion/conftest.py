"""A real server with the built-in local/git connectors and the scripted test connector.

Every test runs on SQLite and on MongoDB (mongomock) with the real embedding
model (``model`` tier). ``qa`` bundles admin and ingestion stubs authenticated
as the bootstrap admin, plus helpers to create projects and follow runs.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from projectqa.server.app import ProjectQAServer, create_server
from projectqa.server.config import Settings
from projectqa.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retrieval_pb2_grpc,
)

from ..service.conftest import open_backend
from ..service.helpers import bearer_interceptors
from .scripted_plugin import ScriptedPlugin

pytestmark = pytest.mark.model
TERMINAL = {
    ingestion_pb2.INGESTION_STATUS_SUCCEEDED,
    ingestion_pb2.INGESTION_STATUS_FAILED,
    ingestion_pb2.INGESTION_STATUS_CANCELLED,
}


@dataclass
class QA:
    """Stubs acting as one caller, and the server they talk to."""

    server: ProjectQAServer
    admin: admin_pb2_grpc.AdminServiceStub
    ingestion: ingestion_pb2_grpc.IngestionServiceStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub

    async def project(self, slug: str) -> str:
        request = admin_pb2.CreateProjectRequest(slug=slug, name=slug)
        return (await self.admin.CreateProject(request)).project.id

    async def connector(self, project: str, type_: str, name: str, **config: Any) -> str:
        struct = struct_pb2.Struct()
        struct.update(config)
        request = admin_pb2.CreateConnectorRequest(
            project=project, type=type_, name=name, config=struct
        )
        return (await self.admin.CreateConnector(request)).connector.id

    async def start(
        self, project: str, connector: str = "", full: bool = False
    ) -> ingestion_pb2.IngestionRun:
        mode = (
            ingestion_pb2.INGESTION_MODE_FULL if full else ingestion_pb2.INGESTION_MODE_INCREMENTAL
        )
        request = ingestion_pb2.StartIngestionRequest(
            project=project, connector=connector, mode=mode
        )
        [run] = (await self.ingestion.StartIngestion(request)).runs
        return run

    async def events(
        self, run_id: str, interval: float = 0.05
    ) -> list[ingestion_pb2.IngestionEvent]:
        request = ingestion_pb2.WatchIngestionRequest(run_id=run_id, interval_seconds=interval)
        return [event async for event in self.ingestion.WatchIngestion(request, timeout=120)]

    async def finish(self, run_id: str) -> ingestion_pb2.IngestionRun:
        return (await self.events(run_id))[-1].run

    async def ingest(self, project: str, connector: str = "", full: bool = False):  # type: ignore[no-untyped-def]
        return await self.finish((await self.start(project, connector, full)).id)

    async def wait_for(
        self, run_id: str, check: Callable[[ingestion_pb2.IngestionRun], bool]
    ) -> ingestion_pb2.IngestionRun:
        for _ in range(2400):
            request = ingestion_pb2.GetIngestionRunRequest(run_id=run_id)
            run = (await self.ingestion.GetIngestionRun(request)).run
            if check(run):
                return run
            await asyncio.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached the expected state: {run}")


@pytest.fixture(params=["sqlite", "mongomock"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def start_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> AsyncIterator[Callable[..., Awaitable[tuple[ProjectQAServer, int]]]]:
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    started: list[ProjectQAServer] = []

    async def start(**overrides: Any) -> tuple[ProjectQAServer, int]:
        defaults = {
            "data_dir": tmp_path / f"data{len(started)}",
            "listen_address": "127.0.0.1:0",
            "plugins": ["local", "git"],
        }
        settings = Settings(**(defaults | overrides))
        server, port = await create_server(
            settings, extra_plugins=[("scripted", ScriptedPlugin())], store=open_backend(backend)
        )
        started.append(server)
        return server, port

    yield start
    for server in started:
        await server.stop(0)


@pytest.fixture
def server_settings() -> dict[str, Any]:
    """Settings of the test's server beyond the defaults; a test module may override it."""
    return {}


@pytest.fixture
async def connect(
    start_server: Callable[..., Awaitable[tuple[ProjectQAServer, int]]],
    server_settings: dict[str, Any],
) -> AsyncIterator[Callable[[str | None], QA]]:
    server, port = await start_server(**server_settings)
    channels: list[grpc.aio.Channel] = []

    def as_caller(token: str | None) -> QA:
        interceptors = bearer_interceptors(token) if token is not None else None
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors)
        channels.append(channel)
        return QA(
            server,
            admin_pb2_grpc.AdminServiceStub(channel),
            ingestion_pb2_grpc.IngestionServiceStub(channel),
            retrieval_pb2_grpc.RetrievalServiceStub(channel),
        )

    yield as_caller
    for channel in channels:
        await channel.close()


@pytest.fixture
def qa(connect: Callable[[str | None], QA]) -> QA:
    """Acting as the bootstrap global admin."""
    server = connect(None).server
    return connect(server.settings.admin_token_path.read_text().strip())


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str | bytes]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "Test")
    commit(path, files, "initial")
    return path


def commit(repo: Path, files: dict[str, str | bytes | None], message: str) -> str:
    for name, content in files.items():
        target = repo / name
        if content is None:
            git(repo, "rm", "-q", name)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")
