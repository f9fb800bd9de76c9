"""What the plugin host loaded: ``AdminService.ListPlugins`` and ``projectqa plugins``.

One view per entry point the server saw (and per plugin handed in directly):
where it comes from (distribution, version, module), the hooks it implements,
what it registered, and, for one not in use, why. Any authenticated caller may
list them: names and versions of installed code, no configuration. Reasons name
files of the server (an exception's repr, pluggy's ``<module 'x' from '...'>``):
global admins get them in full, everyone else without the paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..auth import Principal
from ..plugin_host import PluginHost, PluginRecord, Reason
from ..registry import PluginCatalog


@dataclass(frozen=True)
class PluginView:
    """One plugin and what it contributed (nothing when it is blocked)."""

    record: PluginRecord
    connector_types: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    blocked_reason: str = ""  # as this caller may read it; "" when it loaded
    problems: tuple[str, ...] = ()  # contributions refused, as this caller may read them


class Plugins:
    def __init__(self, host: PluginHost | None) -> None:
        self._host = host

    def list(self, principal: Principal) -> list[PluginView]:
        """Every plugin by name; a duplicate entry point after the one that took its name."""
        if self._host is None:
            return []
        admin = principal.user.global_admin
        views = [_view(record, self._host.catalog, admin) for record in self._host.records]
        return sorted(views, key=lambda v: (v.record.name, v.record.blocked))


def _view(record: PluginRecord, catalog: PluginCatalog, admin: bool) -> PluginView:
    def said(reason: Reason) -> str:
        return reason.full if admin else reason.public

    problems = tuple(said(p) for p in record.problems)
    if record.why_blocked is not None:
        return PluginView(record, blocked_reason=said(record.why_blocked), problems=problems)
    types = tuple(sorted(n for n, e in catalog.connector_types.items() if e.plugin == record.name))
    tools = tuple(sorted(n for n, e in catalog.tools.items() if e.plugin == record.name))
    return PluginView(record, types, tools, problems=problems)
