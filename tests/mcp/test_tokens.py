"""One gRPC channel for the whole MCP server, each request's calls sending its caller's
token (projectqa.client.calls_as): no channel per token, and no caller sees another's
access, also when they call at the same time. Real server, real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from projectqa.client import AsyncClient, async_server_calls, calls_as
from projectqa.mcp import server as mcp_server
from projectqa.mcp.http import serve_http
from projectqa.mcp.server import McpSettings

from .conftest import START_TIMEOUT_S, Deployment, http_session
from .test_stdio import text_of

pytestmark = pytest.mark.model
JUNK_TOKENS = 40


@asynccontextmanager
async def in_process_http(settings: McpSettings) -> AsyncIterator[str]:
    """``serve_http`` on 127.0.0.1:0 in this process (so its clients can be counted)."""
    announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(
        serve_http(settings, "127.0.0.1", 0, announce=lambda line: announced.set_result(line))
    )
    try:
        line = await asyncio.wait_for(announced, START_TIMEOUT_S)
        yield line.rsplit(" ", 1)[1]
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)


async def test_one_channel_serves_every_caller_with_their_own_access(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    opened: list[AsyncClient] = []

    class CountedClient(AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(mcp_server, "AsyncClient", CountedClient)
    settings = McpSettings(address=deployment.address, token=None)

    async def views(url: str, token: str, times: int) -> list[str]:
        async with http_session(url, token) as client:
            return [text_of(await client.call_tool("list_projects", {})) for _ in range(times)]

    async with in_process_http(settings) as url:
        with caplog.at_level(logging.WARNING, logger="projectqa.mcp"):
            junk = [(await views(url, f"junk-token-{n}", 1))[0] for n in range(JUNK_TOKENS)]
        warned = [r for r in caplog.records if r.name.startswith("projectqa.mcp")]
        admin, member, admin_again, member_again = await asyncio.gather(
            views(url, deployment.admin_token, 6),
            views(url, deployment.member_token, 6),
            views(url, deployment.admin_token, 6),
            views(url, deployment.member_token, 6),
        )
    assert len(opened) == 1  # not one per token (the old cache held up to 64)
    assert all("refused the token" in text for text in junk)
    assert not warned  # refused tokens do not flood the MCP server's log
    for text in [*admin, *admin_again]:
        assert "shop" in text and "vault" in text
    for text in [*member, *member_again]:
        assert "shop" in text and "vault" not in text


async def test_calls_as_sends_the_callers_token_on_a_shared_client(
    deployment: Deployment,
) -> None:
    """The library hook itself: a client opened with the admin's token calls as the member
    inside calls_as, in concurrent tasks, and as itself outside."""
    async with AsyncClient(deployment.address, deployment.admin_token) as client:
        calls = async_server_calls(client)

        async def whoami_as(token: str) -> str:
            with calls_as(token):
                await asyncio.sleep(0)  # let the other task set its own token meanwhile
                return (await calls.whoami()).user.name

        member, admin = await asyncio.gather(
            whoami_as(deployment.member_token), whoami_as(deployment.admin_token)
        )
        itself = (await calls.whoami()).user.name
    assert member == "mia"
    assert admin == itself != "mia"


def test_calls_as_refuses_an_empty_token() -> None:
    with pytest.raises(ValueError, match="token"), calls_as(""):
        pass
