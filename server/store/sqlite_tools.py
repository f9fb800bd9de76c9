"""Script tools in ``SqliteStore`` (schema: ``migrations/0004_custom_tools.sql``).

A mixin on the connection plumbing ``SqliteStore`` provides (``_write``,
``_one``, ``_many``, ``_execute``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from ..models import CustomTool, PageRequest
from .codec import SQLITE

T = TypeVar("T")

# (table, column) deleted with the project.
TOOL_PROJECT_TABLES = (("custom_tools", "project_id"),)

_COLUMNS = [f.name for f in dataclasses.fields(CustomTool)]
_INSERT = (
    f"INSERT INTO custom_tools ({', '.join(_COLUMNS)})"
    f" VALUES ({', '.join(':' + name for name in _COLUMNS)})"
)
# Everything but the identity (id, project, name) and the creation time.
_CHANGED = [c for c in _COLUMNS if c not in ("id", "project_id", "name", "created_at")]
_UPDATE = f"UPDATE custom_tools SET {', '.join(f'{c} = :{c}' for c in _CHANGED)} WHERE id = :id"


def _taken(tool: CustomTool) -> str:
    return f"tool {tool.name!r} already exists in project {tool.project_id!r}"


class SqliteCustomTools:
    if TYPE_CHECKING:  # provided by SqliteStore

        def _write(self, taken: str | None = None) -> AbstractContextManager[Any]: ...
        def _one(
            self, sql: str, params: Sequence[Any], convert: Callable[[Any], T]
        ) -> T | None: ...
        def _many(
            self, sql: str, params: Sequence[Any], convert: Callable[[Any], T]
        ) -> list[T]: ...
        def _execute(self, sql: str, params: Any, taken: str | None = None) -> int: ...

    def create_custom_tool(self, tool: CustomTool) -> None:
        with self._write(_taken(tool)) as conn:
            conn.execute(_INSERT, SQLITE.fields(tool))

    def get_custom_tool(self, project_id: str, name: str) -> CustomTool | None:
        sql = "SELECT * FROM custom_tools WHERE project_id = ? AND name = ?"
        return self._one(sql, (project_id, name), SQLITE.reader(CustomTool))

    def update_custom_tool(self, tool: CustomTool) -> bool:
        return self._execute(_UPDATE, SQLITE.fields(tool)) > 0

    def delete_custom_tool(self, project_id: str, name: str) -> bool:
        sql = "DELETE FROM custom_tools WHERE project_id = ? AND name = ?"
        return self._execute(sql, (project_id, name)) > 0

    def list_custom_tools(self, project_id: str, page: PageRequest) -> list[CustomTool]:
        sql = "SELECT * FROM custom_tools WHERE project_id = ? AND name > ? ORDER BY name LIMIT ?"
        args = (project_id, page.after or "", max(page.limit, 0))
        return self._many(sql, args, SQLITE.reader(CustomTool))
