"""Script tools in ``MongoStore``: one ``custom_tools`` collection, unique by project and name.

A mixin on the collections and error mapping ``MongoStore`` provides.
"""

from __future__ import annotations

from typing import TypeVar

from ..models import CustomTool, PageRequest
from .codec import MONGO
from .plumbing import MongoPlumbing, tool_taken

T = TypeVar("T")

# collection -> indexes as (keys, unique); the unique one also serves listings by name.
TOOL_INDEXES: dict[str, list[tuple[list[str], bool]]] = {
    "custom_tools": [(["project_id", "name"], True)],
}
# (collection, field) deleted with the project.
TOOL_PROJECT_COLLECTIONS = (("custom_tools", "project_id"),)

_FIXED = ("_id", "project_id", "name", "created_at")


class MongoCustomTools(MongoPlumbing):
    def create_custom_tool(self, tool: CustomTool) -> None:
        self._insert("custom_tools", MONGO.fields(tool), tool_taken(tool))

    def get_custom_tool(self, project_id: str, name: str) -> CustomTool | None:
        query = {"project_id": project_id, "name": name}
        return self._find_one("custom_tools", query, MONGO.reader(CustomTool))

    def update_custom_tool(self, tool: CustomTool) -> bool:
        changes = {k: v for k, v in MONGO.fields(tool).items() if k not in _FIXED}
        with self._errors(tool_taken(tool)):
            found = self._cols["custom_tools"].update_one({"_id": tool.id}, {"$set": changes})
        return found.matched_count > 0

    def delete_custom_tool(self, project_id: str, name: str) -> bool:
        return self._delete("custom_tools", {"project_id": project_id, "name": name})

    def list_custom_tools(self, project_id: str, page: PageRequest) -> list[CustomTool]:
        query = {"project_id": project_id}
        return self._find_page("custom_tools", query, "name", page, MONGO.reader(CustomTool))
