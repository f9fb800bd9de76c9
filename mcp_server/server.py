"""``projectqa mcp``: the MCP server, a client of the ProjectQA gRPC server.

Every tool call and resource read is an RPC made with a token — the MCP server's own
(``--token``, ``PROJECTQA_TOKEN``, the local admin token file, as the CLI resolves it),
or over HTTP the caller's ``Authorization: Bearer`` token when it sends one — so the
gRPC server's access rules, limits and audit apply to whoever asks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp_types import (
    CallToolRequestParams,
    CallToolResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Tool,
    ToolAnnotations,
)

from projectqa.client.errors import ClientError
from projectqa.mcp import resources
from projectqa.mcp.arguments import check, split_project
from projectqa.mcp.calls import ServerCalls, open_calls
from projectqa.mcp.catalog import (
    LIST_PROJECTS,
    SEARCH,
    CatalogCache,
    CatalogTool,
    builtin_fallback,
    input_schema,
    offered,
    own_tools,
)
from projectqa.mcp.errors import ToolFailure, describe
from projectqa.mcp.render import DEFAULT_MAX_CHARS, failure, links, result
from projectqa.mcp.tools import handler

logger = logging.getLogger(__name__)
MAX_CLIENTS = 64
MAX_CATALOG_PROJECTS = 20


@dataclass(frozen=True)
class McpSettings:
    """How ``projectqa mcp`` was started."""

    address: str
    token: str | None
    tls_ca_file: Path | None = None
    timeout: float = 30.0
    project: str | None = None
    allow_side_effects: bool = False
    max_result_chars: int = DEFAULT_MAX_CHARS


def caller_token(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The bearer token of the HTTP request that carried this message; None on stdio."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class ProjectQAMcp:
    """The MCP handlers: tools from the project's catalog, files as resources."""

    def __init__(self, settings: McpSettings) -> None:
        self.settings = settings
        self._clients: OrderedDict[str, ServerCalls] = OrderedDict()
        self._catalogs = CatalogCache()
        self._closing: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ connections
    def _calls(self, ctx: ServerRequestContext[Any, Any]) -> tuple[str, ServerCalls]:
        token = caller_token(ctx) or self.settings.token
        if token is None:
            raise ToolFailure(
                "no token: send 'Authorization: Bearer <token>' or start projectqa mcp with one"
            )
        # Keyed by a digest: the map outlives requests and need not hold the secret twice.
        key = hashlib.sha256(token.encode()).hexdigest()
        calls = self._clients.pop(key, None)
        if calls is None:
            if len(self._clients) >= MAX_CLIENTS:
                _, oldest = self._clients.popitem(last=False)
                self._close_later(oldest)
            calls = open_calls(
                self.settings.address,
                token,
                timeout=self.settings.timeout,
                tls_ca_file=self.settings.tls_ca_file,
            )
        self._clients[key] = calls
        return key, calls

    def _close_later(self, calls: ServerCalls) -> None:
        """Closes an evicted client once the calls it may still be serving are done."""

        async def close() -> None:
            await asyncio.sleep(self.settings.timeout)
            await calls.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for task in list(self._closing):
            task.cancel()
        for calls in self._clients.values():
            await calls.close()
        self._clients.clear()

    # ------------------------------------------------------------------ tools
    async def _projects(self, calls: ServerCalls) -> list[str]:
        if self.settings.project is not None:
            return [self.settings.project]
        projects: list[str] = []
        async for project in calls.list_projects(page_size=MAX_CATALOG_PROJECTS):
            projects.append(project.slug)
            if len(projects) >= MAX_CATALOG_PROJECTS:
                break
        return projects

    async def _catalog(
        self, key: str, calls: ServerCalls, projects: list[str]
    ) -> list[CatalogTool]:
        """The union of the projects' catalogs (first schema of a name wins), plus ask and
        list_projects, without side-effecting tools unless allowed."""
        tools: dict[str, CatalogTool] = {}
        for project in projects:
            try:
                for tool in await self._catalogs.tools(calls, key, project):
                    tools.setdefault(tool.name, tool)
            except ClientError as error:
                logger.warning("no catalog of %s: %s", project, error)
        if SEARCH not in tools:
            for tool in builtin_fallback():
                tools.setdefault(tool.name, tool)
        everything = [*tools.values(), *own_tools(tools[SEARCH].schema)]
        return offered(everything, self.settings.allow_side_effects)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        key, calls = self._calls(ctx)
        try:
            catalog = await self._catalog(key, calls, await self._projects(calls))
        except ClientError as error:
            logger.warning("listing projects failed: %s", error)
            catalog = await self._catalog(key, calls, [])
        fixed = self.settings.project is not None
        return ListToolsResult(tools=[_mcp_tool(tool, fixed) for tool in catalog])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult:
        try:
            return await self._call_tool(ctx, params.name, dict(params.arguments or {}))
        except ToolFailure as error:
            return failure(str(error))
        except ClientError as error:
            return failure(describe(error, self.settings.address))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], name: str, arguments: dict[str, Any]
    ) -> CallToolResult:
        key, calls = self._calls(ctx)
        if name == LIST_PROJECTS:
            project, rest = "", arguments
        else:
            project, rest = split_project(arguments, self.settings.project)
        catalog = await self._catalog_of(key, calls, project)
        tool = next((tool for tool in catalog if tool.name == name), None)
        if tool is None:
            where = f" in project {project!r}" if project else ""
            raise ToolFailure(f"unknown tool {name!r}{where}")
        if tool.side_effects and not self.settings.allow_side_effects:
            raise ToolFailure(
                f"the tool {name!r} has side effects and is not offered: start projectqa mcp "
                "with --allow-side-effects to offer it"
            )
        answer = await handler(name)(calls, project, check(tool.schema, rest))
        cited = links(project, answer.citations) if project else []
        return result(answer.text, self.settings.max_result_chars, cited)

    async def _catalog_of(self, key: str, calls: ServerCalls, project: str) -> list[CatalogTool]:
        if not project:
            return await self._catalog(key, calls, [])
        # ListTools also checks that this token may read the project: NOT_FOUND otherwise.
        tools = await self._catalogs.tools(calls, key, project)
        return [*tools, *own_tools(_search_schema(tools))]

    # -------------------------------------------------------------- resources
    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        _, calls = self._calls(ctx)
        try:
            projects = await self._projects(calls)
        except ClientError:
            projects = []
        cursor = params.cursor if params is not None else None
        page, next_cursor = await resources.listed(calls, projects, cursor)
        return ListResourcesResult(resources=page, next_cursor=next_cursor)

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=[resources.TEMPLATE])

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        _, calls = self._calls(ctx)
        return ReadResourceResult(contents=[await resources.read(calls, params.uri)])

    def server(self) -> Server[Any]:
        """The low-level SDK server with these handlers."""
        scope = f"project {self.settings.project!r}" if self.settings.project else "projects"
        return Server(
            "projectqa",
            version=_version(),
            instructions=(
                f"ProjectQA answers questions about the code and history of its {scope}, "
                "with citations (path:start-end). Use search or ask first, find_symbol for "
                "definitions, grep for exact text, open_file to read cited lines."
            ),
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
        )


def _search_schema(tools: list[CatalogTool]) -> dict[str, Any]:
    for tool in tools:
        if tool.name == SEARCH:
            return tool.schema
    return next(t.schema for t in builtin_fallback() if t.name == SEARCH)


def _mcp_tool(tool: CatalogTool, project_fixed: bool) -> Tool:
    return Tool(
        name=tool.name,
        description=tool.description,
        input_schema=input_schema(tool, project_fixed),
        annotations=ToolAnnotations(read_only_hint=not tool.side_effects),
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("projectqa")
    except PackageNotFoundError:
        return ""


async def serve_stdio(settings: McpSettings) -> None:
    """Serves MCP over this process's stdin and stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    mcp = ProjectQAMcp(settings)
    server = mcp.server()
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await mcp.close()
