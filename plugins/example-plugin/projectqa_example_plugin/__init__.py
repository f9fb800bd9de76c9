"""An example third-party ProjectQA plugin: the ``rss`` connector (RSS 2.0 and Atom feeds)
and two tools: ``count_lines`` (an explicit JSON Schema) and ``find_markers`` (its schema
derived from a typed signature).

ProjectQA finds this module through the ``projectqa`` entry point declared in
this package's ``pyproject.toml`` and calls the hooks below once per server start.
Everything comes from ``projectqa.plugin``, ProjectQA's one public module for plugins.
"""

from __future__ import annotations

from collections.abc import Callable

from projectqa.plugin import ConnectorType, ToolSpec, hookimpl

from .feed import FEED_CONNECTOR
from .lines import COUNT_LINES_TOOL
from .markers import find_markers

__all__ = [
    "COUNT_LINES_TOOL",
    "FEED_CONNECTOR",
    "find_markers",
    "projectqa_register_connectors",
    "projectqa_register_tools",
]


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Register the ``rss`` connector type."""
    register(FEED_CONNECTOR)


@hookimpl
def projectqa_register_tools(register: Callable[[ToolSpec], None]) -> None:
    """Register the tools (each off in every project until an admin enables it)."""
    register(COUNT_LINES_TOOL)
    register(find_markers)
