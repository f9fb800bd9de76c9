"""The ``git`` connector: the files of one branch of a git repository.

A private clone lives in ``<work_dir>/checkout``; each run fetches the branch
into it and reads files from the object database at the fetched commit. At the
end of a run the clone's worktree is checked out at that commit (for tools that
grep and open files) and the last checkpoint names both:
``{"commit": sha, "checkout": path}`` with ``revision=sha``.

- Full run: every file at the commit; every ``CHECKPOINT_EVERY`` files a
  ``{"commit": sha, "after": key}`` checkpoint, which a resumed run continues
  from, at the same commit.
- Incremental run: ``git diff`` between the last indexed commit and the new one;
  a modified file that is now skipped (binary, too large) is also deleted. If the
  last commit is no longer in the clone, all files are read again, with a warning.

Keys are repository-relative paths, also with ``subdirectory``; ``exclude`` and
``include`` match them. Symlinks and submodules are never indexed; a symlink
pointing out of the repository is reported.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import (
    Checkpoint,
    Deletion,
    Estimate,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

from .files import CONFIG_PROPERTIES, FileRules, FileSkipped, decode_text, file_document
from .files import points_outside as link_points_outside
from .gitcli import FETCH_TIMEOUT_S, BlobReader, Cancelled, Git, GitError, Remote

CHECKPOINT_EVERY = 200
FETCHED_REF = "refs/projectqa/fetched"
SYMLINK_MODE = "120000"
BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[^\s:~^?*\[\\]+$")
AUTH_FAILED = re.compile(r"terminal prompts disabled|Authentication failed|HTTP 40[13]")
GITHUB = re.compile(
    r"^(?:https://(?:[^@/]+@)?github\.com/|ssh://git@github\.com/|git@github\.com:)"
    r"([\w.-]+)/([\w.-]+?)(?:\.git)?/?$"
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "description": "Repository URL (https, ssh, git@host:path, file://) or absolute path.",
        },
        "branch": {"type": "string", "description": "Branch or ref (default: the remote HEAD)."},
        "subdirectory": {"type": "string", "description": "Index only this folder."},
        **CONFIG_PROPERTIES,
        "token": {
            "type": "string",
            "writeOnly": True,
            "description": "Access token for https remotes (sent as basic auth).",
        },
        "webhook_secret": {
            "type": "string",
            "writeOnly": True,
            "description": "HMAC secret that push webhooks for this connector are signed with.",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of ``git ls-tree -r -l``."""

    key: str
    mode: str
    sha: str
    size: int
    name_ok: bool = True  # False: the path is not UTF-8 (its key has replacement characters)


class GitSource:
    """One pass over a branch (see the module doc)."""

    def __init__(self, context: SourceContext) -> None:
        config = context.config
        self.context = context
        self.remote = Remote(config.get("url", ""), config.get("token") or "")
        self.branch: str | None = config.get("branch") or None
        self.subdirectory = ""  # checked when the run starts
        self.rules = FileRules.from_config(config)
        self.checkout = context.work_dir / "checkout"
        self.git = Git(self.checkout, self.remote, context.cancelled, context.work_dir)
        self.web_base = github_web_base(self.remote.display)

    def items(self) -> Iterator[SourceItem]:
        try:
            yield from self._items()
        except GitError as exc:
            raise SourceError(str(exc)) from None
        except Cancelled:
            return

    def _items(self) -> Iterator[SourceItem]:
        self._check_config()
        self._prepare_clone()
        cursor = self.context.cursor or {}
        last = cursor.get("commit")
        if "after" in cursor and last and self._has_commit(last):
            commit = last  # resume the interrupted full scan where it stopped
            yield from self._all_files(commit, after=cursor["after"])
        else:
            commit = self._fetch()
            if self.context.full or not last:
                yield from self._all_files(commit)
            elif self._has_commit(last):
                yield from self._changes(last, commit)
            else:
                yield SourceWarning("", f"last indexed commit {last[:12]} is gone; reading all")
                yield from self._all_files(commit)
        if self.context.cancelled():
            return
        self._check_out(commit)
        yield Checkpoint({"commit": commit, "checkout": str(self.checkout)}, revision=commit)

    def _check_config(self) -> None:
        try:
            self.remote.check()
        except GitError as exc:
            raise SourceError(str(exc)) from None
        if self.branch is not None and not BRANCH.match(self.branch):
            raise SourceError(f"invalid branch name {self.branch!r}")
        self.subdirectory = _subdirectory(self.context.config.get("subdirectory") or "")

    def _prepare_clone(self) -> None:
        if (self.checkout / ".git").is_dir():
            return
        if self.checkout.exists():  # a clone whose creation was cut short
            shutil.rmtree(self.checkout)
        self.checkout.mkdir(parents=True)
        self.git.run("init", "--quiet", "--template=")

    def _fetch(self) -> str:
        source = self.branch or "HEAD"
        try:
            self.git.run(
                *("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--"),
                *(self.remote.display, f"+{source}:{FETCHED_REF}"),
                with_token=True,
                timeout=FETCH_TIMEOUT_S,
            )
        except GitError as exc:
            where = self.remote.display
            if AUTH_FAILED.search(str(exc)):
                raise SourceError(f"cannot fetch {where}: authentication failed ({exc})") from None
            if "couldn't find remote ref" not in str(exc):
                raise SourceError(f"cannot fetch {where}: {exc}") from None
            if self.branch:
                raise SourceError(f"branch {self.branch!r} not found in {where}") from None
            raise SourceError(f"{where} has no default branch (is it empty?)") from None
        return self.git.run("rev-parse", "--verify", f"{FETCHED_REF}^{{commit}}").decode().strip()

    def _has_commit(self, sha: str) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{40,64}", sha)) and self.git.ok(
            "cat-file", "-e", f"{sha}^{{commit}}"
        )

    def _tree(self, commit: str) -> list[TreeEntry]:
        if self.subdirectory and not self.git.ok("cat-file", "-e", f"{commit}:{self.subdirectory}"):
            raise SourceError(f"subdirectory {self.subdirectory!r} not found at {commit[:12]}")
        scope = ["--", self.subdirectory] if self.subdirectory else []
        out = self.git.run("ls-tree", "-r", "-z", "-l", "--full-tree", commit, *scope)
        return sorted((_tree_entry(r) for r in out.split(b"\0") if r), key=lambda e: e.key)

    def _all_files(self, commit: str, after: str | None = None) -> Iterator[SourceItem]:
        entries = [
            e
            for e in self._tree(commit)
            if (after is None or e.key > after) and self.rules.takes(e.key)
        ]
        yield Estimate(len(entries))
        with BlobReader(self.checkout) as blobs:
            for position, entry in enumerate(entries, start=1):
                if self.context.cancelled():
                    return
                yield from self._file_items(entry, commit, blobs)
                if position % CHECKPOINT_EVERY == 0:
                    yield Checkpoint({"commit": commit, "after": entry.key})

    def _changes(self, old: str, new: str) -> Iterator[SourceItem]:
        scope = ["--", self.subdirectory] if self.subdirectory else []
        out = self.git.run("diff", "--name-status", "-z", "-M", "--no-ext-diff", old, new, *scope)
        tree = {entry.key: entry for entry in self._tree(new)}
        with BlobReader(self.checkout) as blobs:
            for status, paths in _parse_name_status(out):
                if self.context.cancelled():
                    return
                if status in "DR":
                    yield Deletion(paths[0])
                if status in "AMTRC" and (entry := tree.get(paths[-1])):
                    items = list(self._file_items(entry, new, blobs))
                    yield from items
                    if status in "MT" and not any(isinstance(i, SourceDocument) for i in items):
                        yield Deletion(entry.key)  # indexed before, skipped now

    def _file_items(self, entry: TreeEntry, commit: str, blobs: BlobReader) -> Iterator[SourceItem]:
        if not self.rules.takes(entry.key):
            return
        if not entry.name_ok:
            yield SourceWarning(entry.key, "file name is not valid UTF-8")
        elif entry.mode == SYMLINK_MODE:
            target = blobs.read(entry.sha).decode("utf-8", "replace")
            if link_points_outside(entry.key, target):
                yield SourceWarning(entry.key, "symlink points outside the repository; skipped")
        elif entry.mode.startswith("100"):  # regular files; submodules are "160000"
            try:
                self.rules.check_size(entry.size)
                text = decode_text(blobs.read(entry.sha))
            except FileSkipped as skipped:
                if not skipped.quiet:
                    yield SourceWarning(entry.key, str(skipped))
                return
            yield file_document(
                entry.key,
                text,
                size=entry.size,
                version=entry.sha,
                url=f"{self.web_base}/blob/{commit}/{quote(entry.key)}" if self.web_base else "",
                extra=[("commit", commit)],
            )

    def _check_out(self, commit: str) -> None:
        # Runs of one connector never overlap, so a lock left here is from a crashed run.
        (self.checkout / ".git" / "index.lock").unlink(missing_ok=True)
        self.git.run("checkout", "--quiet", "--force", "--detach", commit)


def github_web_base(url: str) -> str:
    """``https://github.com/<owner>/<repo>`` for a GitHub remote URL, else ``""``."""
    match = GITHUB.match(url)
    return f"https://github.com/{match[1]}/{match[2]}" if match else ""


def _subdirectory(raw: str) -> str:
    cleaned = raw.strip().strip("/")
    if not cleaned:
        return ""
    normal = posixpath.normpath(cleaned)
    if normal == "." or normal == ".." or normal.startswith("../"):
        raise SourceError(f"subdirectory {raw!r} must be a folder inside the repository")
    return normal


def _tree_entry(record: bytes) -> TreeEntry:
    meta, raw_path = record.split(b"\t", 1)
    mode, _kind, sha, size = meta.decode("ascii").split()
    try:
        key, name_ok = raw_path.decode("utf-8"), True
    except UnicodeDecodeError:
        key, name_ok = raw_path.decode("utf-8", "replace"), False
    return TreeEntry(key, mode, sha, int(size) if size.isdigit() else 0, name_ok)


def _parse_name_status(out: bytes) -> Iterator[tuple[str, list[str]]]:
    """``(status letter, paths)`` from ``git diff --name-status -z``; renames have two paths."""
    fields = [f.decode("utf-8", "replace") for f in out.split(b"\0")]
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index][0]
        count = 2 if status in "RC" else 1
        yield status, fields[index + 1 : index + 1 + count]
        index += 1 + count


def _checkout(config: dict[str, Any], cursor: dict[str, Any] | None, work_dir: Path) -> Path | None:
    """The clone's worktree, once a run succeeded (it is checked out at the indexed commit)."""
    return work_dir / "checkout" if cursor and cursor.get("commit") else None


def _local_repository(config: dict[str, Any]) -> list[str]:
    """The server-side path a repository URL points at (a path or file:// URL), if any."""
    url = str(config.get("url", ""))
    if url.startswith("file://"):
        return [urlsplit(url).path]
    return [url] if url.startswith("/") else []


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    register(
        ConnectorType(
            name="git",
            description="Files of one branch of a git repository (remote URL or local path).",
            config_schema=CONFIG_SCHEMA,
            open_source=GitSource,
            local_paths=_local_repository,
            checkout=_checkout,
        )
    )
