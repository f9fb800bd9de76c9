"""AsyncServerCalls (the asyncio view of AsyncClient that the editor bridge and the MCP
server use) matches the client, so its one cast holds."""

from __future__ import annotations

import inspect
import re

import pytest

from projectqa.client import AsyncClient
from projectqa.client.async_calls import AsyncServerCalls as ServerCalls

CALLS = sorted(
    name
    for name, member in vars(ServerCalls).items()
    if inspect.isfunction(member) and not name.startswith("_")
)


def _async_form(sync_return: str) -> str:
    """What ``await``/``async for`` on AsyncClient's method gives, written as ServerCalls
    writes it: an async def of the same type, an async iterator, or the async stream."""
    if iterated := re.fullmatch(r"Iterator\[(.*)\]", sync_return):
        return f"AsyncIterator[{iterated[1]}]"
    if sync_return.endswith("Stream"):
        return f"Async{sync_return}"
    return sync_return


@pytest.mark.parametrize("name", CALLS)
def test_each_call_has_the_clients_parameters_and_async_return(name: str) -> None:
    declared = inspect.signature(getattr(ServerCalls, name))
    actual = inspect.signature(getattr(AsyncClient, name))
    assert list(declared.parameters.values()) == list(actual.parameters.values())
    expected = _async_form(actual.return_annotation)
    assert declared.return_annotation == expected
    is_awaited = inspect.iscoroutinefunction(getattr(ServerCalls, name))
    assert is_awaited == (expected == actual.return_annotation)


def test_the_bridge_and_the_mcp_server_share_the_view() -> None:
    from projectqa.lsp.server_calls import ServerCalls as BridgeCalls

    assert BridgeCalls is ServerCalls
    bridge = {"whoami", "get_project", "list_projects", "list_connectors", "search_files"}
    mcp = {"search", "grep", "open_file", "find_symbol", "invoke_tool", "list_files_page"}
    assert bridge | mcp | {"ask", "close"} <= set(CALLS)
