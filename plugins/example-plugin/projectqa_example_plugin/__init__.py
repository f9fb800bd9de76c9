"""An example third-party ProjectQA plugin: the ``rss`` connector (RSS 2.0 and Atom feeds).

ProjectQA finds this module through the ``projectqa`` entry point declared in
this package's ``pyproject.toml`` and calls the hooks below once per server start.
"""

from __future__ import annotations

from collections.abc import Callable

from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType

from .feed import FEED_CONNECTOR

__all__ = ["FEED_CONNECTOR", "projectqa_register_connectors"]


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Register the ``rss`` connector type."""
    register(FEED_CONNECTOR)
