"""Tool operations: the domain behind ToolsService.

One catalog per project: the built-ins, the plugin tools the project enabled,
and its enabled script tools. Every call checks the caller's membership (admin
for tools with side effects), validates arguments against the tool's JSON
Schema, and turns a tool's own failure into an error result, never a crashed
RPC. Built-ins also have typed entry points (grep, open_file, …) that the typed
RPCs use; ``invoke`` runs the same code and returns plain JSON.
"""

from __future__ import annotations

import builtins  # `list` in annotations after a method named list means the method
import contextlib
import dataclasses
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing.exceptions import Unresolvable

from ..access import Access
from ..auth import Principal
from ..data_guard import DataDirGuard
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..index.symbols import SymbolHit
from ..limits import OverBudget, RunGate
from ..models import CustomTool, Project, ProjectRole
from ..paging import every_page
from ..registry import PluginCatalog, ToolSpec
from ..retrieval.ops import CitedResult, RetrievalOps
from ..retrieval.query import SearchFilter, SearchMode, SearchQuery
from ..retrieval.status import IndexStatus
from ..store import Store
from ..threads import BlockingRunner
from . import builtins as builtin_tools
from .base import Checkout, ToolContext, ToolResult
from .checkouts import project_checkouts, resolve_checkout
from .confine import normalise
from .grep import TIMEOUT_S as GREP_TIMEOUT_S
from .grep import GrepQuery, GrepResult, grep
from .listing import FilePage, list_files
from .metadata import ProjectMetadata, project_metadata
from .openfile import OpenedFile, open_file, refuse_unreadable
from .plugin_runner import run_plugin_tool
from .scripts import run_script_tool

BUILTIN_PROVIDER = "builtin"
MAX_SYMBOL_NAME = 200


class ToolOrigin(enum.StrEnum):
    BUILTIN = "builtin"
    PLUGIN = "plugin"
    SCRIPT = "script"


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """A tool of a project's catalog."""

    name: str
    description: str
    arguments_schema: dict[str, Any]
    side_effects: bool
    origin: ToolOrigin
    provider: str  # the plugin, "builtin", or the project slug for script tools
    target: ToolSpec | CustomTool | None = None  # what runs it (None: a built-in)


class ToolsOps:
    def __init__(
        self,
        store: Store,
        access: Access,
        catalog: PluginCatalog,
        retrieval: RetrievalOps,
        sources_dir: Path,
        run_blocking: BlockingRunner,
        plugin_timeout_s: float,
        data_dir: Path | None = None,
        grep_gate: RunGate | None = None,
        local_roots: Sequence[Path] = (),
    ) -> None:
        self._store = store
        self._access = access
        self._catalog = catalog
        self._retrieval = retrieval
        self._sources_dir = sources_dir
        self._rb = run_blocking
        self._plugin_timeout_s = plugin_timeout_s
        # ripgrep runs at once, server-wide and per project (each is a process for up to 10 s).
        self.grep_gate = grep_gate or RunGate.for_grep()
        # Tools never read the data directory, whatever a checkout or a link leads to.
        # Folders written under PROJECTQA_LOCAL_ROOTS must still be inside them.
        roots = tuple(local_roots)
        self._data_guard = DataDirGuard(data_dir, roots) if data_dir is not None else None
        self._builtins: dict[str, Callable[[Project, dict[str, Any]], Awaitable[Any]]] = {
            builtin_tools.SEARCH: self._search_tool,
            builtin_tools.KEYWORD_SEARCH: self._keyword_tool,
            builtin_tools.GREP: self._grep_tool,
            builtin_tools.OPEN_FILE: self._open_file_tool,
            builtin_tools.FIND_SYMBOL: self._find_symbol_tool,
            builtin_tools.PROJECT_METADATA: self._metadata_tool,
        }

    # ------------------------------------------------------------- catalog
    async def list(self, principal: Principal, project_ref: str) -> list[ToolEntry]:
        return await self._rb(self._catalog_of_ref, principal, project_ref)

    async def invoke(
        self, principal: Principal, project_ref: str, name: str, arguments: dict[str, Any]
    ) -> ToolResult:
        """Run a catalog tool by name; the project is checked first, then the arguments."""
        if not name:
            raise InvalidArgument("tool", "must not be empty")
        project, entry = await self._rb(self._entry, principal, project_ref, name)
        if entry.side_effects:
            await self._rb(self._access.project, principal, project.id, ProjectRole.ADMIN)
        await self._rb(check_arguments, entry.arguments_schema, arguments)
        return await self.run(project, entry, arguments)

    async def run(
        self, project: Project, entry: ToolEntry, arguments: dict[str, Any]
    ) -> ToolResult:
        """Run an entry of ``project``'s catalog with checked arguments (the chat calls this)."""
        started = time.monotonic()
        if isinstance(entry.target, ToolSpec):
            context = ToolContext(project.id, project.slug, tuple(await self._checkouts(project)))
            return await run_plugin_tool(
                entry.target, arguments, context, timeout_s=self._plugin_timeout_s
            )
        if isinstance(entry.target, CustomTool):
            try:
                checkout = await self._script_checkout(project, entry.target)
            except (NotFound, FailedPrecondition) as exc:  # e.g. its connector was deleted
                return ToolResult(is_error=True, error=str(exc), duration_ms=_since(started))
            return await run_script_tool(entry.target, arguments, checkout, self._data_guard)
        try:
            value = await self._builtins[entry.name](project, arguments)
        except (InvalidArgument, NotFound, FailedPrecondition, OverBudget) as exc:
            # The caller's arguments were well-formed but pointed nowhere useful (or ripgrep
            # was busy): the model (or person) reads why and tries again.
            return ToolResult(is_error=True, error=str(exc), duration_ms=_since(started))
        return ToolResult(value=plain(value), duration_ms=_since(started))

    def _catalog_of_ref(self, principal: Principal, project_ref: str) -> builtins.list[ToolEntry]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        return self.catalog(project)

    def catalog(self, project: Project) -> builtins.list[ToolEntry]:
        """Built-ins, then enabled plugin tools, then enabled script tools; one per name."""
        entries = {
            name: ToolEntry(name, description, schema, False, ToolOrigin.BUILTIN, BUILTIN_PROVIDER)
            for name, (description, schema) in builtin_tools.BUILTINS.items()
        }
        enabled = {s.tool for s in self._store.list_tool_settings(project.id) if s.enabled}
        for name, contribution in self._catalog.tools.items():
            spec = contribution.item
            if name in enabled and name not in entries and isinstance(spec, ToolSpec):
                entries[name] = ToolEntry(
                    name,
                    spec.description,
                    spec.arguments_schema,
                    spec.side_effects,
                    ToolOrigin.PLUGIN,
                    contribution.plugin,
                    spec,
                )
        fetch = lambda page: self._store.list_custom_tools(project.id, page)  # noqa: E731
        for tool in every_page(fetch, lambda t: t.name):
            if tool.enabled and tool.name not in entries:
                entries[tool.name] = ToolEntry(
                    tool.name,
                    tool.description,
                    tool.arguments_schema,
                    tool.side_effects,
                    ToolOrigin.SCRIPT,
                    project.slug,
                    tool,
                )
        return sorted(entries.values(), key=lambda e: e.name)

    def _entry(
        self, principal: Principal, project_ref: str, name: str
    ) -> tuple[Project, ToolEntry]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        for entry in self.catalog(project):
            if entry.name == name:
                return project, entry
        raise NotFound(f"tool {name!r} is not in the catalog of project {project.slug!r}")

    # -------------------------------------------------------- typed built-ins
    async def project(self, principal: Principal, project_ref: str) -> Project:
        return await self._rb(self._access.project, principal, project_ref, ProjectRole.MEMBER)

    async def grep(self, project: Project, query: GrepQuery) -> GrepResult:
        """ripgrep over the checkouts, keeping matches in files the project indexed."""
        checkouts = await self._checkouts(project)
        # Waiting for a turn counts toward Grep's time bound: a call never takes longer.
        started = time.monotonic()
        async with self.grep_gate.turn(project.id, GREP_TIMEOUT_S):
            left = GREP_TIMEOUT_S - (time.monotonic() - started)
            result = await grep(checkouts, query, timeout_s=left, guard=self._data_guard)
        pairs = {(m.connector_id, m.path) for m in result.matches}
        indexed = await self._rb(self._indexed, pairs)
        kept = [m for m in result.matches if (m.connector_id, m.path) in indexed]
        return dataclasses.replace(result, matches=kept)

    async def open_file(
        self, project: Project, path: str, start_line: int, end_line: int, connector: str
    ) -> OpenedFile:
        """Lines of an indexed file. A file the connector's rules left out (a git-ignored
        ``.env`` in a local folder, say) is not found, even though it is on disk."""
        clean = normalise(path)
        checkouts = resolve_checkout(await self._checkouts(project), connector)
        indexed = await self._rb(self._indexed, {(c.connector_id, clean) for c in checkouts})
        readable = [c for c in checkouts if (c.connector_id, clean) in indexed]
        if readable:
            opening = partial(open_file, guard=self._data_guard)
            return await self._rb(opening, readable, clean, start_line, end_line)
        # Say why when the reason gives nothing away (a path leaving the checkout, a
        # directory, a binary file); a missing file and one the connector's rules left
        # out answer alike, and nothing of the file's content or length is read.
        with contextlib.suppress(NotFound):
            await self._rb(partial(refuse_unreadable, guard=self._data_guard), checkouts, clean)
        raise NotFound(
            f"{clean!r} is not an indexed file of project {project.slug!r} (missing, or left "
            "out by the connector's include/exclude rules)"
        )

    def _indexed(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (connector id, path) pairs that are stored documents."""
        by_connector: dict[str, list[str]] = {}
        for connector_id, path in pairs:
            by_connector.setdefault(connector_id, []).append(path)
        return {
            (connector_id, key)
            for connector_id, paths in by_connector.items()
            for key in self._store.get_documents(connector_id, paths)
        }

    async def keyword_search(self, project: Project, query: SearchQuery) -> CitedResult:
        query = dataclasses.replace(query, mode=SearchMode.KEYWORD)
        return await self._rb(self._retrieval.search_project, project, query)

    async def find_symbol(
        self, project: Project, name: str, exact: bool, kinds: tuple[str, ...], limit: int
    ) -> builtins.list[SymbolHit]:
        if not name.strip():
            raise InvalidArgument("name", "must not be empty")
        if len(name) > MAX_SYMBOL_NAME:
            raise InvalidArgument("name", f"must be at most {MAX_SYMBOL_NAME} characters")
        if not 0 <= limit <= 200:
            raise InvalidArgument("limit", "must be between 1 and 200 (0 means 20)")
        index = await self._rb(self._retrieval.index, project.id)
        if index.symbols is None:
            return []
        return index.symbols.find(name.strip(), exact=exact, kinds=kinds, limit=limit or 20)

    async def list_files(
        self, project: Project, prefix: str, page_size: int, page_token: str
    ) -> FilePage:
        """A page of the project's indexed files below folder ``prefix`` (see listing)."""
        return await self._rb(list_files, self._store, project.id, prefix, page_size, page_token)

    async def index_status(self, project: Project) -> IndexStatus:
        return await self._rb(self._retrieval.index_status, project.id)

    async def metadata(self, project: Project) -> ProjectMetadata:
        checkouts = await self._checkouts(project)
        return await self._rb(self._metadata_blocking, project, checkouts)

    def _metadata_blocking(
        self, project: Project, checkouts: builtins.list[Checkout]
    ) -> ProjectMetadata:
        status = self._retrieval.index_status(project.id)
        return project_metadata(self._store, project, checkouts, status.generation, status)

    async def _checkouts(self, project: Project) -> builtins.list[Checkout]:
        return await self._rb(
            project_checkouts,
            self._store,
            self._sources_dir,
            project.id,
            self._catalog,
            self._data_guard,
        )

    async def _script_checkout(self, project: Project, tool: CustomTool) -> Checkout:
        checkouts = resolve_checkout(await self._checkouts(project), tool.connector)
        if not checkouts:
            raise FailedPrecondition(
                f"script tool {tool.name!r} needs a checkout, and project {project.slug!r} "
                "has none yet: ingest a git or local connector first"
            )
        return checkouts[0]

    # ----------------------------------------------- built-ins as JSON tools
    async def _search_tool(self, project: Project, args: dict[str, Any]) -> Any:
        query = _search_query(args, SearchMode(args.get("mode", "hybrid")))
        return _hits_json(await self._rb(self._retrieval.search_project, project, query))

    async def _keyword_tool(self, project: Project, args: dict[str, Any]) -> Any:
        return _hits_json(await self.keyword_search(project, _search_query(args)))

    async def _grep_tool(self, project: Project, args: dict[str, Any]) -> Any:
        query = GrepQuery(
            pattern=args["pattern"],
            fixed_strings=args.get("fixed_strings", False),
            ignore_case=args.get("ignore_case", False),
            path_globs=tuple(args.get("path_globs", ())),
            context_lines=args.get("context_lines", 0),
            max_matches=args.get("max_matches", 0),
            connector=args.get("connector", ""),
        )
        return await self.grep(project, query)

    async def _open_file_tool(self, project: Project, args: dict[str, Any]) -> Any:
        return await self.open_file(
            project,
            args["path"],
            args.get("start_line", 0),
            args.get("end_line", 0),
            args.get("connector", ""),
        )

    async def _find_symbol_tool(self, project: Project, args: dict[str, Any]) -> Any:
        kinds = tuple(args.get("kinds", ()))
        found = await self.find_symbol(
            project, args["name"], args.get("exact", False), kinds, args.get("limit", 20)
        )
        return {"symbols": found}

    async def _metadata_tool(self, project: Project, args: dict[str, Any]) -> Any:
        return await self.metadata(project)


def check_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """InvalidArgument naming the offending field (``arguments.top_k``) if ``arguments``
    do not satisfy ``schema``."""
    try:
        error = best_match(Draft202012Validator(schema).iter_errors(arguments))
    except Unresolvable as exc:  # stored before references were checked at creation
        raise FailedPrecondition(f"the tool's arguments schema is broken: {exc}") from None
    if error is None:
        return
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        path += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        path += [k for k in error.instance if k not in allowed][:1]
    raise InvalidArgument(".".join(["arguments", *path]), _problem(error))


def _problem(error: ValidationError) -> str:
    """jsonschema's message quotes the offending value whole: a long one (a pasted
    16,000-character question) would overflow gRPC's status metadata (8 KiB)."""
    if error.validator == "maxLength":
        return f"must be at most {error.validator_value} characters"
    message = error.message
    return message if len(message) <= 500 else message[:497] + "..."


def _search_query(args: dict[str, Any], mode: SearchMode = SearchMode.KEYWORD) -> SearchQuery:
    search_filter = SearchFilter(
        kinds=tuple(args.get("kinds", ())),
        path_globs=tuple(args.get("path_globs", ())),
        languages=tuple(args.get("languages", ())),
    )
    return SearchQuery.checked(args["query"], mode, args.get("top_k", 0), search_filter)


def _hits_json(result: CitedResult) -> dict[str, Any]:
    """The hits, and where indexing stands when it is not complete (a model reading them
    can then say that an answer may improve once the run is done)."""
    found: dict[str, Any] = {"hits": _hit_list(result)}
    if result.status is not None and not result.status.complete:
        found["index_status"] = plain(result.status)
    return found


def _hit_list(result: CitedResult) -> list[dict[str, Any]]:
    return [
        {
            "citation": h.citation.label,
            "kind": h.citation.kind,
            "path": h.citation.path,
            "start_line": h.citation.start_line,
            "end_line": h.citation.end_line,
            "url": h.citation.url,
            "title": h.citation.title,
            "version": h.citation.version,
            "symbol": h.hit.chunk.symbol,
            "score": round(h.hit.score, 4),
            "text": h.hit.chunk.text,
        }
        for h in result.hits
    ]


def plain(value: Any) -> Any:
    """Dataclasses, enums, paths, datetimes and tuples as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def _since(started: float) -> float:
    return (time.monotonic() - started) * 1000
