"""The server calls the bridge makes, with their asyncio types: the client package's
:class:`~projectqa.client.AsyncServerCalls` (shared with the MCP server), under the
names the bridge uses."""

from __future__ import annotations

from projectqa.client.async_calls import AsyncServerCalls as ServerCalls
from projectqa.client.async_calls import async_server_calls as server_calls

__all__ = ["ServerCalls", "server_calls"]
