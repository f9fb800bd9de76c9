"""The tools an agent is offered, from the ToolsService catalog.

The catalog (``ToolsService.ListTools``) is the one source of truth for every tool's
name, description and JSON Schema: the built-ins the chat agent uses and the project's
enabled plugin and script tools. Two tools that are not in the catalog are added here —
``ask`` (its ``question`` takes the catalog's ``search.query`` schema) and
``list_projects`` — and tools with side effects are left out unless the MCP server was
started with ``--allow-side-effects``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from projectqa.client import AsyncServerCalls as ServerCalls
from projectqa.v1 import tools_pb2

logger = logging.getLogger(__name__)

ASK = "ask"
LIST_PROJECTS = "list_projects"
# The MCP server's own tools: a catalog entry by one of these names is left out.
RESERVED = frozenset({ASK, LIST_PROJECTS})
OWN = "mcp"  # the origin of the MCP server's own tools
SEARCH = "search"
PROJECT_FIELD = "project"
CATALOG_TTL_S = 60.0

_ORIGINS = {
    tools_pb2.TOOL_ORIGIN_BUILTIN: "builtin",
    tools_pb2.TOOL_ORIGIN_PLUGIN: "plugin",
    tools_pb2.TOOL_ORIGIN_SCRIPT: "script",
}


@dataclass(frozen=True)
class CatalogTool:
    """One tool as the catalog describes it (``schema`` is its arguments' JSON Schema)."""

    name: str
    description: str
    schema: dict[str, Any]
    side_effects: bool = False
    origin: str = "builtin"


def from_proto(tool: tools_pb2.Tool) -> CatalogTool:
    schema = json_format.MessageToDict(tool.arguments_schema)
    return CatalogTool(
        tool.name,
        tool.description,
        _whole_numbers(schema),
        tool.side_effects,
        _ORIGINS.get(tool.origin, "builtin"),
    )


def _whole_numbers(value: Any) -> Any:
    # A Struct holds every number as a double: "maximum": 100.0 must read 100 again.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


def own_tools(search_schema: dict[str, Any]) -> list[CatalogTool]:
    """``ask`` and ``list_projects``: the MCP server's tools beyond the catalog."""
    question = copy.deepcopy(search_schema["properties"]["query"])
    ask_schema = {
        "type": "object",
        "properties": {
            "question": {**question, "description": "the question, in plain words"},
            "extractive": {
                "type": "boolean",
                "default": False,
                "description": "answer with the best cited passages even when an LLM is set up",
            },
        },
        "required": ["question"],
        "additionalProperties": False,
    }
    return [
        CatalogTool(
            ASK,
            "Answer a question about the project with verified citations (path:start-end); "
            "the project's LLM writes the answer, or the best passages are quoted when none "
            "is configured.",
            ask_schema,
            origin=OWN,
        ),
        CatalogTool(
            LIST_PROJECTS,
            "List the ProjectQA projects this token can read: slug, name, description.",
            {"type": "object", "properties": {}, "additionalProperties": False},
            origin=OWN,
        ),
    ]


def without_reserved(tools: Iterable[CatalogTool], project: str) -> list[CatalogTool]:
    """The catalog less any tool named like one of the MCP server's own (a plugin or
    script tool called ``ask`` would hide the real one), each left out with a warning."""
    kept = []
    for tool in tools:
        if tool.name in RESERVED:
            logger.warning(
                "project %s: the %s tool %r is not offered over MCP: the name is the MCP "
                "server's own tool's",
                project, tool.origin, tool.name,
            )  # fmt: skip
        else:
            kept.append(tool)
    return kept


def offered(tools: Iterable[CatalogTool], allow_side_effects: bool) -> list[CatalogTool]:
    """The tools an agent may call: catalog order, side-effecting ones only when allowed."""
    return [tool for tool in tools if allow_side_effects or not tool.side_effects]


def input_schema(tool: CatalogTool, project_fixed: bool) -> dict[str, Any]:
    """The tool's catalog schema; with no fixed project, plus a required ``project``."""
    if project_fixed or tool.name == LIST_PROJECTS:
        return tool.schema
    schema = copy.deepcopy(tool.schema)
    properties = schema.setdefault("properties", {})
    properties[PROJECT_FIELD] = {
        "type": "string",
        "minLength": 1,
        "description": "project slug or id (see list_projects)",
    }
    schema["required"] = [PROJECT_FIELD, *schema.get("required", [])]
    return schema


def builtin_fallback() -> list[CatalogTool]:
    """The built-ins from the server's own definitions, for a token that sees no project
    (ListTools needs one): the same dictionary ListTools builds its entries from."""
    from projectqa.server.tools.builtins import BUILTINS

    return [
        CatalogTool(name, description, copy.deepcopy(schema))
        for name, (description, schema) in sorted(BUILTINS.items())
    ]


class CatalogCache:
    """ListTools answers by (token, project), kept for a minute: enabling a plugin tool
    shows up without a restart, and a tools/list burst costs one RPC."""

    def __init__(self, ttl_s: float = CATALOG_TTL_S, size: int = 256) -> None:
        self._ttl_s = ttl_s
        self._size = size
        self._entries: dict[tuple[str, str], tuple[float, list[CatalogTool]]] = {}

    async def tools(self, calls: ServerCalls, token: str, project: str) -> list[CatalogTool]:
        key = (token, project)
        cached = self._entries.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        listed = [from_proto(tool) for tool in await calls.list_tools(project)]
        tools = without_reserved(listed, project)
        if len(self._entries) >= self._size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic(), tools)
        return tools
