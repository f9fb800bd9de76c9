"""How ``projectqa mcp`` fails: an unknown tool is a protocol error (INVALID_PARAMS), a
crash inside a tool is a tool error with a reference (never the SDK's JSON-RPC code 0,
never the exception's text), a resource read fails with a code saying whose fault it is,
and a resource longer than the result bound is cut with a note saying how to read on."""

from __future__ import annotations

import logging
import re

import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from projectqa.mcp import tools
from projectqa.mcp.server import McpSettings, ProjectQAMcp

from .conftest import (
    LARGE_LINES,
    PROJECTQA,
    START_TIMEOUT_S,
    Deployment,
    mcp_env,
    stdio_session,
)
from .test_stdio import text_of

pytestmark = pytest.mark.model


async def test_an_unknown_tool_is_a_protocol_error(deployment: Deployment) -> None:
    async with stdio_session(deployment) as client:
        with pytest.raises(MCPError) as anywhere:
            await client.call_tool("no_such_tool", {})
        with pytest.raises(MCPError) as in_shop:
            await client.call_tool("no_such_tool", {"project": "shop"})
        known = await client.call_tool("grep", {"pattern": "x"})  # still needs a project
    assert anywhere.value.code == in_shop.value.code == INVALID_PARAMS
    assert "unknown tool 'no_such_tool'" in anywhere.value.message
    assert "in project 'shop'" in in_shop.value.message
    assert known.is_error and "'project'" in text_of(known)


async def test_a_crash_in_a_tool_is_a_tool_error_with_a_reference(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In process (the fault is injected into the grep handler), the SDK's own client."""

    async def broken(*args: object) -> tools.Answer:
        raise RuntimeError("secret internals /srv/data")

    monkeypatch.setitem(tools.BUILTIN, "grep", broken)
    mcp = ProjectQAMcp(McpSettings(address=deployment.address, token=deployment.admin_token))
    try:
        async with Client(mcp.server(), read_timeout_seconds=START_TIMEOUT_S) as client:
            with caplog.at_level(logging.ERROR, logger="projectqa.mcp.server"):
                crashed = await client.call_tool("grep", {"project": "shop", "pattern": "x"})
            after = await client.call_tool("find_symbol", {"project": "shop", "name": "Cart"})
    finally:
        await mcp.close()
    assert crashed.is_error
    found = re.fullmatch(r"internal error \(ref ([0-9a-f]{12})\)", text_of(crashed))
    assert found is not None and "secret" not in text_of(crashed)
    [record] = [r for r in caplog.records if found[1] in r.getMessage()]
    assert record.exc_info is not None and "secret internals" in str(record.exc_info[1])
    assert not after.is_error  # the server goes on serving


async def test_a_resource_read_fails_with_whose_fault_it_is(deployment: Deployment) -> None:
    """A server that cannot be reached is the server side's fault: INTERNAL_ERROR, not
    INVALID_PARAMS; a bad URI is the caller's: INVALID_PARAMS."""
    env = {**mcp_env(deployment, deployment.admin_token), "PROJECTQA_ADDRESS": "127.0.0.1:1"}
    params = StdioServerParameters(command=PROJECTQA, args=["mcp"], env=env)
    async with Client(params, read_timeout_seconds=START_TIMEOUT_S) as client:
        with pytest.raises(MCPError) as unreachable:
            await client.read_resource("projectqa://shop/shop/cart.py")
        with pytest.raises(MCPError) as bad_uri:
            await client.read_resource("projectqa://shop/../vault/vault.md")
    assert unreachable.value.code == INTERNAL_ERROR
    assert "UNAVAILABLE" in unreachable.value.message and len(unreachable.value.message) <= 500
    assert bad_uri.value.code == INVALID_PARAMS


async def test_a_long_resource_is_cut_at_the_bound_saying_how_to_read_on(
    deployment: Deployment,
) -> None:
    async with stdio_session(deployment, "-p", "shop", "--max-result-chars", "5000") as client:
        read = await client.read_resource("projectqa://shop/data/large.txt")
        [contents] = read.contents
        text = getattr(contents, "text", "")
        note = re.search(r"\[cut: lines 1-(\d+) of (\d+) returned; .*start_line (\d+)\]$", text)
        assert note is not None, text[-300:]
        last = int(note[1])
        rest = await client.call_tool(
            "open_file", {"path": "data/large.txt", "start_line": int(note[3])}
        )
    assert len(text) <= 5000 + 200
    assert int(note[2]) == LARGE_LINES and int(note[3]) == last + 1
    assert text.splitlines()[last - 1].startswith(f"line {last - 1}: the quick")
    assert text_of(rest).startswith(f"data/large.txt:{last + 1}-")
