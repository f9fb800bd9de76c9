"""``projectqa mcp``: the MCP server, a client of the ProjectQA gRPC server.

Every tool call and resource read is an RPC made with a token: over HTTP the caller's
``Authorization: Bearer`` token; on stdio (or over HTTP, for a request without one, when
started with ``--default-token-for-anonymous``) the MCP server's own. So the gRPC
server's access rules, limits and audit apply to whoever asks. One gRPC channel serves
every caller: each request's calls send its token (:func:`projectqa.client.calls_as`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
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

from projectqa.client import AsyncClient, AsyncServerCalls, async_server_calls, calls_as
from projectqa.client.errors import ClientError
from projectqa.mcp import resources
from projectqa.mcp.arguments import check, split_project
from projectqa.mcp.catalog import (
    LIST_PROJECTS,
    PROJECT_FIELD,
    SEARCH,
    CatalogCache,
    CatalogTool,
    builtin_fallback,
    input_schema,
    offered,
    own_tools,
)
from projectqa.mcp.errors import ToolFailure, bound, describe
from projectqa.mcp.render import DEFAULT_MAX_CHARS, failure, links, result
from projectqa.mcp.tools import handler

logger = logging.getLogger(__name__)
MAX_CATALOG_PROJECTS = 20
# What the shared channel would send on a call made outside calls_as (none is): a token
# no server accepts, so a slip can never run as anyone.
NO_TOKEN = "projectqa-mcp-no-caller-token"
Result = TypeVar("Result")


@dataclass(frozen=True)
class McpSettings:
    """How ``projectqa mcp`` was started. ``token`` serves requests that bring none:
    every request on stdio; over HTTP only with ``--default-token-for-anonymous``."""

    address: str
    token: str | None
    tls_ca_file: Path | None = None
    tls: bool = False
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
        self._client: AsyncServerCalls | None = None
        self._catalogs = CatalogCache()

    # ------------------------------------------------------------ connections
    @property
    def calls(self) -> AsyncServerCalls:
        """The one client of the process, opened on first use (on the serving loop)."""
        if self._client is None:
            client = AsyncClient(
                self.settings.address,
                NO_TOKEN,
                timeout=self.settings.timeout,
                tls_ca_file=self.settings.tls_ca_file,
                tls=self.settings.tls,
            )
            self._client = async_server_calls(client)
        return self._client

    def _token(self, ctx: ServerRequestContext[Any, Any]) -> str:
        token = caller_token(ctx) or self.settings.token
        if token is None:
            raise ToolFailure(
                "no token: send 'Authorization: Bearer <token>' or start projectqa mcp with one"
            )
        return token

    async def _as_caller(
        self,
        ctx: ServerRequestContext[Any, Any],
        work: Callable[[str], Awaitable[Result]],
    ) -> Result:
        """``work(key)`` with every call it makes sending this request's token; ``key``
        names the token in caches (a digest: they need not hold the secret)."""
        token = self._token(ctx)
        with calls_as(token):
            return await work(hashlib.sha256(token.encode()).hexdigest())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    # ------------------------------------------------------------------ tools
    async def _projects(self, calls: AsyncServerCalls) -> list[str]:
        if self.settings.project is not None:
            return [self.settings.project]
        projects: list[str] = []
        async for project in calls.list_projects(page_size=MAX_CATALOG_PROJECTS):
            projects.append(project.slug)
            if len(projects) >= MAX_CATALOG_PROJECTS:
                break
        return projects

    async def _catalog(self, key: str, projects: list[str]) -> list[CatalogTool]:
        """The union of the projects' catalogs (first schema of a name wins), plus ask and
        list_projects, without side-effecting tools unless allowed."""
        tools: dict[str, CatalogTool] = {}
        for project in projects:
            try:
                for tool in await self._catalogs.tools(self.calls, key, project):
                    tools.setdefault(tool.name, tool)
            except ClientError as error:
                logger.warning("no catalog of %s: %s", project, error)
        if SEARCH not in tools:
            for tool in builtin_fallback():
                tools.setdefault(tool.name, tool)
        everything = [*tools.values(), *own_tools(tools[SEARCH].schema)]
        return offered(everything, self.settings.allow_side_effects)

    async def _offered(self, key: str) -> list[CatalogTool]:
        """What tools/list offers this token."""
        try:
            projects = await self._projects(self.calls)
        except ClientError as error:
            # A refused token is the caller's business (the gRPC server logs it, throttled):
            # a warning each time would let anyone flood this log.
            level = logging.DEBUG if error.code_name == "UNAUTHENTICATED" else logging.WARNING
            logger.log(level, "listing projects failed: %s", error)
            projects = []
        return await self._catalog(key, projects)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        catalog = await _guarded(self._as_caller(ctx, self._offered))
        fixed = self.settings.project is not None
        return ListToolsResult(tools=[_mcp_tool(tool, fixed) for tool in catalog])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult:
        """The tool's result, or a tool error the agent can read; an unknown tool is a
        protocol error (INVALID_PARAMS), as the MCP specification has it."""
        arguments = dict(params.arguments or {})
        try:
            return await self._as_caller(
                ctx, lambda key: self._call_tool(key, params.name, arguments)
            )
        except ToolFailure as error:
            return failure(str(error))
        except ClientError as error:
            return failure(describe(error, self.settings.address))
        except MCPError:
            raise
        except Exception:
            return failure(f"internal error (ref {_logged_failure('tools/call')})")

    async def _call_tool(self, key: str, name: str, arguments: dict[str, Any]) -> CallToolResult:
        tool = await self._tool(key, name, arguments.get(PROJECT_FIELD))
        if tool.name == LIST_PROJECTS:
            project, rest = self.settings.project or "", arguments
        else:  # the project _tool looked in, or BadArgument naming 'project'
            project, rest = split_project(arguments, self.settings.project)
        if tool.side_effects and not self.settings.allow_side_effects:
            raise ToolFailure(
                f"the tool {name!r} has side effects and is not offered: start projectqa mcp "
                "with --allow-side-effects to offer it"
            )
        answer = await handler(tool)(self.calls, project, check(tool.schema, rest))
        cited = links(project, answer.citations) if project else []
        return result(answer.text, self.settings.max_result_chars, cited)

    async def _tool(self, key: str, name: str, argument: object) -> CatalogTool:
        """The catalog entry of ``name``: in the project's catalog when the server serves
        one or the ``project`` argument names one (this also checks that the token may
        read it), else in what tools/list offers."""
        named = argument.strip() if isinstance(argument, str) else ""
        project = self.settings.project or named or None
        if project is None:
            catalog = await self._offered(key)
        else:  # ListTools answers NOT_FOUND for a project this token may not read
            tools = await self._catalogs.tools(self.calls, key, project)
            catalog = [*tools, *own_tools(_search_schema(tools))]
        found = next((tool for tool in catalog if tool.name == name), None)
        if found is None:
            where = f" in project {project!r}" if project else ""
            raise MCPError(INVALID_PARAMS, bound(f"unknown tool {name!r}{where}"))
        return found

    # -------------------------------------------------------------- resources
    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        cursor = params.cursor if params is not None else None

        async def page(key: str) -> ListResourcesResult:
            try:
                projects = await self._projects(self.calls)
            except ClientError:
                projects = []
            listed, next_cursor = await resources.listed(self.calls, projects, cursor)
            return ListResourcesResult(resources=listed, next_cursor=next_cursor)

        return await _guarded(self._as_caller(ctx, page))

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=[resources.TEMPLATE])

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        """The file; with ``--project``, a file of any other project is not found."""
        project, _ = resources.parse_uri(params.uri)
        if self.settings.project is not None and project != self.settings.project:
            raise MCPError(resources.RESOURCE_NOT_FOUND, bound(f"not found: {params.uri}"))

        async def read(key: str) -> ReadResourceResult:
            limit = self.settings.max_result_chars
            return ReadResourceResult(
                contents=[await resources.read(self.calls, params.uri, limit)]
            )

        return await _guarded(self._as_caller(ctx, read))

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


async def _guarded(work: Awaitable[Result]) -> Result:
    """``work``'s result; its failures as MCP errors with a code (never the SDK's 0)."""
    try:
        return await work
    except MCPError:
        raise
    except ToolFailure as error:
        raise MCPError(INVALID_PARAMS, bound(str(error))) from None
    except ClientError as error:
        raise MCPError(INTERNAL_ERROR, bound(f"{error.code_name}: {error.details}")) from None
    except Exception:
        raise MCPError(INTERNAL_ERROR, f"internal error (ref {_logged_failure('')})") from None


def _logged_failure(what: str) -> str:
    """Logs the exception being handled, with its traceback, to stderr; its reference."""
    ref = uuid.uuid4().hex[:12]
    logger.exception("projectqa mcp: %s failed (ref %s)", what or "request", ref)
    return ref


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
