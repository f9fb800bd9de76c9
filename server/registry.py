"""What plugins contribute, and the catalog that holds it.

``ConnectorType`` and ``ToolSpec`` are the records plugin authors build;
``PluginCatalog`` is the host side: it validates each contribution, remembers
which plugin made it and rejects duplicates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from .tools.tool_schemas import (
    SignatureProblem,
    calling,
    description_of_function,
    schema_of_function,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .sources import OpenSource

log = logging.getLogger(__name__)
NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# Tools built into the server: no plugin or script tool may take these names.
BUILTIN_TOOL_NAMES = frozenset(
    {"grep", "open_file", "keyword_search", "search", "find_symbol", "project_metadata"}
)


class ContributionError(ValueError):
    """A plugin contribution is malformed; the message says how."""


class ConfigProblem(ValueError):
    """A connector config its type's ``validate_config`` refuses.

    ``field`` names the value within the config (``"exclude[2]"``, ``"url"``); the
    server answers INVALID_ARGUMENT for ``config.<field>``. The message is shown to the
    caller: never put a secret value in it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ConnectorType:
    """A kind of source (git, jira, …), the JSON Schema of its config, and its reader.

    ``open_source`` is called once per ingestion run with a
    :class:`projectqa.server.sources.SourceContext` and returns the
    :class:`projectqa.server.sources.Source` to iterate. ``local_paths``, when
    the type reads the server's own disk, names the paths a config points at.

    Secrets are the properties marked ``"writeOnly": true`` and, whatever the
    schema says, any top-level string that is a URL written with credentials
    (``https://user:password@host/…``): the server stores it as given with the
    secrets, shows it without the credentials and hands ``open_source`` the
    config with every secret in place.
    """

    name: str
    description: str
    config_schema: dict[str, Any]
    open_source: OpenSource
    # The server-side paths a config would read (a folder, a local repository). The
    # server confines them: global admins anywhere but the data directory, project
    # admins only under ``PROJECTQA_LOCAL_ROOTS``.
    local_paths: Callable[[dict[str, Any]], list[str]] | None = None
    # Where tools (grep, open a file) may read the connector's files on this server: called
    # with the connector's config, the cursor of its last successful run (None if it never
    # succeeded) and its private work directory; returns the folder, or None if there is none.
    checkout: Callable[[dict[str, Any], dict[str, Any] | None, Path], Path | None] | None = None
    # Checks what the JSON Schema cannot (patterns that must compile, fields that go together),
    # so a bad config is refused when it is saved, not when a run starts: called at create and
    # update, after the schema check, with the whole config (secrets included); raises
    # ``ConfigProblem`` naming the field. Quick and offline: it runs inside the request. The
    # source should still check at run time, for configs saved before the check existed.
    validate_config: Callable[[dict[str, Any]], None] | None = None

    @property
    def secret_fields(self) -> list[str]:
        """Config properties marked ``"writeOnly": true``: secrets, never returned."""
        props = self.config_schema.get("properties", {})
        return sorted(k for k, v in props.items() if isinstance(v, dict) and v.get("writeOnly"))


@dataclass(frozen=True)
class ToolSpec:
    """A callable tool with a JSON Schema for its arguments.

    Calling convention: ``function(arguments, context)`` where ``arguments``
    is a dict that satisfies ``arguments_schema`` and ``context`` a
    :class:`projectqa.server.tools.base.ToolContext` (the project and its
    checkouts); it returns a JSON-serialisable value (dicts, lists, strings,
    numbers, booleans, None; no NaN; at most 1 MiB as JSON). The defaults the
    schema gives are filled in before the call. The function runs on a small
    thread pool of its own with a timeout; an ``async def`` function (or one that
    returns an awaitable) is awaited on an event loop of that thread, and
    cancelled at the timeout. An exception, a timeout or a value that is not JSON
    becomes an error result for the caller (see
    ``projectqa.server.tools.plugin_runner``). ``side_effects`` marks tools that
    change something: the chat asks before calling them.

    ``ToolSpec.from_function`` (or the ``tool`` decorator) derives the schema
    from a typed function instead.
    """

    name: str
    description: str
    arguments_schema: dict[str, Any]
    function: Callable[..., Any]
    side_effects: bool = False

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        side_effects: bool = False,
    ) -> ToolSpec:
        """A spec whose schema is derived from ``function``'s typed signature.

        Parameters become properties (``str``, ``int``, ``float``, ``bool``,
        ``list[...]``, ``dict[str, ...]``, ``Literal[...]``, ``X | None``, ``Any``);
        one with a default is optional and its default is in the schema; a parameter
        annotated ``ToolContext`` receives the context. The name defaults to the
        function's, the description to its docstring (``:param x:`` lines describe
        the properties). ``async def`` functions are awaited by the runner. Raises
        ``ContributionError`` naming the parameter that has no JSON form.
        """
        tool_name = name or str(getattr(function, "__name__", ""))
        try:
            schema, context_name = schema_of_function(function)
        except SignatureProblem as exc:
            raise ContributionError(f"tool {tool_name!r}: {exc}") from None
        return cls(
            name=tool_name,
            description=description_of_function(function) if description is None else description,
            arguments_schema=schema,
            function=calling(function, context_name),
            side_effects=side_effects,
        )


@overload
def tool(function: Callable[..., Any], /) -> ToolSpec: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, side_effects: bool = False
) -> Callable[[Callable[..., Any]], ToolSpec]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
) -> ToolSpec | Callable[[Callable[..., Any]], ToolSpec]:
    """Decorator: ``@tool`` or ``@tool(side_effects=True)`` makes a typed function a
    ``ToolSpec`` (see ``ToolSpec.from_function``) to hand to ``register``."""

    def make(fn: Callable[..., Any]) -> ToolSpec:
        return ToolSpec.from_function(
            fn, name=name, description=description, side_effects=side_effects
        )

    return make(function) if function is not None else make


Item = TypeVar("Item", ConnectorType, ToolSpec)


@dataclass(frozen=True)
class CatalogEntry(Generic[Item]):
    """A contribution and the plugin that made it."""

    plugin: str
    item: Item


@dataclass
class PluginCatalog:
    """Everything the loaded plugins registered, keyed by name."""

    connector_types: dict[str, CatalogEntry[ConnectorType]] = field(default_factory=dict)
    tools: dict[str, CatalogEntry[ToolSpec]] = field(default_factory=dict)

    def connector_type(self, name: str) -> ConnectorType | None:
        entry = self.connector_types.get(name)
        return entry.item if entry else None

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` contributed (it was blocked)."""
        for table in (self.connector_types, self.tools):
            for name in [n for n, e in table.items() if e.plugin == plugin]:
                del table[name]

    def add(self, plugin: str, item: object) -> None:
        """Validate and file one contribution; raise ``ContributionError`` if it is refused."""
        if isinstance(item, ConnectorType):
            _check_schema(item.name, item.config_schema)
            _check_secrets_are_top_level(item)
            if not callable(item.open_source):
                raise ContributionError(
                    f"connector type {item.name!r}: open_source is not callable"
                )
            for hook in ("checkout", "validate_config"):
                if getattr(item, hook) is not None and not callable(getattr(item, hook)):
                    raise ContributionError(f"connector type {item.name!r}: {hook} is not callable")
            self._file(self.connector_types, "connector type", plugin, item)
        elif isinstance(item, ToolSpec):
            if item.name in BUILTIN_TOOL_NAMES:
                raise ContributionError(f"tool name {item.name!r} is taken by a built-in tool")
            _check_schema(item.name, item.arguments_schema)
            if not callable(item.function):
                raise ContributionError(f"tool {item.name!r}: function is not callable")
            self._file(self.tools, "tool", plugin, item)
        else:
            raise ContributionError(
                f"expected ConnectorType or ToolSpec, got {type(item).__name__}"
            )

    @staticmethod
    def _file(table: dict[str, CatalogEntry[Item]], kind: str, plugin: str, item: Item) -> None:
        if not NAME.fullmatch(item.name):
            raise ContributionError(
                f"{kind} name {item.name!r} must be 1-64 lowercase letters, digits, _ or -"
            )
        if item.name in table:
            owner = table[item.name].plugin
            raise ContributionError(
                f"{kind} {item.name!r} is already registered by plugin {owner!r}"
            )
        table[item.name] = CatalogEntry(plugin, item)


def object_schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema of ``"type": "object"``, or None if it is."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return 'schema must be a JSON Schema with "type": "object"'
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"invalid JSON Schema: {exc.message}"
    return _reference_problem(schema, schema)


def _reference_problem(schema: dict[str, Any], node: Any) -> str | None:
    """Why a ``$ref`` in ``schema`` cannot be followed: only references inside the
    schema itself are allowed (a remote one would be fetched, or fail, at call time)."""
    if isinstance(node, list):
        return next(filter(None, (_reference_problem(schema, n) for n in node)), None)
    if not isinstance(node, dict):
        return None
    for key in ("$ref", "$dynamicRef"):
        ref = node.get(key)
        if isinstance(ref, str):
            if not ref.startswith("#"):
                return f"{key} {ref!r}: only references inside the schema (#/…) are allowed"
            try:
                DRAFT202012.create_resource(schema).pointer(ref[1:], Registry().resolver())
            except (Unresolvable, KeyError, IndexError, ValueError):
                return f"{key} {ref!r} points at nothing in the schema"
    return next(filter(None, (_reference_problem(schema, v) for v in node.values())), None)


def _check_schema(name: str, schema: dict[str, Any]) -> None:
    problem = object_schema_problem(schema)
    if problem is not None:
        raise ContributionError(f"{name!r}: {problem}")


def _check_secrets_are_top_level(ctype: ConnectorType) -> None:
    """Refuse ``writeOnly`` anywhere but on top-level properties.

    The server splits secrets from the plain config by top-level key; a nested
    secret would be stored and returned as plain config.
    """
    allowed = {id(v) for v in ctype.config_schema.get("properties", {}).values()}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("writeOnly") and id(node) not in allowed:
                raise ContributionError(
                    f"{ctype.name!r}: writeOnly at {path or '/'} is not supported; "
                    "mark only top-level properties as secrets"
                )
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(ctype.config_schema, "")
