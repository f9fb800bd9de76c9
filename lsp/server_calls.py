"""The server calls the bridge makes, with their asyncio types.

:class:`~projectqa.client.AsyncClient` shares one set of typed methods with the sync
client, annotated with the sync types (one method body serves both clients), so a type
checker reads ``await client.get_project(...)`` as awaiting a ``Project``. The bridge
talks to the client through this protocol instead: the same parameters, and each
return type in its asyncio form. tests/lsp/test_server_calls.py checks that every
method here matches AsyncClient's, so the one cast in :func:`server_calls` holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol, cast

from projectqa.client import AsyncClient
from projectqa.client.chat import AsyncChatStream
from projectqa.client.retrieval import SearchModeName
from projectqa.v1 import admin_pb2, common_pb2, retrieval_pb2, tools_pb2


class ServerCalls(Protocol):
    async def health(self, service: str = "") -> str: ...

    async def whoami(self) -> admin_pb2.WhoAmIResponse: ...

    async def get_project(self, project: str) -> common_pb2.Project: ...

    def list_projects(self, *, page_size: int = 0) -> AsyncIterator[common_pb2.Project]: ...

    def list_connectors(
        self, project: str, *, page_size: int = 0
    ) -> AsyncIterator[admin_pb2.Connector]: ...

    async def find_symbol(
        self,
        project: str,
        name: str,
        *,
        exact: bool = False,
        kinds: Iterable[str] = (),
        limit: int = 0,
    ) -> list[tools_pb2.SymbolMatch]: ...

    async def open_file(
        self,
        project: str,
        path: str,
        start_line: int = 0,
        end_line: int = 0,
        connector: str = "",
    ) -> tools_pb2.OpenFileResponse: ...

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

    async def index_status(self, project: str) -> retrieval_pb2.IndexStatus: ...

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


def server_calls(client: AsyncClient) -> ServerCalls:
    """``client`` as the bridge calls it (see the module docstring for why a cast)."""
    return cast(ServerCalls, client)
