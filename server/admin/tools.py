"""Per-project enablement of the tools plugins contribute (off until an admin enables one)."""

from __future__ import annotations

from dataclasses import dataclass

from ..access import Access
from ..auth import Principal
from ..errors import InvalidArgument, NotFound
from ..models import ProjectRole, ToolSetting, utcnow
from ..paging import page_sorted
from ..registry import PluginCatalog, ToolSpec
from ..store import Store


@dataclass(frozen=True)
class ProjectToolView:
    spec: ToolSpec
    plugin: str
    enabled: bool


class ProjectTools:
    def __init__(self, store: Store, access: Access, catalog: PluginCatalog) -> None:
        self._store = store
        self._access = access
        self._catalog = catalog

    def list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[list[ProjectToolView], str]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        enabled = {s.tool: s.enabled for s in self._store.list_tool_settings(project.id)}
        views = [
            ProjectToolView(entry.item, entry.plugin, enabled.get(name, False))
            for name, entry in sorted(self._catalog.tools.items())
        ]
        listing = f"tools:{project.id}"
        return page_sorted(listing, views, lambda v: v.spec.name, page_size, page_token)

    def set_enabled(
        self, principal: Principal, project_ref: str, tool: str, enabled: bool
    ) -> ProjectToolView:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        if not tool:
            raise InvalidArgument("tool", "must not be empty")
        entry = self._catalog.tools.get(tool)
        if entry is None:
            raise NotFound(f"tool {tool!r} not found")
        self._store.set_tool_setting(ToolSetting(project.id, tool, enabled, utcnow()))
        return ProjectToolView(entry.item, entry.plugin, enabled)
