"""Python client library and CLI of a ProjectQA server.

Two clients with the same typed methods (one definition each, in the call
mixins :mod:`~projectqa.client.admin`, :mod:`~projectqa.client.ingestion`,
:mod:`~projectqa.client.retrieval`, :mod:`~projectqa.client.toolcalls` and
:mod:`~projectqa.client.chat`):

- :class:`Client`, synchronous: ``client.search("shop", "cart total")`` returns the
  response, ``client.list_projects()`` an iterator over every page,
  ``client.ask(...)`` a :class:`ChatStream`;
- :class:`AsyncClient`, on ``grpc.aio``: ``await client.search(...)``,
  ``async for project in client.list_projects()``, ``async for event in
  client.ask(...)`` (an :class:`AsyncChatStream`).

Failures raise :class:`ClientError` (the gRPC status code and the server's
message). Where the server is and which token to send are resolved as in
:mod:`projectqa.client.connection`; :func:`calls_as` makes the calls of one
task send another caller's token (one channel serving many callers).
:class:`AsyncServerCalls` types AsyncClient's calls as asyncio returns them.
The CLI lives in :mod:`projectqa.client.cli`.
"""

from projectqa.client.async_calls import AsyncServerCalls, async_server_calls
from projectqa.client.calls import AsyncServerStream, ServerStream
from projectqa.client.chat import AsyncChatStream, ChatStream
from projectqa.client.client import DEFAULT_TIMEOUT, AsyncClient, Client, health
from projectqa.client.connection import (
    DEFAULT_ADDRESS,
    admin_token_path,
    calls_as,
    default_data_dir,
    resolve_address,
    resolve_token,
)
from projectqa.client.errors import ClientError
from projectqa.client.ingestion import AsyncIngestionWatch, IngestionWatch

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT",
    "AsyncChatStream",
    "AsyncClient",
    "AsyncIngestionWatch",
    "AsyncServerCalls",
    "AsyncServerStream",
    "ChatStream",
    "Client",
    "ClientError",
    "IngestionWatch",
    "ServerStream",
    "admin_token_path",
    "async_server_calls",
    "calls_as",
    "default_data_dir",
    "health",
    "resolve_address",
    "resolve_token",
]
