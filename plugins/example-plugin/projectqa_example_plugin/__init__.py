"""An example third-party ProjectQA plugin: the ``rss`` connector (RSS 2.0 and Atom feeds)
and the ``count_lines`` tool.

ProjectQA finds this module through the ``projectqa`` entry point declared in
this package's ``pyproject.toml`` and calls the hooks below once per server start.
"""

from __future__ import annotations

from collections.abc import Callable

from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType, ToolSpec

from .feed import FEED_CONNECTOR
from .lines import COUNT_LINES_TOOL

__all__ = [
    "COUNT_LINES_TOOL",
    "FEED_CONNECTOR",
    "projectqa_register_connectors",
    "projectqa_register_tools",
]


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Register the ``rss`` connector type."""
    register(FEED_CONNECTOR)


@hookimpl
def projectqa_register_tools(register: Callable[[ToolSpec], None]) -> None:
    """Register the ``count_lines`` tool (off in every project until an admin enables it)."""
    register(COUNT_LINES_TOOL)
