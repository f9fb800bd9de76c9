"""Real git repositories on disk and the real connector types, for the tests of local
repositories and folders (data directory, swaps, links)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server.registry import ConnectorType, PluginCatalog


def git(repo: Path, *args: str) -> str:
    """``git -C repo args`` with a committer identity; its output, stripped."""
    identity = ("-c", "user.name=t", "-c", "user.email=t@t")
    done = subprocess.run(
        ["git", *identity, "-C", str(repo), *args], check=True, capture_output=True
    )
    return done.stdout.decode().strip()


def make_repo(repo: Path, text: str) -> str:
    """A repository at ``repo`` whose one commit holds ``f.txt`` = ``text``; its HEAD."""
    repo.mkdir(parents=True)
    (repo / "f.txt").write_text(f"{text}\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "x")
    return git(repo, "rev-parse", "HEAD")


def connector_type(name: str) -> ConnectorType:
    """The built-in ``local`` or ``git`` connector type, registered as the server does."""
    catalog = PluginCatalog()
    for plugin in (local_plugin, git_plugin):
        plugin.projectqa_register_connectors(lambda item: catalog.add("builtin", item))
    found = catalog.connector_type(name)
    assert found is not None
    return found
