"""Which ProjectQA project an editor's workspace is, and where its cited files are on disk.

A project is named by the settings, or inferred from the workspace folder: the project
with the connector that fits the folder closest, else the one whose slug is the folder's
name. A connector fits when the folder it indexes on this machine is or holds the workspace
folder (a ``local`` connector's ``path``; a ``git`` connector's ``url`` when that is a local
repository, as ``projectqa quickstart`` creates, joined with its ``subdirectory``), or when
it is a ``git`` connector of the checkout's ``origin`` remote (the checkout's top joined
with its ``subdirectory``). The deepest fit wins (a project of one package beats a project
of the whole monorepo); a remote fits just below a connector folder at the same depth, and
a git connector whose repository holds the folder outside its ``subdirectory`` fits as deep
as the repository, below both. Folders are compared resolved (symlinks followed).

A git connector's paths are relative to its repository, ``subdirectory`` or not, so its
files map onto the repository's folder (the local one, or the checkout of its remote).
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from google.protobuf import json_format

from projectqa.lsp.server_calls import ServerCalls
from projectqa.v1 import admin_pb2, common_pb2

GIT_TIMEOUT_S = 5.0
MAX_PROJECTS_SCANNED = 200
CONNECTOR_LISTS_AT_ONCE = 8  # ListConnectors calls in flight while inferring the project


class ProjectNotResolved(Exception):
    """No project, or more than one, fits the workspace; the message says which."""


@dataclass(frozen=True, slots=True)
class ProjectView:
    """The project the bridge answers for, and how its connectors map onto this machine."""

    id: str
    slug: str
    workspace: Path | None  # the editor's first workspace folder
    # Folders that exist on this machine, which a connector's paths are relative to.
    connector_roots: dict[str, Path] = field(default_factory=dict)

    def relative(self, path: Path) -> str:
        """``path`` as the project names it: relative to the deepest connector folder
        holding it, else to the workspace folder; else just its name."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            resolved = path
        roots = sorted(self.connector_roots.values(), key=lambda root: -len(root.parts))
        for root in roots:
            if root in resolved.parents:
                return resolved.relative_to(root).as_posix()
        if self.workspace is not None and self.workspace in path.parents:
            return path.relative_to(self.workspace).as_posix()
        return path.name

    def file(self, connector_id: str, path: str) -> Path | None:
        """Where ``path`` of ``connector_id`` is on this machine, if the file is there."""
        root = self.connector_roots.get(connector_id) or self.workspace
        if root is None or not path:
            return None
        # The server's paths are relative and confined already; a path that still leads
        # out of the root (``..``, absolute, a symlink) is not offered to the editor.
        try:
            candidate = (root / path).resolve()
            if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
                return None
        except (OSError, RuntimeError):
            return None
        return root / path


def normalize_remote(url: str) -> str:
    """A git remote as ``host/owner/repo`` in lower case, so https and ssh forms compare equal."""
    url = url.strip().lower()
    url = re.sub(r"^[a-z+]+://", "", url)  # scheme
    url = re.sub(r"^[^@/]+@", "", url)  # user (and token) before the host
    url = re.sub(r"^([^/:]+):(?!\d+/)", r"\1/", url)  # scp form host:owner/repo
    url = re.sub(r":\d+/", "/", url)  # port
    return url.removesuffix("/").removesuffix(".git")


async def _git(folder: Path, *arguments: str) -> str:
    """What ``git -C folder ARGUMENTS`` prints, stripped; ``""`` if it fails or hangs."""
    try:
        process = await asyncio.create_subprocess_exec(
            "git", "-C", str(folder), *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:  # no git on this machine
        return ""
    try:
        out, _ = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        return ""
    return out.decode(errors="replace").strip() if process.returncode == 0 else ""


@dataclass(frozen=True, slots=True)
class Checkout:
    """The git checkout holding the workspace folder: its ``origin`` (normalised) and top."""

    remote: str = ""
    top: Path | None = None


async def checkout_of(folder: Path) -> Checkout:
    """The checkout holding ``folder``; empty outside one, or without an ``origin``."""
    remote = normalize_remote(await _git(folder, "config", "--get", "remote.origin.url"))
    top = await _git(folder, "rev-parse", "--show-toplevel") if remote else ""
    return Checkout(remote, Path(top).resolve() if top else None)


def _config(connector: admin_pb2.Connector) -> dict[str, object]:
    return json_format.MessageToDict(connector.config)


def _local_path(url: str) -> str | None:
    """The folder a git URL names on this machine (an absolute path or ``file://``), if any.

    Read as git reads it: ``file://<host>/<path>`` is the local ``/<path>``, ``%XX`` decoded.
    """
    if url.startswith("file://"):
        rest = url.removeprefix("file://")
        slash = rest.find("/")
        return unquote(rest[slash:]) if slash >= 0 else None
    return url if url.startswith("/") else None


def connector_root(connector: admin_pb2.Connector) -> Path | None:
    """The folder a connector reads, as this machine sees it (symlinks resolved): a
    ``local`` connector's ``path``, a ``git`` connector's local repository; else None."""
    config = _config(connector)
    if connector.type == "local":
        path = str(config.get("path") or "") or None
    elif connector.type == "git":
        path = _local_path(str(config.get("url") or ""))
    else:
        return None
    if not path:
        return None
    try:
        root = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # unreadable, a symlink loop
        return None
    return root.parent if root.name == ".git" else root  # a checkout named by its .git


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # under a folder this user may not read (the server's own)
        return False


def subdirectory(connector: admin_pb2.Connector) -> str:
    """The folder of its repository a ``git`` connector indexes, ``""`` for all of it (as
    plugins/builtin/git.py reads the setting; one it would refuse counts as all)."""
    if connector.type != "git":
        return ""
    raw = str(_config(connector).get("subdirectory") or "").strip().strip("/")
    normal = posixpath.normpath(raw) if raw else ""
    return "" if normal in ("", ".", "..") or normal.startswith("../") else normal


def _holds(outer: Path, folder: Path) -> bool:
    return folder == outer or outer in folder.parents


# How a connector fits, from the closest: its folder holds the workspace folder; the
# checkout of its remote does; its repository does, outside the connector's subdirectory.
FOLDER, REMOTE, REPOSITORY = 2, 1, 0
Fit = tuple[int, int]  # (depth of the folder fitted, FOLDER | REMOTE | REPOSITORY)


def _fit_in(repository: Path, scope: str, folder: Path, how: int) -> Fit | None:
    """How a connector indexing ``scope`` of ``repository`` fits ``folder``."""
    indexed = repository / scope if scope else repository
    if _holds(indexed, folder):
        return (len(indexed.parts), how)
    if _holds(repository, folder):
        return (len(repository.parts), REPOSITORY)
    return None


def _remote_matches(connector: admin_pb2.Connector, checkout: Checkout) -> bool:
    url = _config(connector).get("url") if connector.type == "git" else None
    return bool(checkout.remote and url and normalize_remote(str(url)) == checkout.remote)


def _connector_fit(connector: admin_pb2.Connector, folder: Path, checkout: Checkout) -> Fit | None:
    scope = subdirectory(connector)
    root = connector_root(connector)
    fit = _fit_in(root, scope, folder, FOLDER) if root is not None else None
    if fit is None and _remote_matches(connector, checkout):
        if checkout.top is None:  # git named the remote but not the top: fit it shallowest
            return (0, REMOTE)
        fit = _fit_in(checkout.top, scope, folder, REMOTE)
    return fit


def _fit(connectors: Sequence[admin_pb2.Connector], folder: Path, checkout: Checkout) -> Fit | None:
    """How closely a project's connectors fit ``folder`` (the closest one), None when none does.

    A connector's folder (with a git connector's ``subdirectory``) that is or holds
    ``folder`` fits as deep as it lies; a git connector of the checkout's ``origin`` fits
    the same way from the checkout's top, below a connector folder of the same depth (the
    checkout itself, as quickstart indexes it). A git connector whose repository holds
    ``folder`` outside its ``subdirectory`` fits as deep as the repository, below both: two
    projects of one repository's ``services/a`` and ``services/b`` are told apart inside
    either folder, and are both candidates at the repository's top.
    """
    fits = [fit for c in connectors if (fit := _connector_fit(c, folder, checkout)) is not None]
    return max(fits, default=None)


async def _connectors(client: ServerCalls, project: str) -> list[admin_pb2.Connector]:
    return [connector async for connector in client.list_connectors(project)]


def _view(
    found: common_pb2.Project,
    workspace: Path | None,
    connectors: list[admin_pb2.Connector],
    checkout: Checkout,
) -> ProjectView:
    roots: dict[str, Path] = {}
    for connector in connectors:
        root = connector_root(connector)
        if root is None and checkout.top is not None and _remote_matches(connector, checkout):
            root = checkout.top  # its paths are relative to the repository, so to the clone's top
        if root is not None and _is_dir(root):
            roots[connector.id] = root
    return ProjectView(found.id, found.slug, workspace, roots)


Candidate = tuple[common_pb2.Project, list[admin_pb2.Connector]]


@dataclass(frozen=True, slots=True)
class Matches:
    """The projects that fit a folder best, and whether some projects were not looked at."""

    candidates: list[Candidate]
    capped: bool

    def among(self) -> str:
        """What the message says of the projects looked at, when not all of them were."""
        return f" among the first {MAX_PROJECTS_SCANNED} projects" if self.capped else ""


async def resolve_project(
    client: ServerCalls, project: str | None, workspace: Path | None, setting: str
) -> ProjectView:
    """The project named by ``project`` (id or slug), else the one the workspace is.

    ``setting`` names where the user sets the project, for the messages (see editors.py).

    :raises ProjectNotResolved: nothing is named and the workspace fits no project, or
        several.
    :raises ClientError: the server refused (e.g. NOT_FOUND for a named project).
    """
    checkout = await checkout_of(workspace.resolve()) if workspace is not None else Checkout()
    if project:
        connectors = await _connectors(client, project)
        found = await client.get_project(project)
        return _view(found, workspace, connectors, checkout)
    if workspace is None:
        raise ProjectNotResolved(
            f"no project is set and the editor opened no folder: set {setting}"
        )
    folder = workspace.resolve()
    matches = await _matches(client, folder, checkout)
    if len(matches.candidates) == 1:
        found, connectors = matches.candidates[0]
        return _view(found, workspace, connectors, checkout)
    if not matches.candidates:
        raise ProjectNotResolved(
            f"no project{matches.among()} indexes {folder}: set {setting} to its id or slug"
        )
    names = ", ".join(sorted(found.slug for found, _ in matches.candidates))
    raise ProjectNotResolved(
        f"several projects{matches.among()} index {folder} ({names}): set {setting} to one of them"
    )


async def _scanned(client: ServerCalls) -> tuple[list[Candidate], bool]:
    """The first MAX_PROJECTS_SCANNED projects with their connectors (listed a few at a
    time), and whether there were more."""
    projects: list[common_pb2.Project] = []
    capped = False
    async for found in client.list_projects():
        if len(projects) == MAX_PROJECTS_SCANNED:
            capped = True
            break
        projects.append(found)
    at_once = asyncio.Semaphore(CONNECTOR_LISTS_AT_ONCE)

    async def listed(found: common_pb2.Project) -> Candidate:
        async with at_once:
            return found, await _connectors(client, found.id)

    # A TaskGroup, so that one refused call cancels the others instead of leaving them
    # running; its error is raised as itself (a ClientError), as one call alone would.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(listed(found)) for found in projects]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks], capped


async def _matches(client: ServerCalls, folder: Path, checkout: Checkout) -> Matches:
    """The projects that fit ``folder`` best (see ``_fit``), else those named like it."""
    candidates, capped = await _scanned(client)
    fitting: list[tuple[Fit, Candidate]] = []
    by_name: list[Candidate] = []
    for candidate in candidates:
        fit = _fit(candidate[1], folder, checkout)
        if fit is not None:
            fitting.append((fit, candidate))
        elif candidate[0].slug == folder.name.lower():
            by_name.append(candidate)
    best = max((fit for fit, _ in fitting), default=None)
    closest = [match for fit, match in fitting if fit == best]
    # Several projects may index one folder (a staging copy, say): the folder's name decides.
    named = [match for match in closest if match[0].slug == folder.name.lower()]
    return Matches(named or closest or by_name, capped)
