"""What the plugin host loaded: ``AdminService.ListPlugins`` and ``projectqa plugins``.

One view per entry point the server saw (and per plugin handed in directly):
where it comes from (distribution, version, module), the hooks it implements,
what it registered, and, for a blocked one, why. Any authenticated caller may
list them: names and versions of installed code, no configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..auth import Principal
from ..plugin_host import PluginHost, PluginRecord


@dataclass(frozen=True)
class PluginView:
    """One plugin and what it contributed (nothing when it is blocked)."""

    record: PluginRecord
    connector_types: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()


class Plugins:
    def __init__(self, host: PluginHost | None) -> None:
        self._host = host

    def list(self, principal: Principal) -> list[PluginView]:
        """Every plugin by name; a duplicate entry point after the one that took its name."""
        if self._host is None:
            return []
        catalog = self._host.catalog
        views = []
        for record in self._host.records:
            if record.blocked:
                views.append(PluginView(record))
                continue
            types = tuple(
                sorted(n for n, e in catalog.connector_types.items() if e.plugin == record.name)
            )
            tools = tuple(sorted(n for n, e in catalog.tools.items() if e.plugin == record.name))
            views.append(PluginView(record, types, tools))
        return sorted(views, key=lambda v: (v.record.name, v.record.blocked))
