"""Loads plugins from the ``projectqa`` entry points into a per-server catalog.

Built once per server instance (never at import). A plugin that fails to
import, does not match the hook specs, or raises while registering is blocked
and logged; the server starts without it.

Every entry point seen is recorded (``PluginRecord``: distribution, version,
module, hooks, why it was blocked) for ``AdminService.ListPlugins``. Two entry
points with one name (two distributions declaring ``[projectqa] foo``): the
first in ``importlib.metadata`` order — the order of ``sys.path``, as Python
would import — is loaded; the other is recorded as blocked with a reason naming
both distributions, and the first keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from . import hookspecs
from .registry import ContributionError, PluginCatalog, ToolSpec

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "projectqa"
REGISTER_HOOKS = ("projectqa_register_connectors", "projectqa_register_tools")


@dataclass(frozen=True)
class PluginRecord:
    """One entry point (or plugin handed in directly) and what became of it."""

    name: str
    distribution: str = ""  # "" for plugins handed in directly (tests)
    version: str = ""
    module: str = ""  # the entry point's value, e.g. "projectqa.plugins.git"
    hooks: tuple[str, ...] = ()  # the projectqa_* hooks it implements
    blocked_reason: str = ""  # "" when it loaded

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_reason)

    @property
    def shown(self) -> str:
        """How messages name it: the entry point and its distribution."""
        where = " ".join(p for p in (self.distribution, self.version) if p)
        return f"{self.name!r} ({where})" if where else repr(self.name)


@dataclass
class PluginHost:
    """The plugin manager, what it loaded, and what was blocked and why."""

    manager: pluggy.PluginManager
    catalog: PluginCatalog = field(default_factory=PluginCatalog)
    # Entry-point names whose plugin is not in use, and why. A duplicate entry point is
    # not here (its name belongs to the first one, which works): see ``records``.
    blocked: dict[str, str] = field(default_factory=dict)
    records: list[PluginRecord] = field(default_factory=list)


def load_plugins(
    allow: list[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
    *,
    found: Iterable[EntryPoint] | None = None,
) -> PluginHost:
    """Load entry-point plugins (only those named in ``allow`` when given) plus ``extra``.

    ``extra`` holds ``(name, plugin)`` pairs registered directly, as tests do;
    ``found`` replaces the installed entry points (tests that must not see what
    happens to be installed).
    """
    host = PluginHost(_new_manager())
    _load_entry_points(host, allow, found)
    for name, plugin in extra:
        _register(host, PluginRecord(name, module=_module_of(plugin)), _loaded(plugin))
    _drop_unverified(host)
    for hook in REGISTER_HOOKS:
        _collect(host, hook)
    return host


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _load_entry_points(
    host: PluginHost, allow: list[str] | None, found: Iterable[EntryPoint] | None
) -> None:
    points = list(entry_points(group=ENTRY_POINT_GROUP) if found is None else found)
    for ep in points:
        if allow is None or ep.name in allow:
            _register(host, _record_of(ep), ep.load)
    missing = sorted(set(allow or ()) - {ep.name for ep in points})
    if missing:
        log.warning("PROJECTQA_PLUGINS names unknown plugins", extra={"plugins": missing})


def _record_of(ep: EntryPoint) -> PluginRecord:
    dist = ep.dist
    if dist is None:
        return PluginRecord(ep.name, module=ep.value)
    return PluginRecord(ep.name, dist.name or "", dist.version or "", ep.value)


def _module_of(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__module__


def _loaded(plugin: object) -> Callable[[], object]:
    """A loader for a plugin object already in hand (as an entry point's ``load``)."""
    return lambda: plugin


def _register(host: PluginHost, record: PluginRecord, load: Callable[[], object]) -> None:
    first = next((r for r in host.records if r.name == record.name), None)
    if first is not None:
        reason = (
            f"duplicate entry point name: {record.shown} is also declared by {first.shown}, "
            "which was found first and keeps the name; rename one of them"
        )
        host.records.append(replace(record, blocked_reason=reason))
        log.error("plugin blocked", extra={"plugin": record.name, "reason": reason})
        return
    host.records.append(record)
    try:
        plugin = load()
        _note(host, record.name, hooks=_hooks_of(host.manager, plugin))
        host.manager.register(plugin, name=record.name)
    except Exception as exc:  # a broken plugin must never stop the server
        _block(host, record.name, f"failed to load: {exc!r}")


def _hooks_of(manager: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    """The ``projectqa_*`` hooks ``plugin`` implements, as pluggy would find them."""
    hooks = set()
    for attribute in dir(plugin):
        opts = manager.parse_hookimpl_opts(plugin, attribute)
        hook = (opts.get("specname") or attribute) if opts is not None else "_"
        if not hook.startswith("_"):  # pluggy, too, leaves private names unchecked
            hooks.add(hook)
    return tuple(sorted(hooks))


def _note(host: PluginHost, name: str, **changes: Any) -> None:
    """Update the record of the loaded (first) entry point called ``name``."""
    for index, record in enumerate(host.records):
        if record.name == name:
            host.records[index] = replace(record, **changes)
            return


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
                host.catalog.add(impl.plugin_name, _contribution(hook_name, item))
            except ContributionError as exc:
                log.error(
                    "plugin contribution rejected",
                    extra={"plugin": impl.plugin_name, "hook": hook_name, "reason": str(exc)},
                )


def _contribution(hook_name: str, item: object) -> object:
    """A plain typed function handed to the tools hook's ``register`` is a tool (its
    schema from the signature, as ``ToolSpec.from_function``)."""
    if hook_name != "projectqa_register_tools" or isinstance(item, (ToolSpec, type)):
        return item
    return ToolSpec.from_function(item) if callable(item) else item


def _block(host: PluginHost, name: str, reason: str) -> None:
    host.blocked[name] = reason
    _note(host, name, blocked_reason=reason)
    host.catalog.remove_plugin(name)
    if host.manager.is_registered(host.manager.get_plugin(name)):
        host.manager.unregister(name=name)
    host.manager.set_blocked(name)
    log.error("plugin blocked", extra={"plugin": name, "reason": reason})
