"""``projectqa mcp --http``: Streamable HTTP with the MCP SDK's client, a caller's own
bearer token passed through to gRPC (required unless anonymous requests are explicitly
given a token), Host/Origin checks on every loopback bind, and the loopback-only default."""

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
    async with (
        http_server(deployment, "--project", "shop") as url,
        http_session(url, deployment.admin_token) as client,
    ):
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
    """The MCP server is started with the admin token; a member of shop only sees shop."""
    async with http_server(deployment) as url:
        async with http_session(url, deployment.member_token) as member:
            projects = await member.call_tool("list_projects", {})
            vault = await member.call_tool("grep", {"project": "vault", "pattern": "ZEBRA"})
            shop = await member.call_tool("grep", {"project": "shop", "pattern": "def total"})
        async with http_session(url, "not-a-token") as stranger:
            refused = await stranger.call_tool("list_projects", {})
    assert "shop" in text_of(projects) and "vault" not in text_of(projects)
    assert vault.is_error and VAULT_MARKER not in text_of(vault)
    assert not shop.is_error
    assert refused.is_error and "refused the token" in text_of(refused)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def _post(url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=INITIALIZE, headers={**ACCEPT, **headers})


async def test_a_request_without_a_bearer_token_is_refused_by_default(
    deployment: Deployment,
) -> None:
    """Started with the admin token in PROJECTQA_TOKEN (and an admin.token file on the
    machine), it still serves nobody without a token: anyone reaching the port would
    otherwise act as the admin."""
    async with http_server(deployment) as url:
        anonymous = await _post(url)
        bearer = await _post(url, Authorization=f"Bearer {deployment.member_token}")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert bearer.status_code == 200


async def test_anonymous_requests_get_the_explicit_token_only_with_the_flag(
    deployment: Deployment,
) -> None:
    async with http_server(
        deployment, "--default-token-for-anonymous", token=deployment.member_token
    ) as url:
        async with http_session(url) as anonymous:
            projects = await anonymous.call_tool("list_projects", {})
        async with http_session(url, deployment.admin_token) as admin:
            everything = await admin.call_tool("list_projects", {})
    assert "shop" in text_of(projects) and "vault" not in text_of(projects)
    assert "vault" in text_of(everything)


@pytest.mark.parametrize("bind", ["127.0.0.2:0", "127.0.0.1:0", "localhost:0"])
async def test_every_loopback_bind_checks_host_and_origin(
    deployment: Deployment, bind: str
) -> None:
    """DNS rebinding: a page of evil.example, its name rebound to this address, sends
    Host: evil.example. The SDK checks on its own only for 127.0.0.1/localhost/::1."""
    bearer = f"Bearer {deployment.admin_token}"
    async with http_server(deployment, bind=bind) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        host = bind.rsplit(":", 1)[0]
        rebound = await _post(url, Host="evil.example", Authorization=bearer)
        rebound_port = await _post(url, Host=f"evil.example:{port}", Authorization=bearer)
        foreign = await _post(url, Origin="http://evil.example", Authorization=bearer)
        own = await _post(url, Host=f"{host}:{port}", Authorization=bearer)
        local = await _post(url, Host=f"localhost:{port}", Origin=f"http://localhost:{port}",
                            Authorization=bearer)  # fmt: skip
    assert rebound.status_code == rebound_port.status_code == 421
    assert foreign.status_code == 403
    assert own.status_code == local.status_code == 200


async def test_an_allowed_host_is_accepted_besides_the_bound_one(deployment: Deployment) -> None:
    bearer = f"Bearer {deployment.admin_token}"
    async with http_server(deployment, "--allowed-host", "mcp.example") as url:
        proxied = await _post(url, Host="mcp.example", Origin="https://mcp.example",
                              Authorization=bearer)  # fmt: skip
        other = await _post(url, Host="other.example", Authorization=bearer)
    assert proxied.status_code == 200
    assert other.status_code == 421


def test_a_remote_bind_checks_only_the_hosts_it_is_given() -> None:
    from projectqa.mcp.http import transport_security

    assert transport_security("0.0.0.0", 8765) is None  # bearer tokens still required
    named = transport_security("0.0.0.0", 8765, ["mcp.example", "proxy.example:8443"])
    assert named is not None and named.enable_dns_rebinding_protection
    assert named.allowed_hosts == ["mcp.example", "mcp.example:*", "proxy.example:8443"]
    assert "https://proxy.example:8443" in named.allowed_origins
    ipv6 = transport_security("::1", 9000)
    assert ipv6 is not None and ipv6.allowed_hosts == ["[::1]:9000", "localhost:9000"]


async def test_without_a_default_token_every_bind_refuses_anonymous_requests() -> None:
    """Checked on the app in process for a remote bind (the tests listen on loopback)."""
    from starlette.responses import PlainTextResponse

    from projectqa.mcp.http import RequireBearer, http_app
    from projectqa.mcp.server import McpSettings, ProjectQAMcp

    closed = ProjectQAMcp(McpSettings(address="127.0.0.1:1", token=None))
    open_ = ProjectQAMcp(McpSettings(address="127.0.0.1:1", token="explicit"))
    assert isinstance(http_app(closed, "0.0.0.0", 8765), RequireBearer)
    assert isinstance(http_app(closed, "127.0.0.1", 8765), RequireBearer)
    assert not isinstance(http_app(open_, "127.0.0.1", 8765), RequireBearer)
    guarded = RequireBearer(PlainTextResponse("passed"))
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://mcp.example") as http:
        anonymous = await http.post("/mcp", json={})
        basic = await http.post("/mcp", json={}, headers={"Authorization": "Basic eDp5"})
        bearer = await http.post("/mcp", json={}, headers={"Authorization": "Bearer abc"})
    assert anonymous.status_code == basic.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert bearer.status_code == 200 and bearer.text == "passed"
