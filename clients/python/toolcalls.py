"""Typed calls of the ToolsService, shared by :class:`~projectqa.client.Client` and
:class:`~projectqa.client.AsyncClient` (where every call is awaited).

The built-in tools have typed calls (``grep``, ``open_file``,
``keyword_search``, ``find_symbol``, ``project_metadata``, ``index_status``,
``list_files``);
every tool of the catalog, script and plugin tools included, is reachable by
name through ``invoke_tool`` with JSON-like arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

from projectqa.client.calls import StubCalls
from projectqa.client.retrieval import search_filter
from projectqa.v1 import retrieval_pb2, tools_pb2, tools_pb2_grpc


def _whole_numbers(value: Any) -> Any:
    # google.protobuf.Value holds every number as a double: give line numbers
    # and counts back their integer form.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


def tool_result(response: tools_pb2.InvokeToolResponse) -> Any:
    """The ``result`` of an InvokeTool response as plain Python (dict, list, str, …).

    Integral numbers come back as ``int`` (the wire form has only doubles).
    """
    if not response.HasField("result"):
        return None
    return _whole_numbers(json_format.MessageToDict(response.result))


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


class ToolCalls(StubCalls):
    """ToolsService calls; mixed into a client with ``tools`` and the call primitives."""

    tools: tools_pb2_grpc.ToolsServiceStub

    def list_tools(self, project: str) -> list[tools_pb2.Tool]:
        """The tools callable in ``project``: built-ins, enabled plugin and script tools."""
        request = tools_pb2.ListToolsRequest(project=project)
        return self._call(self.tools.ListTools, request, lambda r: list(r.tools))

    def invoke_tool(
        self, project: str, tool: str, arguments: Mapping[str, Any] | None = None
    ) -> tools_pb2.InvokeToolResponse:
        """Runs ``tool`` with ``arguments`` (checked against its JSON Schema by the server).

        A tool that fails answers normally with ``is_error`` and ``error`` set;
        :func:`tool_result` turns ``result`` into plain Python.
        """
        request = tools_pb2.InvokeToolRequest(
            project=project, tool=tool, arguments=_struct(arguments or {})
        )
        return self._call(self.tools.InvokeTool, request)

    def grep(
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
    ) -> tools_pb2.GrepResponse:
        """Searches the project's checkouts with ripgrep.

        :param pattern: a Rust regex, or a literal with ``fixed_strings``.
        :param path_globs: gitignore-style globs restricting the files; "!" excludes.
        :param context_lines: lines before and after each match, 0-10.
        :param max_matches: 1-1000; 0 means 100. ``truncated`` says when it was hit.
        :param connector: only this connector's checkout (id or name).
        """
        request = tools_pb2.GrepRequest(
            project=project,
            pattern=pattern,
            fixed_strings=fixed_strings,
            ignore_case=ignore_case,
            path_globs=list(path_globs),
            context_lines=context_lines,
            max_matches=max_matches,
            connector=connector,
        )
        return self._call(self.tools.Grep, request)

    def open_file(
        self, project: str, path: str, start_line: int = 0, end_line: int = 0, connector: str = ""
    ) -> tools_pb2.OpenFileResponse:
        """Lines ``start_line``-``end_line`` (1-based, inclusive; 0 means the edge) of ``path``."""
        request = tools_pb2.OpenFileRequest(
            project=project,
            path=path,
            start_line=start_line,
            end_line=end_line,
            connector=connector,
        )
        return self._call(self.tools.OpenFile, request)

    def keyword_search(
        self,
        project: str,
        query: str,
        *,
        top_k: int = 0,
        kinds: Iterable[str] = (),
        connectors: Iterable[str] = (),
        path_globs: Iterable[str] = (),
        languages: Iterable[str] = (),
    ) -> list[retrieval_pb2.SearchHit]:
        """Hits of the keyword (BM25) index alone, best first; ``top_k`` 0 means 10."""
        request = tools_pb2.KeywordSearchRequest(
            project=project,
            query=query,
            top_k=top_k,
            filter=search_filter(
                kinds=kinds, connectors=connectors, path_globs=path_globs, languages=languages
            ),
        )
        return self._call(self.tools.KeywordSearch, request, lambda r: list(r.hits))

    def find_symbol(
        self,
        project: str,
        name: str,
        *,
        exact: bool = False,
        kinds: Iterable[str] = (),
        limit: int = 0,
    ) -> list[tools_pb2.SymbolMatch]:
        """Definitions named ``name`` ("request", "Session.request"), best first.

        :param exact: only exact matches of the name or its last parts.
        :param kinds: kinds to keep ("function", "class", …).
        :param limit: 1-200; 0 means 20.
        """
        request = tools_pb2.FindSymbolRequest(
            project=project, name=name, exact=exact, kinds=list(kinds), limit=limit
        )
        return self._call(self.tools.FindSymbol, request, lambda r: list(r.symbols))

    def project_metadata(self, project: str) -> tools_pb2.GetProjectMetadataResponse:
        """Languages, documents, connectors, layout and index generation of ``project``."""
        request = tools_pb2.GetProjectMetadataRequest(project=project)
        return self._call(self.tools.GetProjectMetadata, request)

    def index_status(self, project: str) -> retrieval_pb2.IndexStatus:
        """Where indexing of ``project`` stands: generation served, chunks keyword-indexed
        and embedded, chunks stored, the active run (cheap: fine to poll)."""
        request = tools_pb2.GetIndexStatusRequest(project=project)
        return self._call(self.tools.GetIndexStatus, request, lambda r: r.index_status)

    def list_files(
        self, project: str, prefix: str = "", *, page_size: int = 0
    ) -> Iterator[tools_pb2.IndexedFile]:
        """Every indexed file of ``project`` (below folder ``prefix``), by path; pages of
        ``page_size`` (1-1000; 0 means 100) are fetched as the iteration needs them."""
        request = tools_pb2.ListFilesRequest(project=project, prefix=prefix, page_size=page_size)
        return self._pages(self.tools.ListFiles, request, "files")

    def list_files_page(
        self, project: str, prefix: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> tools_pb2.ListFilesResponse:
        """One page of :meth:`list_files`, for callers that keep the token themselves
        (``next_page_token`` is empty on the last page)."""
        request = tools_pb2.ListFilesRequest(
            project=project, prefix=prefix, page_size=page_size, page_token=page_token
        )
        return self._call(self.tools.ListFiles, request)


__all__ = ["ToolCalls", "tool_result"]
