"""Loads plugins from the ``projectqa`` entry points into a per-server catalog.

Built once per server instance (never at import). A plugin that fails to
import, does not match the hook specs, or raises while registering is blocked
and logged; the server starts without it.

Every entry point seen is recorded (``PluginRecord``: distribution, version,
module, hooks, why it was blocked, contributions rejected) for
``AdminService.ListPlugins``; one left out by ``PROJECTQA_PLUGINS`` too, as not
loaded. Two entry points with one name (two distributions declaring
``[projectqa] foo``): the first in ``importlib.metadata`` order — the order of
``sys.path``, as Python would import — is loaded; the other is recorded as
blocked with a reason naming both distributions, and the first keeps working.

A reason is kept twice (``Reason``): in full for the log and global admins (an
exception's repr, pluggy's message: they name files of the server), and without
file paths for everyone else.
"""

from __future__ import annotations

import logging
import ntpath
import posixpath
import re
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
NOT_ALLOWED = "not in PROJECTQA_PLUGINS"

# pluggy names a module plugin as "<module 'x' from '/home/u/venv/.../x.py'>".
MODULE_FROM = re.compile(r"<module '([^']*)' from '[^']*'>")
# An absolute path (POSIX, Windows with a drive, a file: URL): a quoted one whole (it may
# hold spaces), else up to the next space or punctuation that ends a path in a message.
_ROOT = r"(?:file:/*)?(?:/|[A-Za-z]:\\)"
ABSOLUTE_PATH = re.compile(
    rf"(?<=')({_ROOT}[^']*)(?=')|(?<=\")({_ROOT}[^\"]*)(?=\")"
    rf"|(?:^|(?<=[\s(\[=]))({_ROOT}[^\s'\"<>(),;]*)"
)


def without_paths(text: str) -> str:
    """``text`` with every absolute file path cut to its last component (``…/x.py``)."""
    text = MODULE_FROM.sub(r"<module '\1'>", text)
    return ABSOLUTE_PATH.sub(_last_component, text)


def _last_component(found: re.Match[str]) -> str:
    path = next(group for group in found.groups() if group is not None)
    module = ntpath if re.match(r"(?:file:/*)?[A-Za-z]:\\", path) else posixpath
    return "…/" + module.basename(module.normpath(path))


@dataclass(frozen=True)
class Reason:
    """Why a plugin, or one thing it registered, is not in use."""

    full: str  # for the log and global admins: may name files of the server
    public: str  # for everyone else: the same without file paths

    @classmethod
    def of(cls, text: str) -> Reason:
        return cls(text, without_paths(text))

    @classmethod
    def of_exception(cls, prefix: str, exc: BaseException) -> Reason:
        """``prefix`` and the exception: its repr in full, its type and message in public."""
        shown = _printed(repr, exc)
        said = f"{type(exc).__name__}: {_printed(str, exc)}"
        return cls(f"{prefix}{shown}", without_paths(f"{prefix}{said}"))


def _printed(how: Callable[[object], str], exc: BaseException) -> str:
    """``repr`` or ``str`` of a plugin's exception, which may itself raise."""
    try:
        return how(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


@dataclass(frozen=True)
class PluginRecord:
    """One entry point (or plugin handed in directly) and what became of it."""

    name: str
    distribution: str = ""  # "" for plugins handed in directly (tests)
    version: str = ""
    module: str = ""  # the entry point's value, e.g. "projectqa.plugins.git"
    hooks: tuple[str, ...] = ()  # the projectqa_* hooks it implements
    why_blocked: Reason | None = None  # None when it loaded
    # Contributions refused one by one (the plugin's others are in use).
    problems: tuple[Reason, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.why_blocked is not None

    @property
    def blocked_reason(self) -> str:
        """The full reason ("" when it loaded): for the log and global admins."""
        return self.why_blocked.full if self.why_blocked else ""

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
    # Entry-point names whose plugin was tried and is not in use, and why (in full). A
    # duplicate entry point is not here (its name belongs to the first one, which works),
    # nor one PROJECTQA_PLUGINS leaves out: see ``records``.
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
        else:  # never imported, yet listed: a user can see what is installed but off
            host.records.append(replace(_record_of(ep), why_blocked=Reason.of(NOT_ALLOWED)))
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
    first = _record(host, record.name)
    if first is not None:
        reason = Reason.of(
            f"duplicate entry point name: {record.shown} is also declared by {first.shown}, "
            "which was found first and keeps the name; rename one of them"
        )
        host.records.append(replace(record, why_blocked=reason))
        log.error("plugin blocked", extra={"plugin": record.name, "reason": reason.full})
        return
    host.records.append(record)
    try:
        plugin = load()
        _note(host, record.name, hooks=_hooks_of(host.manager, plugin))
        host.manager.register(plugin, name=record.name)
    except Exception as exc:  # a broken plugin must never stop the server
        _block(host, record.name, Reason.of_exception("failed to load: ", exc))


def _hooks_of(manager: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    """The ``projectqa_*`` hooks ``plugin`` implements, as pluggy would find them."""
    hooks = set()
    for attribute in dir(plugin):
        opts = manager.parse_hookimpl_opts(plugin, attribute)
        if opts is None:
            continue
        hook = opts.get("specname") or attribute
        if not hook.startswith("_"):  # pluggy, too, leaves private names unchecked
            hooks.add(hook)
    return tuple(sorted(hooks))


def _note(host: PluginHost, name: str, **changes: Any) -> None:
    """Update the record of the loaded (first) entry point called ``name``."""
    for index, record in enumerate(host.records):
        if record.name == name:
            host.records[index] = replace(record, **changes)
            return


def _record(host: PluginHost, name: str) -> PluginRecord | None:
    return next((r for r in host.records if r.name == name), None)


def _drop_unverified(host: PluginHost) -> None:
    """Block plugins whose hook implementations match no spec (typo'd names)."""
    while True:
        try:
            host.manager.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = host.manager.get_name(exc.plugin) or repr(exc.plugin)
            host.manager.unregister(exc.plugin)
            _block(host, name, Reason.of(str(exc)))


def _collect(host: PluginHost, hook_name: str) -> None:
    """Call one register hook plugin by plugin, so a failure stays with its plugin."""
    for impl in getattr(host.manager.hook, hook_name).get_hookimpls():
        contributions: list[object] = []
        try:
            impl.function(**{arg: contributions.append for arg in impl.argnames})
        except Exception as exc:
            _block(host, impl.plugin_name, Reason.of_exception(f"{hook_name} raised ", exc))
            continue
        for item in contributions:
            _add(host, impl.plugin_name, hook_name, item)


def _add(host: PluginHost, plugin: str, hook_name: str, item: object) -> None:
    """One contribution into the catalog; a bad one is refused alone and noted on its plugin."""
    try:
        host.catalog.add(plugin, _contribution(hook_name, item))
        return
    except ContributionError as exc:
        problem, unexpected = Reason.of(str(exc)), False
    except Exception as exc:  # whatever a plugin hands in must never stop the server
        problem = Reason.of_exception(f"{hook_name}: {_described(item)} refused: ", exc)
        unexpected = True
    log.error(
        "plugin contribution rejected",
        extra={"plugin": plugin, "hook": hook_name, "reason": problem.full},
        exc_info=unexpected,  # a traceback where the cause is not a message of ours
    )
    record = _record(host, plugin)
    if record is not None:
        _note(host, plugin, problems=(*record.problems, problem))


def _described(item: object) -> str:
    """How a refused contribution is named: its name, else its type."""
    try:
        name = getattr(item, "name", None) or getattr(item, "__qualname__", None)
    except Exception:  # a property of the plugin's that raises
        name = None
    return repr(name) if isinstance(name, str) else f"a {type(item).__name__}"


def _contribution(hook_name: str, item: object) -> object:
    """A plain typed function handed to the tools hook's ``register`` is a tool (its
    schema from the signature, as ``ToolSpec.from_function``)."""
    if hook_name != "projectqa_register_tools" or isinstance(item, (ToolSpec, type)):
        return item
    return ToolSpec.from_function(item) if callable(item) else item


def _block(host: PluginHost, name: str, reason: Reason) -> None:
    host.blocked[name] = reason.full
    _note(host, name, why_blocked=reason)
    host.catalog.remove_plugin(name)
    if host.manager.is_registered(host.manager.get_plugin(name)):
        host.manager.unregister(name=name)
    host.manager.set_blocked(name)
    log.error("plugin blocked", extra={"plugin": name, "reason": reason.full})
