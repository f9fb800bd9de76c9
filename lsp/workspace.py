"""Which ProjectQA project an editor's workspace is, and where its cited files are on disk.

A project is named by the settings, or inferred from the workspace folder: the project
with the connector that fits the folder closest, else the one whose slug is the folder's
name. A connector fits when its folder on this machine is or holds the workspace folder (a
``local`` connector's ``path``; a ``git`` connector's ``url`` when that is a local
repository, as ``projectqa quickstart`` creates), or when it is a ``git`` connector of the
checkout's ``origin`` remote. The deepest fit wins (a project of one package beats a
project of the whole monorepo); a remote fits as deep as the checkout's top, just below a
connector folder there. Folders are compared resolved (symlinks followed).
"""

from __future__ import annotations

import asyncio
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


class ProjectNotResolved(Exception):
    """No project, or more than one, fits the workspace; the message says which."""


@dataclass(frozen=True, slots=True)
class ProjectView:
    """The project the bridge answers for, and how its connectors map onto this machine."""

    id: str
    slug: str
    workspace: Path | None  # the editor's first workspace folder
    connector_roots: dict[str, Path] = field(default_factory=dict)  # local folders that exist

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


Fit = tuple[int, int]  # (depth of the folder fitted, 1 for a connector's folder, 0 for a remote)


def _fit(connectors: Sequence[admin_pb2.Connector], folder: Path, checkout: Checkout) -> Fit | None:
    """How closely a project's connectors fit ``folder``, None when none does.

    A connector's folder that is or holds ``folder`` fits as deep as it lies; a git
    connector of the checkout's ``origin`` fits as deep as the checkout's top, below a
    connector folder of the same depth (the checkout itself, as quickstart indexes it).
    """
    best: Fit | None = None
    for connector in connectors:
        root = connector_root(connector)
        url = _config(connector).get("url") if connector.type == "git" else None
        if root is not None and (folder == root or root in folder.parents):
            fit = (len(root.parts), 1)
        elif checkout.remote and url and normalize_remote(str(url)) == checkout.remote:
            fit = (len(checkout.top.parts) if checkout.top else 0, 0)
        else:
            continue
        best = fit if best is None else max(best, fit)
    return best


async def _connectors(client: ServerCalls, project: str) -> list[admin_pb2.Connector]:
    return [connector async for connector in client.list_connectors(project)]


def _view(
    project_id: str, slug: str, workspace: Path | None, connectors: list[admin_pb2.Connector]
) -> ProjectView:
    roots = {c.id: root for c in connectors if (root := connector_root(c)) and _is_dir(root)}
    return ProjectView(project_id, slug, workspace, roots)


Candidate = tuple[common_pb2.Project, list[admin_pb2.Connector]]


async def resolve_project(
    client: ServerCalls, project: str | None, workspace: Path | None, setting: str
) -> ProjectView:
    """The project named by ``project`` (id or slug), else the one the workspace is.

    ``setting`` names where the user sets the project, for the messages (see editors.py).

    :raises ProjectNotResolved: nothing is named and the workspace fits no project, or
        several.
    :raises ClientError: the server refused (e.g. NOT_FOUND for a named project).
    """
    if project:
        connectors = await _connectors(client, project)
        found = await client.get_project(project)
        return _view(found.id, found.slug, workspace, connectors)
    if workspace is None:
        raise ProjectNotResolved(
            f"no project is set and the editor opened no folder: set {setting}"
        )
    folder = workspace.resolve()
    matches = await _matches(client, folder)
    if len(matches) == 1:
        found, connectors = matches[0]
        return _view(found.id, found.slug, workspace, connectors)
    if not matches:
        raise ProjectNotResolved(f"no project indexes {folder}: set {setting} to its id or slug")
    names = ", ".join(sorted(found.slug for found, _ in matches))
    raise ProjectNotResolved(
        f"several projects index {folder} ({names}): set {setting} to one of them"
    )


async def _matches(client: ServerCalls, folder: Path) -> list[Candidate]:
    """The projects that fit ``folder`` best (see ``_fit``), else those named like it."""
    checkout = await checkout_of(folder)
    fitting: list[tuple[Fit, Candidate]] = []
    by_name: list[Candidate] = []
    scanned = 0
    async for candidate in client.list_projects():
        scanned += 1
        if scanned > MAX_PROJECTS_SCANNED:
            break
        connectors = await _connectors(client, candidate.id)
        fit = _fit(connectors, folder, checkout)
        if fit is not None:
            fitting.append((fit, (candidate, connectors)))
        elif candidate.slug == folder.name.lower():
            by_name.append((candidate, connectors))
    best = max((fit for fit, _ in fitting), default=None)
    closest = [match for fit, match in fitting if fit == best]
    # Several projects may index one folder (a staging copy, say): the folder's name decides.
    named = [match for match in closest if match[0].slug == folder.name.lower()]
    return named or closest or by_name
