"""The gRPC calls the MCP server makes, with their asyncio types.

:class:`~projectqa.client.AsyncClient` shares its typed methods with the sync client and
carries the sync annotations, so a type checker reads ``await client.grep(...)`` as
awaiting a ``GrepResponse``. The MCP server talks to the client through this protocol
instead: the same parameters, each return type in its asyncio form.
tests/mcp/test_calls.py checks that every method here matches AsyncClient's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from projectqa.client import AsyncClient
from projectqa.client.chat import AsyncChatStream
from projectqa.client.retrieval import SearchModeName
from projectqa.v1 import common_pb2, retrieval_pb2, tools_pb2


class ServerCalls(Protocol):
    def list_projects(self, *, page_size: int = 0) -> AsyncIterator[common_pb2.Project]: ...

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


def open_calls(
    address: str, token: str, *, timeout: float, tls_ca_file: Path | None
) -> ServerCalls:
    """An :class:`AsyncClient` on the running event loop, seen through :class:`ServerCalls`."""
    client = AsyncClient(address, token, timeout=timeout, tls_ca_file=tls_ca_file)
    return cast(ServerCalls, client)
