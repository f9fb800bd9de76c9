"""Loads plugins from the ``projectqa`` entry points into a per-server catalog.

Built once per server instance (never at import). A plugin that fails to
import, does not match the hook specs, or raises while registering is blocked
and logged; the server starts without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .registry import ContributionError, PluginCatalog

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "projectqa"
REGISTER_HOOKS = ("projectqa_register_connectors", "projectqa_register_tools")


@dataclass
class PluginHost:
    """The plugin manager, what it loaded, and what was blocked and why."""

    manager: pluggy.PluginManager
    catalog: PluginCatalog = field(default_factory=PluginCatalog)
    blocked: dict[str, str] = field(default_factory=dict)


def load_plugins(
    allow: list[str] | None = None, extra: Iterable[tuple[str, object]] = ()
) -> PluginHost:
    """Load entry-point plugins (only those named in ``allow`` when given) plus ``extra``.

    ``extra`` holds ``(name, plugin)`` pairs registered directly, as tests do.
    """
    host = PluginHost(_new_manager())
    _load_entry_points(host, allow)
    for name, plugin in extra:
        _register(host, name, _loaded(plugin))
    _drop_unverified(host)
    for hook in REGISTER_HOOKS:
        _collect(host, hook)
    return host


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _load_entry_points(host: PluginHost, allow: list[str] | None) -> None:
    found = entry_points(group=ENTRY_POINT_GROUP)
    for ep in found:
        if allow is None or ep.name in allow:
            _register(host, ep.name, ep.load)
    missing = sorted(set(allow or ()) - {ep.name for ep in found})
    if missing:
        log.warning("PROJECTQA_PLUGINS names unknown plugins", extra={"plugins": missing})


def _loaded(plugin: object) -> Callable[[], object]:
    """A loader for a plugin object already in hand (as an entry point's ``load``)."""
    return lambda: plugin


def _register(host: PluginHost, name: str, load: Callable[[], object]) -> None:
    try:
        host.manager.register(load(), name=name)
    except Exception as exc:  # a broken plugin must never stop the server
        _block(host, name, f"failed to load: {exc!r}")


def _drop_unverified(host: PluginHost) -> None:
    """Block plugins whose hook implementations match no spec (typo'd names)."""
    while True:
        try:
            host.manager.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = host.manager.get_name(exc.plugin) or repr(exc.plugin)
            host.manager.unregister(exc.plugin)
            _block(host, name, str(exc))


def _collect(host: PluginHost, hook_name: str) -> None:
    """Call one register hook plugin by plugin, so a failure stays with its plugin."""
    for impl in getattr(host.manager.hook, hook_name).get_hookimpls():
        contributions: list[object] = []
        try:
            impl.function(**{arg: contributions.append for arg in impl.argnames})
        except Exception as exc:
            _block(host, impl.plugin_name, f"{hook_name} raised {exc!r}")
            continue
        for item in contributions:
            try:
                host.catalog.add(impl.plugin_name, item)
            except ContributionError as exc:
                log.error(
                    "plugin contribution rejected",
                    extra={"plugin": impl.plugin_name, "hook": hook_name, "reason": str(exc)},
                )


def _block(host: PluginHost, name: str, reason: str) -> None:
    host.blocked[name] = reason
    host.catalog.remove_plugin(name)
    if host.manager.is_registered(host.manager.get_plugin(name)):
        host.manager.unregister(name=name)
    host.manager.set_blocked(name)
    log.error("plugin blocked", extra={"plugin": name, "reason": reason})
