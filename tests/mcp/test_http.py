"""``projectqa mcp --http``: Streamable HTTP with the MCP SDK's client, a caller's own
bearer token passed through to gRPC, and the loopback-only default."""

from __future__ import annotations

import httpx
import pytest

from .conftest import (
    VAULT_MARKER,
    Deployment,
    http_server,
    http_session,
)
from .test_stdio import catalog, links_of, text_of

pytestmark = pytest.mark.model


async def test_tools_and_calls_over_http(deployment: Deployment) -> None:
    async with http_server(deployment, "--project", "shop") as url, http_session(url) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        search = await client.call_tool("search", {"query": "refund within 30 days"})
        bad = await client.call_tool("search", {"query": "refund", "mode": "fuzzy"})
        read = await client.read_resource("projectqa://shop/docs/refunds.md")
    assert tools["grep"].input_schema == catalog(deployment, "shop")["grep"]
    assert "run_checks" not in tools
    assert not search.is_error and text_of(search).startswith("1. docs/refunds.md:")
    assert links_of(search)[0] == "projectqa://shop/docs/refunds.md"
    assert bad.is_error and "'mode'" in text_of(bad)
    assert "30 days" in getattr(read.contents[0], "text", "")


async def test_a_callers_token_is_used_instead_of_the_servers(deployment: Deployment) -> None:
    """The MCP server runs with the admin token; a member of shop only sees shop."""
    async with http_server(deployment) as url:
        async with http_session(url, deployment.member_token) as member:
            projects = await member.call_tool("list_projects", {})
            vault = await member.call_tool("grep", {"project": "vault", "pattern": "ZEBRA"})
            shop = await member.call_tool("grep", {"project": "shop", "pattern": "def total"})
        async with http_session(url, "not-a-token") as stranger:
            refused = await stranger.call_tool("list_projects", {})
        async with http_session(url) as anonymous:  # falls back to the server's token
            admin_view = await anonymous.call_tool("list_projects", {})
    assert "shop" in text_of(projects) and "vault" not in text_of(projects)
    assert vault.is_error and VAULT_MARKER not in text_of(vault)
    assert not shop.is_error
    assert refused.is_error and "refused the token" in text_of(refused)
    assert "vault" in text_of(admin_view)


async def test_a_remote_bind_refuses_requests_without_a_token() -> None:
    """With --allow-remote the server's own token never answers the network (checked on
    the app in process: the tests listen on loopback only)."""
    from starlette.responses import PlainTextResponse

    from projectqa.mcp.http import RequireBearer, http_app
    from projectqa.mcp.server import McpSettings, ProjectQAMcp

    mcp = ProjectQAMcp(McpSettings(address="127.0.0.1:1", token="server-token"))
    assert isinstance(http_app(mcp, "0.0.0.0"), RequireBearer)
    assert not isinstance(http_app(mcp, "127.0.0.1"), RequireBearer)
    guarded = RequireBearer(PlainTextResponse("passed"))
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://mcp.example") as http:
        anonymous = await http.post("/mcp", json={})
        basic = await http.post("/mcp", json={}, headers={"Authorization": "Basic eDp5"})
        bearer = await http.post("/mcp", json={}, headers={"Authorization": "Bearer abc"})
    assert anonymous.status_code == basic.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert bearer.status_code == 200 and bearer.text == "passed"
