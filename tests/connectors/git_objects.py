"""Commits written straight into a repository's object database, with no worktree.

``git hash-object``, ``git mktree -z`` and ``git commit-tree`` accept what no
worktree on this machine could hold and what ``git add`` refuses: paths past
PATH_MAX, names past NAME_MAX, ``.GIT`` or ``..`` as names, symlinks with
targets of any length, submodules (gitlinks) pointing at any commit. That is
what a hostile or foreign repository may hold.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .trees import COMPONENT, PATH_MAX

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com")


@dataclass(frozen=True)
class Symlink:
    target: bytes


@dataclass(frozen=True)
class Submodule:
    commit: str


Content = bytes | Symlink | Submodule


def git_bytes(repo: Path, *args: str, stdin: bytes = b"") -> bytes:
    done = subprocess.run(
        ["git", *IDENTITY, "-C", str(repo), *args], input=stdin, check=True, capture_output=True
    )
    return done.stdout


def bare_repository(path: Path) -> Path:
    path.mkdir(parents=True)
    git_bytes(path, "init", "-q", "--bare", "-b", "main")
    return path


def plumbed_commit(
    repo: Path, files: dict[bytes, Content], message: str = "plumbed", branch: str = "main"
) -> str:
    """Commit ``files`` (raw paths, ``/`` between names) on ``branch``, after its current tip."""
    tree = _tree(repo, files)
    tip = _tip(repo, branch)
    parents = ("-p", tip) if tip else ()
    commit = git_bytes(repo, "commit-tree", tree, *parents, "-m", message).decode().strip()
    git_bytes(repo, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def path_past_path_max(folder: bytes = b"deep", name: bytes = b"deep.py") -> bytes:
    """A relative path longer than PATH_MAX bytes: ``folder/ddd…/ddd…/…/name``."""
    parts = [folder]
    while len(b"/".join(parts)) <= PATH_MAX:
        parts.append(COMPONENT.encode())
    return b"/".join([*parts, name])


def _tip(repo: Path, branch: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _tree(repo: Path, files: dict[bytes, Content]) -> str:
    here: dict[bytes, Content] = {}
    below: dict[bytes, dict[bytes, Content]] = {}
    for path, content in files.items():
        head, slash, rest = path.partition(b"/")
        if slash:
            below.setdefault(head, {})[rest] = content
        else:
            here[head] = content
    records = [_record(repo, name, content) for name, content in here.items()]
    records += [b"040000 tree %s\t%s" % (_tree(repo, sub).encode(), n) for n, sub in below.items()]
    return git_bytes(repo, "mktree", "-z", stdin=b"".join(r + b"\0" for r in records)).decode()[:-1]


def _record(repo: Path, name: bytes, content: Content) -> bytes:
    if isinstance(content, Submodule):
        return b"160000 commit %s\t%s" % (content.commit.encode(), name)
    data, mode = (
        (content.target, b"120000") if isinstance(content, Symlink) else (content, b"100644")
    )
    sha = git_bytes(repo, "hash-object", "-w", "--stdin", stdin=data).strip()
    return b"%s blob %s\t%s" % (mode, sha, name)
