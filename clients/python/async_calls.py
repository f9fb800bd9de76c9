"""The calls asyncio callers make on :class:`~projectqa.client.AsyncClient`, typed as
they behave there.

:class:`~projectqa.client.AsyncClient` shares one set of typed methods with the sync
client, annotated with the sync types (one method body serves both clients), so a type
checker reads ``await client.grep(...)`` as awaiting a ``GrepResponse``.
:class:`AsyncServerCalls` declares the same methods with each return type in its asyncio
form (an awaitable of the same type, an async iterator, an async stream); the editor
bridge (``projectqa-lsp``) and the MCP server (``projectqa mcp``) talk to the client
through it. tests/client/test_async_calls.py checks that every method here matches
AsyncClient's, so the one cast in :func:`async_server_calls` holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol, cast

from projectqa.client.chat import AsyncChatStream
from projectqa.client.client import AsyncClient
from projectqa.client.retrieval import SearchModeName
from projectqa.v1 import admin_pb2, common_pb2, retrieval_pb2, tools_pb2


class AsyncServerCalls(Protocol):
    """:class:`~projectqa.client.AsyncClient`'s calls, as asyncio returns them."""

    async def health(self, service: str = "") -> str: ...

    async def whoami(self) -> admin_pb2.WhoAmIResponse: ...

    async def get_project(self, project: str) -> common_pb2.Project: ...

    def list_projects(self, *, page_size: int = 0) -> AsyncIterator[common_pb2.Project]: ...

    def list_connectors(
        self, project: str, *, page_size: int = 0
    ) -> AsyncIterator[admin_pb2.Connector]: ...

    async def list_tools(self, project: str) -> list[tools_pb2.Tool]: ...

    async def invoke_tool(
        self, project: str, tool: str, arguments: Mapping[str, Any] | None = None
    ) -> tools_pb2.InvokeToolResponse: ...

    async def search(
        self,
        project: str,
        query: str,
        *,
        mode: SearchModeName | int = "hybrid",
        top_k: int = 0,
        kinds: Iterable[str] = (),
        connectors: Iterable[str] = (),
        path_globs: Iterable[str] = (),
        languages: Iterable[str] = (),
        max_per_document: int = 0,
    ) -> retrieval_pb2.SearchResponse: ...

    async def search_files(
        self,
        project: str,
        query: str,
        *,
        mode: SearchModeName | int = "hybrid",
        top_k: int = 0,
        kinds: Iterable[str] = (),
        connectors: Iterable[str] = (),
        path_globs: Iterable[str] = (),
        languages: Iterable[str] = (),
        citations_per_file: int = 0,
    ) -> retrieval_pb2.SearchResponse: ...

    async def keyword_search(
        self,
        project: str,
        query: str,
        *,
        top_k: int = 0,
        kinds: Iterable[str] = (),
        connectors: Iterable[str] = (),
        path_globs: Iterable[str] = (),
        languages: Iterable[str] = (),
    ) -> list[retrieval_pb2.SearchHit]: ...

    async def index_status(self, project: str) -> retrieval_pb2.IndexStatus: ...

    async def grep(
        self,
        project: str,
        pattern: str,
        *,
        fixed_strings: bool = False,
        ignore_case: bool = False,
        path_globs: Iterable[str] = (),
        context_lines: int = 0,
        max_matches: int = 0,
        connector: str = "",
    ) -> tools_pb2.GrepResponse: ...

    async def open_file(
        self,
        project: str,
        path: str,
        start_line: int = 0,
        end_line: int = 0,
        connector: str = "",
    ) -> tools_pb2.OpenFileResponse: ...

    async def find_symbol(
        self,
        project: str,
        name: str,
        *,
        exact: bool = False,
        kinds: Iterable[str] = (),
        limit: int = 0,
    ) -> list[tools_pb2.SymbolMatch]: ...

    async def project_metadata(self, project: str) -> tools_pb2.GetProjectMetadataResponse: ...

    async def list_files_page(
        self, project: str, prefix: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> tools_pb2.ListFilesResponse: ...

    def ask(
        self,
        project: str,
        question: str,
        llm_profile_id: str = "",
        extractive: bool = False,
        *,
        timeout: float | None = None,
    ) -> AsyncChatStream: ...

    async def close(self) -> None: ...


def async_server_calls(client: AsyncClient) -> AsyncServerCalls:
    """``client`` as asyncio callers call it (see the module docstring for why a cast)."""
    return cast(AsyncServerCalls, client)
