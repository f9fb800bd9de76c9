"""Script tools: commands a project admin makes callable as tools (run by ``tools.scripts``).

Every field is checked here, so a stored tool is always runnable as far as
its definition goes: a valid object schema, placeholders that name its
properties, bounds on time and output, and a connector of the project.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, fields, replace
from typing import Any

from ..access import Access
from ..auth import Principal
from ..errors import InvalidArgument, NotFound, PermissionDenied
from ..models import CustomTool, ProjectRole, new_id, utcnow
from ..paging import page_of, page_request
from ..registry import BUILTIN_TOOL_NAMES, NAME, PluginCatalog, object_schema_problem
from ..store import Store
from ..tools.scripts import placeholders
from ..validation import require_match

MAX_DESCRIPTION = 2000
MAX_COMMAND_ITEMS = 64
MAX_COMMAND_ITEM = 4096
DEFAULT_TIMEOUT_SECONDS = 30
MAX_TIMEOUT_SECONDS = 600
DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024
MIN_OUTPUT_BYTES = 1024
MAX_OUTPUT_BYTES = 10 * 1024 * 1024
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class CustomToolChanges:
    """Requested values; ``None`` means "leave as it is" (or "use the default" on create)."""

    description: str | None = None
    command: list[str] | None = None
    arguments_schema: dict[str, Any] | None = None  # {} means no arguments
    timeout_seconds: int | None = None  # 0 means the default
    max_output_bytes: int | None = None  # 0 means the default
    side_effects: bool | None = None
    connector: str | None = None  # id or name; '' means the first with a checkout
    enabled: bool | None = None


class CustomTools:
    def __init__(
        self,
        store: Store,
        access: Access,
        catalog: PluginCatalog,
        reserved: Callable[[], Collection[str]] = lambda: BUILTIN_TOOL_NAMES,
        programs: Collection[str] = (),
    ) -> None:
        self._store = store
        self._access = access
        self._catalog = catalog
        self._reserved = reserved  # built-in tool names
        self._programs = frozenset(programs)  # what project admins may run

    def create(
        self, principal: Principal, project_ref: str, name: str, changes: CustomToolChanges
    ) -> CustomTool:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        now = utcnow()
        blank = CustomTool(
            id=new_id("ctl"), project_id=project.id, name=self._free_name(name),
            description="", command=[], arguments_schema={}, timeout_seconds=0,
            max_output_bytes=0, side_effects=False, connector="", enabled=False,
            created_at=now, updated_at=now,
        )  # fmt: skip
        tool = self._validated(_apply(blank, changes))
        self._check_program(principal, tool.command[0])
        self._store.create_custom_tool(tool)
        return tool

    def update(
        self, principal: Principal, project_ref: str, name: str, changes: CustomToolChanges
    ) -> CustomTool:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        tool = self._existing(project.id, name)
        updated = self._validated(replace(_apply(tool, changes), updated_at=utcnow()))
        self._check_program(principal, updated.command[0])
        if not self._store.update_custom_tool(updated):
            raise _not_found(name)  # deleted meanwhile
        return updated

    def _check_program(self, principal: Principal, program: str) -> None:
        """A script tool runs with the server's own rights, so what it may run is the
        operator's call: global admins any program; project admins only programs named in
        ``PROJECTQA_SCRIPT_TOOL_PROGRAMS``, found on the PATH (no paths, so no program of
        their own making)."""
        if principal.user.global_admin:
            return
        if "/" in program or program not in self._programs:
            allowed = ", ".join(sorted(self._programs)) or "none"
            raise PermissionDenied(
                f"project admins may run only the programs the operator allows "
                f"(PROJECTQA_SCRIPT_TOOL_PROGRAMS: {allowed}); {program!r} needs a global admin"
            )

    def delete(self, principal: Principal, project_ref: str, name: str) -> None:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        if not name:
            raise InvalidArgument("name", "must not be empty")
        if not self._store.delete_custom_tool(project.id, name):
            raise _not_found(name)

    def list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[list[CustomTool], str]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        listing = f"custom-tools:{project.id}"
        request = page_request(listing, page_size, page_token)
        items = self._store.list_custom_tools(project.id, request)
        return page_of(listing, items, request, key=lambda t: t.name)

    # ------------------------------------------------------------ checks
    def _free_name(self, name: str) -> str:
        require_match(
            "name", name, NAME, "use 1-64 lowercase letters, digits, _ or -, starting with a letter"
        )
        if name in self._reserved():
            raise InvalidArgument("name", f"{name!r} is the name of a built-in tool")
        entry = self._catalog.tools.get(name)
        if entry is not None:
            raise InvalidArgument("name", f"{name!r} is a tool of plugin {entry.plugin!r}")
        return name

    def _existing(self, project_id: str, name: str) -> CustomTool:
        if not name:
            raise InvalidArgument("name", "must not be empty")
        tool = self._store.get_custom_tool(project_id, name)
        if tool is None:
            raise _not_found(name)
        return tool

    def _validated(self, tool: CustomTool) -> CustomTool:
        schema = _schema(tool.arguments_schema)
        return replace(
            tool,
            description=_description(tool.description),
            command=_command(tool.command, schema),
            arguments_schema=schema,
            timeout_seconds=_bounded(
                "timeout_seconds", tool.timeout_seconds, DEFAULT_TIMEOUT_SECONDS, 1,
                MAX_TIMEOUT_SECONDS,
            ),
            max_output_bytes=_bounded(
                "max_output_bytes", tool.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES,
                MIN_OUTPUT_BYTES, MAX_OUTPUT_BYTES,
            ),
            connector=self._connector_id(tool.project_id, tool.connector),
        )  # fmt: skip

    def _connector_id(self, project_id: str, ref: str) -> str:
        """The id of the project's connector ``ref`` (id or name); '' stays ''."""
        if not ref:
            return ""
        try:
            return self._access.connector(project_id, ref).id
        except NotFound:
            raise InvalidArgument("connector", f"the project has no connector {ref!r}") from None


def _apply(tool: CustomTool, changes: CustomToolChanges) -> CustomTool:
    values = {
        f.name: getattr(changes, f.name)
        for f in fields(changes)
        if getattr(changes, f.name) is not None
    }
    return replace(tool, **values)


def _description(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument("description", "must not be empty")
    if len(value) > MAX_DESCRIPTION:
        raise InvalidArgument(
            "description", f"must be at most {MAX_DESCRIPTION} characters (got {len(value)})"
        )
    if "\x00" in value:
        raise InvalidArgument("description", "must not contain NUL characters")
    return value


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema:
        return dict(EMPTY_SCHEMA)
    problem = object_schema_problem(schema)
    if problem is not None:
        raise InvalidArgument("arguments_schema", problem)
    return schema


def _command(command: list[str], schema: dict[str, Any]) -> list[str]:
    if not 1 <= len(command) <= MAX_COMMAND_ITEMS:
        raise InvalidArgument(
            "command", f"must have 1-{MAX_COMMAND_ITEMS} items (got {len(command)})"
        )
    properties = schema.get("properties", {})
    for index, item in enumerate(command):
        field = f"command[{index}]"
        if not item:
            raise InvalidArgument(field, "must not be empty")
        if len(item) > MAX_COMMAND_ITEM:
            raise InvalidArgument(field, f"must be at most {MAX_COMMAND_ITEM} characters")
        if "\x00" in item:
            raise InvalidArgument(field, "must not contain NUL characters")
        unknown = [name for name in placeholders(item) if name not in properties]
        if unknown:
            raise InvalidArgument(field, f"{{{unknown[0]}}} names no property of arguments_schema")
    if placeholders(command[0]):
        # Callers choose arguments, never the program a tool runs.
        raise InvalidArgument("command[0]", "the program must be fixed, without placeholders")
    return list(command)


def _bounded(field: str, value: int, default: int, low: int, high: int) -> int:
    if value == 0:
        return default
    if not low <= value <= high:
        raise InvalidArgument(field, f"must be 0 (default) or {low}-{high} (got {value})")
    return value


def _not_found(name: str) -> NotFound:
    return NotFound(f"tool {name!r} not found")
