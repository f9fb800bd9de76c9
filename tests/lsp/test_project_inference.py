"""Project inference against a real server with more projects than the bridge looks at:
connectors are listed a few projects at a time, and a message says when the cap was hit.

``resolve_project`` is called in-process with a real ``AsyncClient``; the only stand-in is
a wrapper that counts the ListConnectors calls in flight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
import pytest_asyncio

from projectqa.client import AsyncClient, ClientError
from projectqa.lsp import workspace
from projectqa.lsp.server_calls import ServerCalls, server_calls
from projectqa.lsp.workspace import ProjectNotResolved, resolve_project
from projectqa.server.app import create_server
from projectqa.server.config import Settings
from projectqa.v1 import admin_pb2
from tests.service.helpers import bearer_interceptors
from tests.service.retrieval_fixtures import _caller

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROJECTS = workspace.MAX_PROJECTS_SCANNED + 1


class CountingCalls:
    """A ServerCalls that counts ListConnectors calls, and the most in flight at once."""

    def __init__(self, inner: ServerCalls, refuse: str = "") -> None:
        self.inner = inner
        self.refuse = refuse  # a project whose ListConnectors fails, as a server may refuse
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_connectors(
        self, project: str, *, page_size: int = 0
    ) -> AsyncIterator[admin_pb2.Connector]:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if project == self.refuse:
                raise ClientError(grpc.StatusCode.UNAVAILABLE, "the store is down")
            async for connector in self.inner.list_connectors(project, page_size=page_size):
                yield connector
        finally:
            self.in_flight -= 1


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def crowded(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, str]]:
    """A server with one project more than the bridge scans; (address, admin token)."""
    base = tmp_path_factory.mktemp("crowded")
    settings = Settings(data_dir=base / "data", listen_address="127.0.0.1:0", plugins=["local"])
    server, port = await create_server(settings)
    token = settings.admin_token_path.read_text(encoding="utf-8").strip()
    address = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(address, interceptors=bearer_interceptors(token))
    try:
        admin = _caller(channel).admin
        for number in range(PROJECTS):
            slug = f"p{number:03d}"
            await admin.CreateProject(admin_pb2.CreateProjectRequest(slug=slug, name=slug))
        yield address, token
    finally:
        await channel.close()
        await server.stop(0)


async def test_inference_lists_connectors_a_few_at_a_time_and_says_when_it_stopped(
    crowded: tuple[str, str], tmp_path: Path
) -> None:
    address, token = crowded
    client = AsyncClient(address, token)
    counting = CountingCalls(server_calls(client))
    try:
        with pytest.raises(ProjectNotResolved) as raised:
            await resolve_project(cast(ServerCalls, counting), None, tmp_path, "the setting")
    finally:
        await client.close()
    assert counting.calls == workspace.MAX_PROJECTS_SCANNED  # the project past the cap: not
    assert 1 < counting.peak <= workspace.CONNECTOR_LISTS_AT_ONCE
    assert str(raised.value) == (
        f"no project among the first {workspace.MAX_PROJECTS_SCANNED} projects indexes "
        f"{tmp_path.resolve()}: set the setting to its id or slug"
    )


async def test_a_refused_connector_list_fails_inference_with_the_servers_error(
    crowded: tuple[str, str], tmp_path: Path
) -> None:
    address, token = crowded
    client = AsyncClient(address, token)
    try:
        tenth = [found async for found in client.list_projects()][9]
        counting = CountingCalls(server_calls(client), refuse=tenth.id)
        with pytest.raises(ClientError) as raised:  # itself, not an ExceptionGroup
            await resolve_project(cast(ServerCalls, counting), None, tmp_path, "the setting")
    finally:
        await client.close()
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert counting.in_flight == 0  # the other calls were cancelled, none left running
