"""Script tools in ``SqliteStore`` (schema: ``migrations/0004_custom_tools.sql``).

A mixin on the connection plumbing ``SqliteStore`` provides (``_write``,
``_one``, ``_many``, ``_execute``).
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from ..models import CustomTool, PageRequest
from .codec import SQLITE
from .plumbing import SqlitePlumbing, tool_taken

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


class SqliteCustomTools(SqlitePlumbing):
    def create_custom_tool(self, tool: CustomTool) -> None:
        with self._write(tool_taken(tool)) as conn:
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
