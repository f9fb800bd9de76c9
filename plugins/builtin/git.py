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

After the files, the branch's history: one ``commit`` record per commit of the last
``history_commits`` (:mod:`.githistory`, docs/HISTORY.md); an incremental run adds the
new commits' records and deletes those a rewrite or the bound dropped. The final
checkpoint's cursor also names the bound it indexed (``"history"``).

Keys are repository-relative paths, also with ``subdirectory``; ``exclude`` and
``include`` match them. Symlinks and submodules are never indexed (a symlink's
target inside the repository is indexed under its own path). Reported, never the
run's end: a submodule (unless its folder is excluded: ``include`` cannot tell what
is inside it), a symlink pointing out of the repository, dangling, or with a target
too long for the system, a name that is not UTF-8 or that git refuses (``.``,
``..``), and each file the checkout cannot hold (see :mod:`.gitcheckout`). If the
checkout cannot be updated at all, the run warns and still succeeds: the index is
complete, only what tools read is behind.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from projectqa.server.data_guard import FolderRefused, open_folder
from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConfigProblem, ConnectorType
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
from projectqa.server.url_credentials import scp_password

from .files import (
    CONFIG_PROPERTIES,
    FileRules,
    FileSkipped,
    check_patterns,
    decode_text,
    file_document,
)
from .files import points_outside as link_points_outside
from .gitcheckout import Limits, dot_name, left_out, pruned_tree, symlink_too_long
from .gitcli import (
    FETCH_TIMEOUT_S,
    BlobReader,
    Cancelled,
    Git,
    GitError,
    Remote,
    TreeEntry,
    TreeWriter,
    list_tree,
)
from .githistory import HISTORY_PROPERTY, History, HistoryScope, Renames, history_limit
from .gitlocal import RepositoryRefused, open_repository

CHECKPOINT_EVERY = 200
PROC_FD = re.compile(r"(?:file://)?/proc/self/fd/\d+")  # how git names a local repository
FETCHED_REF = "refs/projectqa/fetched"
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
MAX_ERROR_CHARS = 300
# Git never writes such a tree; a forged one may hold a name twice (git fsck: duplicateEntries).
DUPLICATE = "listed twice in its folder; only the first is indexed"
NOT_CHECKED_OUT = "not checked out, so OpenFile and Grep cannot read it: "
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
        "history_commits": HISTORY_PROPERTY,
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
class FetchedFrom:
    """What ``git fetch`` is given: the URL, its options, the descriptors it inherits,
    and the command that confines it."""

    url: str
    options: tuple[str, ...] = ()
    fds: tuple[int, ...] = ()
    confinement: tuple[str, ...] = ()


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
        self.limits = Limits()  # of the checkout's file system, once it exists
        self._listed: tuple[str, list[TreeEntry], dict[str, str]] | None = None
        self.history_limit = history_limit(config)
        self._estimated = 0  # documents announced by the last Estimate

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
        self.limits = Limits.of(self.checkout)
        cursor = self.context.cursor or {}
        last = cursor.get("commit")
        since: str | None = None  # the commit an incremental run reads the changes from
        if "after" in cursor and last and self._has_commit(last):
            commit = last  # resume the interrupted full scan where it stopped
            yield from self._all_files(commit, after=cursor["after"])
        else:
            commit = self._fetch()
            if self.context.full or not last:
                yield from self._all_files(commit)
            elif self._has_commit(last):
                since = last
                yield from self._changes(last, commit)
            else:
                yield SourceWarning("", f"last indexed commit {last[:12]} is gone; reading all")
                yield from self._all_files(commit)
        if self.context.cancelled():
            return
        yield from self._history(commit, since, cursor.get("history"))
        if self.context.cancelled():
            return
        yield from self._check_out(commit)
        done = {"commit": commit, "checkout": str(self.checkout), "history": self.history_limit}
        yield Checkpoint(done, revision=commit)

    def _history(self, commit: str, since: str | None, indexed: Any) -> Iterator[SourceItem]:
        """The commit records (:mod:`.githistory`): after an incremental read of the files,
        those of the new commits (and deletions of those a rewrite or the bound dropped);
        else, when the bound changed, or when a new commit renamed a file (older records
        name where files are now), the whole window again (unchanged records are skipped
        by the pipeline; a full run deletes those not seen)."""
        history = History(
            self.git,
            HistoryScope(self.history_limit, self.subdirectory, self.rules.takes),
            self.web_base,
        )
        if since is not None and indexed == self.history_limit:
            yield from history.gone(since, commit)
            added = list(history.added(since, commit))
            if Renames.any_in(added):  # older records name paths that moved: all again
                yield from history.window(commit)
            else:
                yield from added
            yield from history.left_window(commit, self.history_limit, len(added))
            return
        records = list(history.window(commit))
        if records:
            yield Estimate(self._estimated + len(records))
        yield from records
        if since is not None and isinstance(indexed, int) and indexed > self.history_limit:
            yield from history.left_window(commit, self.history_limit, indexed - self.history_limit)

    def _check_config(self) -> None:
        if scp_password(self.remote.url):  # a connector saved before this was refused
            raise SourceError(f"url {SCP_PASSWORD}")
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
            with self._fetched_from() as how:
                self.git.run(
                    # --update-shallow: a shallow repository is fetched as the history it
                    # has (git otherwise drops, silently, every ref that needs it).
                    *("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--update-shallow"),
                    *how.options,
                    *("--", how.url, f"+{source}:{FETCHED_REF}"),
                    with_token=True,
                    timeout=FETCH_TIMEOUT_S,
                    pass_fds=how.fds,
                    confinement=how.confinement,
                )
        except GitError as exc:
            where = self.remote.display
            exc = GitError(PROC_FD.sub(where, str(exc)))
            if AUTH_FAILED.search(str(exc)):
                raise SourceError(f"cannot fetch {where}: authentication failed ({exc})") from None
            if "couldn't find remote ref" not in str(exc):
                raise SourceError(f"cannot fetch {where}: {exc}") from None
            if self.branch:
                raise SourceError(f"branch {self.branch!r} not found in {where}") from None
            raise SourceError(f"{where} has no default branch (is it empty?)") from None
        return self.git.run("rev-parse", "--verify", f"{FETCHED_REF}^{{commit}}").decode().strip()

    @contextmanager
    def _fetched_from(self) -> Iterator[FetchedFrom]:
        """What git fetches from and how. A remote: its URL. A repository on this
        server: the folder, opened once and judged by the server's rules (``open_folder``:
        not the data directory, inside its local root), then its git directory opened
        and checked through that descriptor (``gitlocal``: nothing in it may lead git to
        another repository), served from ``/proc/self/fd/<n>`` by a confined git. Given
        the path, git would decode and resolve it itself, after the judgement, and follow
        whatever the repository points at."""
        paths = _local_repository(self.context.config)
        if not paths:
            yield FetchedFrom(self.remote.display)
            return
        where = self.remote.display
        try:
            with (
                open_folder(
                    paths[0], self.context.folder_guard, own=self.context.work_dir
                ) as opened,
                open_repository(opened.fd) as repository,
            ):
                yield FetchedFrom(
                    repository.url,
                    ("--upload-pack", repository.upload_pack),
                    repository.fds,
                    repository.confinement(self.context.work_dir, _data_dir(self.context)),
                )
        except FolderRefused as refused:
            raise SourceError(str(refused)) from None
        except RepositoryRefused as refused:
            raise SourceError(f"cannot fetch {where}: {refused}") from None
        except OSError as exc:
            raise SourceError(f"cannot fetch {where}: {exc.strerror or exc}") from None

    def _has_commit(self, sha: str) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{40,64}", sha)) and self.git.ok(
            "cat-file", "-e", f"{sha}^{{commit}}"
        )

    def _listing(self, commit: str) -> list[TreeEntry]:
        """Every entry of ``commit`` (folders too), listed once per run."""
        return self._listed_at(commit)[1]

    def _modes(self, commit: str) -> dict[str, str]:
        """The mode of every entry of ``commit``, by key."""
        return self._listed_at(commit)[2]

    def _listed_at(self, commit: str) -> tuple[str, list[TreeEntry], dict[str, str]]:
        if self._listed is None or self._listed[0] != commit:
            entries = list_tree(self.git, commit)
            self._listed = (commit, entries, {e.key: e.mode for e in entries})
        return self._listed

    def _tree(self, commit: str) -> list[TreeEntry]:
        """The files, symlinks and submodules of ``commit`` in ``subdirectory``, by key."""
        if self.subdirectory and not self.git.ok("cat-file", "-e", f"{commit}:{self.subdirectory}"):
            raise SourceError(f"subdirectory {self.subdirectory!r} not found at {commit[:12]}")
        scope = self.subdirectory
        entries = [
            e
            for e in self._listing(commit)
            if e.kind != "tree" and (not scope or e.key == scope or e.key.startswith(scope + "/"))
        ]
        return sorted(entries, key=lambda e: e.key)

    def _takes(self, entry: TreeEntry) -> bool:
        """Files by ``exclude`` and ``include``; a submodule unless its folder is excluded."""
        if entry.mode == SUBMODULE_MODE:
            return not self.rules.excludes(entry.key, is_dir=True)
        return self.rules.takes(entry.key)

    def _all_files(self, commit: str, after: str | None = None) -> Iterator[SourceItem]:
        entries = [
            e for e in self._tree(commit) if (after is None or e.key > after) and self._takes(e)
        ]
        self._estimated = len(entries)
        yield Estimate(len(entries))
        with BlobReader(self.checkout) as blobs:
            for position, entry in enumerate(entries, start=1):
                if self.context.cancelled():
                    return
                if position > 1 and entry.key == entries[position - 2].key:
                    yield SourceWarning(entry.key, DUPLICATE)
                    continue
                yield from self._file_items(entry, commit, blobs)
                if position % CHECKPOINT_EVERY == 0:
                    yield Checkpoint({"commit": commit, "after": entry.key})

    def _changes(self, old: str, new: str) -> Iterator[SourceItem]:
        scope = ["--", self.subdirectory] if self.subdirectory else []
        out = self.git.run("diff", "--name-status", "-z", "-M", "--no-ext-diff", old, new, *scope)
        tree: dict[str, TreeEntry] = {}
        for listed in self._tree(new):
            tree.setdefault(listed.key, listed)  # the first of a name listed twice, as a full run
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
        if not self._takes(entry):
            return
        if (dots := dot_name(entry.path)) is not None:
            yield SourceWarning(
                entry.key, f"its path holds {dots!r}, which git refuses; not indexed"
            )
        elif not entry.name_ok:
            yield SourceWarning(entry.key, "file name is not valid UTF-8")
        elif entry.mode == SYMLINK_MODE:
            yield from self._symlink_warnings(entry, commit, blobs)
        elif entry.mode == SUBMODULE_MODE:
            message = f"git submodule at commit {entry.sha[:12]}; its files are not indexed"
            yield SourceWarning(entry.key, message)
        elif entry.mode.startswith("100"):  # regular files
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

    def _symlink_warnings(
        self, entry: TreeEntry, commit: str, blobs: BlobReader
    ) -> Iterator[SourceWarning]:
        """A symlink leaving the repository, dangling or too long for the system (its target
        is never read whole then); one to a path inside is skipped quietly."""
        if entry.size >= self.limits.path_max:
            yield SourceWarning(entry.key, symlink_too_long(entry.size, self.limits) + "; skipped")
            return
        target = blobs.read(entry.sha).decode("utf-8", "replace")
        if link_points_outside(entry.key, target):
            yield SourceWarning(entry.key, "symlink points outside the repository; skipped")
        elif self._dangles(entry.key, target, commit):
            yield SourceWarning(entry.key, "broken symlink; skipped")

    def _dangles(self, key: str, target: str, commit: str) -> bool:
        """True if ``target`` names nothing at ``commit`` (a path through a symlink: not judged)."""
        modes = self._modes(commit)
        names = posixpath.normpath(posixpath.join(posixpath.dirname(key), target)).split("/")
        for depth in range(1, len(names) + 1):
            mode = modes.get("/".join(names[:depth]))
            if mode is None:
                return names != ["."]
            if mode == SYMLINK_MODE:
                return False
        return False

    def _check_out(self, commit: str) -> Iterator[SourceWarning]:
        """Check ``commit`` out for the tools, without the paths this server cannot write."""
        # Runs of one connector never overlap, so a lock left here is from a crashed run.
        (self.checkout / ".git" / "index.lock").unlink(missing_ok=True)
        listing = self._listing(commit)
        left = {
            e.path: cut for e in listing if e.kind != "tree" and (cut := left_out(e, self.limits))
        }
        try:
            tree = commit
            if left:
                with TreeWriter(self.checkout) as writer:
                    tree = pruned_tree(listing, {cut.cut for cut in left.values()}, writer)
            self.git.run("read-tree", "--reset", "-u", tree)
            self.git.run("update-ref", "--no-deref", "HEAD", commit)
        except GitError as exc:
            error = _shortened(str(exc), MAX_ERROR_CHARS)  # git names paths of any length
            yield SourceWarning(
                "",
                f"the checkout OpenFile and Grep read was not moved to {commit[:12]} ({error}); "
                "they may show older files, or miss some",
            )
            return
        for entry in self._tree(commit) if left else []:
            cut = left.get(entry.path)
            if cut and self._indexable(entry):
                yield SourceWarning(entry.key, NOT_CHECKED_OUT + cut.reason)

    def _indexable(self, entry: TreeEntry) -> bool:
        """A regular file this connector reads (it may still skip it for its size or content)."""
        plain = entry.mode.startswith("100") and entry.name_ok and dot_name(entry.path) is None
        return plain and self.rules.takes(entry.key)


def github_web_base(url: str) -> str:
    """``https://github.com/<owner>/<repo>`` for a GitHub remote URL, else ``""``."""
    match = GITHUB.match(url)
    return f"https://github.com/{match[1]}/{match[2]}" if match else ""


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subdirectory(raw: str) -> str:
    cleaned = raw.strip().strip("/")
    if not cleaned:
        return ""
    normal = posixpath.normpath(cleaned)
    if normal == "." or normal == ".." or normal.startswith("../"):
        raise SourceError(f"subdirectory {raw!r} must be a folder inside the repository")
    return normal


def _parse_name_status(out: bytes) -> Iterator[tuple[str, list[str]]]:
    """``(status letter, paths)`` from ``git diff --name-status -z``; renames have two paths."""
    fields = [f.decode("utf-8", "replace") for f in out.split(b"\0")]
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index][0]
        count = 2 if status in "RC" else 1
        yield status, fields[index + 1 : index + 1 + count]
        index += 1 + count


def _data_dir(context: SourceContext) -> Path | None:
    guard = context.folder_guard
    return guard.data_dir if guard is not None else None


def _checkout(config: dict[str, Any], cursor: dict[str, Any] | None, work_dir: Path) -> Path | None:
    """The clone's worktree, once a run succeeded (it is checked out at the indexed commit)."""
    return work_dir / "checkout" if cursor and cursor.get("commit") else None


def _local_repository(config: dict[str, Any]) -> list[str]:
    """The server-side path a repository URL points at (a path or file:// URL), if any,
    read as git reads it: ``file://<anything>/<path>`` is the local ``/<path>`` whatever
    the host, with every ``%XX`` decoded (``%2F`` too) and ``?`` and ``#`` kept as part of
    the path. (``Remote.check`` refuses every other form git would take as local: relative
    paths, ``~``.)"""
    url = str(config.get("url", ""))
    if url.startswith("file://"):
        rest = url.removeprefix("file://")
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else rest
        return [os.fsdecode(unquote_to_bytes(path))]
    return [url] if url.startswith("/") else []


SCP_PASSWORD = (
    "holds a password in an scp-style address (user:password@host:path), which ssh does "
    "not use; use an ssh key, or an https:// URL (whose password is kept write-only)"
)


def _check_config_fields(config: dict[str, Any]) -> None:
    """Raise ``ConfigProblem`` for a config no run could use, when it is saved."""
    if scp_password(config.get("url")):
        raise ConfigProblem("url", SCP_PASSWORD)
    check_patterns(config)


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
            validate_config=_check_config_fields,
        )
    )
