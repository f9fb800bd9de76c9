"""What the Store mixins (ingestion, script tools) use of their backend class.

``SqliteStore`` and ``MongoStore`` define these helpers; the mixins inherit the
declarations here so each is typed once, not once per mixin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from ..models import ChatTurn, CustomTool, PageRequest

if TYPE_CHECKING:
    from pymongo.collection import Collection

T = TypeVar("T")


class SqlitePlumbing:
    if TYPE_CHECKING:  # provided by SqliteStore

        def _write(
            self, taken: str | None = None
        ) -> AbstractContextManager[sqlite3.Connection]: ...
        def _rows(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]: ...
        def _one(
            self, sql: str, params: Sequence[Any], convert: Callable[[Any], T]
        ) -> T | None: ...
        def _many(
            self, sql: str, params: Sequence[Any], convert: Callable[[Any], T]
        ) -> list[T]: ...
        def _execute(self, sql: str, params: Any, taken: str | None = None) -> int: ...


class MongoPlumbing:
    if TYPE_CHECKING:  # provided by MongoStore
        _cols: dict[str, Collection[dict[str, Any]]]

        def _errors(self, taken: str | None = None) -> AbstractContextManager[None]: ...
        def _find_one(
            self, name: str, query: Mapping[str, Any], convert: Callable[[Any], T]
        ) -> T | None: ...
        def _find_page(
            self,
            name: str,
            query: Mapping[str, Any],
            key: str,
            page: PageRequest,
            convert: Callable[[Any], T],
        ) -> list[T]: ...
        def _insert(self, name: str, doc: dict[str, Any], taken: str) -> None: ...
        def _delete(self, name: str, query: Mapping[str, Any]) -> bool: ...


def tool_taken(tool: CustomTool) -> str:
    """The AlreadyExists message for a script tool whose name the project has."""
    return f"tool {tool.name!r} already exists in project {tool.project_id!r}"


def turn_taken(turn: ChatTurn) -> str:
    """The AlreadyExists message for a turn whose ``seq`` the chat has (another turn
    started first)."""
    return f"chat {turn.chat_id!r} already has turn {turn.seq}"
