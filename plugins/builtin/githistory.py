"""The history of the indexed branch: one ``commit`` record per commit (docs/HISTORY.md).

A record holds what ``git log --numstat -M`` says of a commit: its sha, parents, author,
dates, message and the files it changed with the lines added and removed in each. A
renamed file is recorded under its new path, with ``old_path``. The record's text (what
is chunked, searched and cited as ``commit abc1234``) is the message followed by a
compact list of the files, so a question naming a file also finds the commits that
changed it.

Bounds and special cases, each decided here:

- the last ``history_commits`` commits of the branch (setting; ``DEFAULT_COMMITS``),
  newest first, merges included; 0 turns history off;
- a commit changing more than ``MAX_FILES`` files records the first ``MAX_FILES``
  (``files_total`` and ``files_left_out`` say how many there were); its text lists
  ``MAX_FILES_SHOWN`` of them;
- a merge is recorded with its message and parents but no files: what it brings in is
  recorded on the merged commits themselves, and a diff against the first parent would
  count each of those changes twice;
- where a shallow clone cuts the history, git shows the last commit it has as adding
  every file; that commit is recorded without files (``history_cut``), and the commits
  beyond it are simply not there: nothing fails;
- binary files have no line counts (``added``/``removed`` left out).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from projectqa.server.sources import Deletion, DocumentKind, SourceDocument

from .gitcli import Git

DEFAULT_COMMITS = 10_000
MAX_COMMITS = 100_000
MAX_FILES = 1_000  # files recorded per commit
MAX_FILES_SHOWN = 100  # of which listed in its text
MAX_MESSAGE_CHARS = 8_000
LOG_SLICES = 2  # git log processes of a window read side by side
SLICE_MIN = 1_000  # commits: a smaller window is read by one process
KEY_PREFIX = "commits/"
_RECORD = "\x1e"  # starts each commit in the log output
_FIELD = "\x1f"
# sha, parents, author, author date, committer date, raw message; then the numstat lines.
LOG_FORMAT = "%x1e%H%x1f%P%x1f%an%x1f%aI%x1f%cI%x1f%B%x1f"

HISTORY_PROPERTY: dict[str, Any] = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_COMMITS,
    "default": DEFAULT_COMMITS,
    "description": (
        f"How many of the branch's latest commits are indexed as history records "
        f"(message, author, date, files changed); 0: none. Default {DEFAULT_COMMITS}."
    ),
}


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file a commit changed; ``added``/``removed`` are None for a binary file."""

    path: str
    added: int | None
    removed: int | None
    old_path: str = ""  # the path before a rename
    now: str = ""  # where the file is at the indexed head, if a later commit renamed it

    def as_metadata(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path}
        if self.old_path:
            entry["old_path"] = self.old_path
        if self.now:
            entry["now"] = self.now
        if self.added is not None and self.removed is not None:
            entry.update(added=self.added, removed=self.removed)
        return entry


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A commit as ``git log`` shows it."""

    sha: str
    parents: tuple[str, ...]
    author: str
    date: str  # authored, ISO 8601 with offset
    message: str
    committed: str = ""
    files: tuple[FileChange, ...] = ()
    history_cut: bool = False  # a shallow clone's boundary: its files are unknown

    @property
    def subject(self) -> str:
        return self.message.strip().split("\n", 1)[0].strip()


@dataclass(frozen=True, slots=True)
class HistoryScope:
    """Which commits and files a connector records."""

    limit: int
    subdirectory: str = ""
    takes: Callable[[str], bool] = field(default=lambda path: True)

    def pathspec(self) -> list[str]:
        return ["--", self.subdirectory] if self.subdirectory else []


def history_limit(config: dict[str, Any]) -> int:
    """The configured bound (a config saved before the setting: the default)."""
    value = config.get("history_commits", DEFAULT_COMMITS)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_COMMITS


def record_key(sha: str) -> str:
    return f"{KEY_PREFIX}{sha}"


class History:
    """Reads commit records of one clone (``git`` runs in it)."""

    def __init__(self, git: Git, scope: HistoryScope, web_base: str = "") -> None:
        self.git = git
        self.scope = scope
        self.web_base = web_base

    def window(self, head: str) -> Iterator[SourceDocument]:
        """Records of the last ``limit`` commits up to ``head``, newest first."""
        yield from self._records([head], LOG_SLICES)

    def added(self, old: str, head: str) -> Iterator[SourceDocument]:
        """Records of the commits reachable from ``head`` but not from ``old``."""
        yield from self._records([f"^{old}", head], 1)

    def gone(self, old: str, head: str) -> Iterator[Deletion]:
        """Deletions of the commits reachable from ``old`` but no longer from ``head``
        (a rewritten history), within the last ``limit`` commits of ``old``."""
        listed = self._rev_list("--max-count", str(self.scope.limit), old, f"^{head}")
        yield from (Deletion(record_key(sha)) for sha in listed)

    def left_window(self, head: str, skipped_from: int, count: int) -> Iterator[Deletion]:
        """Deletions of the ``count`` commits from position ``skipped_from`` of ``head``'s
        history: those a bound (or newer commits) pushed out of the window."""
        if count <= 0:
            return
        listed = self._rev_list("--skip", str(skipped_from), "--max-count", str(count), head)
        yield from (Deletion(record_key(sha)) for sha in listed)

    def _rev_list(self, *args: str) -> list[str]:
        out = self.git.run("rev-list", *args, *self.scope.pathspec())
        return out.decode("ascii").split()

    def _records(self, revisions: list[str], slices: int) -> Iterator[SourceDocument]:
        if self.scope.limit <= 0:
            return
        cut = self._shallow_boundary()
        takes = functools.lru_cache(maxsize=None)(self.scope.takes)  # paths recur a lot
        renames = Renames()
        for out in self._logs(revisions, slices):
            for record in parse_log(out):  # newest first: later renames are known
                shallow = record.sha in cut
                kept = () if shallow else tuple(f for f in record.files if takes(f.path))
                record = replace(record, files=renames.followed(kept), history_cut=shallow)
                yield commit_document(record, self.web_base)

    def _logs(self, revisions: list[str], slices: int) -> Iterator[bytes]:
        """``git log`` of the window, newest first, in up to ``slices`` consecutive ranges
        read side by side: counting the lines of every diff is most of the cost, and one
        git process uses one core."""
        limit = self.scope.limit
        count = slices if limit >= slices * SLICE_MIN else 1
        size = -(-limit // count)
        with ThreadPoolExecutor(count, thread_name_prefix="projectqa-git-log") as pool:
            parts = [
                pool.submit(self._log, revisions, start, min(size, limit - start))
                for start in range(0, limit, size)
            ]
            for part in parts:
                yield part.result()

    def _log(self, revisions: list[str], skip: int, count: int) -> bytes:
        return self.git.run(
            *("log", "-z", "--numstat", "-M", "--no-ext-diff", "--no-color"),
            f"--skip={skip}",
            f"--max-count={count}",
            f"--format={LOG_FORMAT}",
            *revisions,
            *self.scope.pathspec(),
        )

    def _shallow_boundary(self) -> set[str]:
        """The commits where this clone's history is cut (none unless it is shallow)."""
        path = self.git.run("rev-parse", "--git-path", "shallow").decode().strip()
        shallow = self.git.repo_dir / path
        try:
            return set(shallow.read_text(encoding="ascii").split())
        except FileNotFoundError:
            return set()


class Renames:
    """Where files are at the indexed head, learnt from the commits read newest first:
    a change to ``a.py`` made before a later commit renamed it to ``b.py`` records
    ``now: b.py``, so the history signal credits the file that exists."""

    def __init__(self) -> None:
        self._now: dict[str, str] = {}  # an earlier path -> the path at the head

    def followed(self, files: tuple[FileChange, ...]) -> tuple[FileChange, ...]:
        """``files`` of the next (older) commit, each with its path at the head."""
        followed = tuple(replace(f, now=self._now.get(f.path, "")) for f in files)
        for change in followed:
            if change.old_path:
                self._now[change.old_path] = change.now or change.path
        return followed

    @staticmethod
    def any_in(records: list[SourceDocument]) -> bool:
        """Whether any of ``records`` renamed a file."""
        return any("old_path" in f for r in records for f in r.metadata.get("files", []))


def parse_log(out: bytes) -> Iterator[CommitRecord]:
    """Commit records from ``git log -z --numstat --format=LOG_FORMAT``."""
    text = out.decode("utf-8", "replace")
    for chunk in text.split(_RECORD)[1:]:
        fields = chunk.split(_FIELD, 6)
        if len(fields) < 7:
            continue
        sha, parents, author, date, committed, message, rest = fields
        yield CommitRecord(
            sha=sha,
            parents=tuple(parents.split()),
            author=author,
            date=date,
            committed=committed,
            message=message,
            files=tuple(_numstat(rest)),
        )


def _numstat(text: str) -> Iterator[FileChange]:
    """Files of ``--numstat -z``: ``added\\tremoved\\tpath\\0``, or for a rename
    ``added\\tremoved\\t\\0old\\0new\\0``; ``-`` counts for binary files."""
    parts = text.lstrip("\0\n").split("\0")
    index = 0
    while index < len(parts):
        head = parts[index].lstrip("\n")
        index += 1
        counts = head.split("\t", 2)
        if len(counts) != 3:
            continue
        added, removed, path = counts
        old = ""
        if not path and index + 1 < len(parts):  # a rename: the two paths follow
            old, path = parts[index], parts[index + 1]
            index += 2
        if path:
            yield FileChange(path, _count(added), _count(removed), old)


def _count(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def commit_document(record: CommitRecord, web_base: str = "") -> SourceDocument:
    """The ``commit`` record of ``record``: searchable text and the structured metadata."""
    kept = record.files[:MAX_FILES]
    metadata: dict[str, Any] = {
        "commit": record.sha,
        "parents": list(record.parents),
        "author": record.author,
        "date": record.date,
        "committed": record.committed,
        "merge": len(record.parents) > 1,
        **files_metadata(kept, len(record.files)),
    }
    if record.history_cut:
        metadata["history_cut"] = True
    return SourceDocument(
        key=record_key(record.sha),
        kind=DocumentKind.COMMIT,
        text=commit_text(record),
        title=record.subject,
        url=f"{web_base}/commit/{record.sha}" if web_base else "",
        version=record.sha,
        metadata=metadata,
    )


def files_metadata(kept: Sequence[FileChange], total: int) -> dict[str, Any]:
    """``files`` (those ``kept``), ``files_total`` and, when some were not kept,
    ``files_left_out``: as a commit's or pull request's metadata records them."""
    metadata: dict[str, Any] = {
        "files": [change.as_metadata() for change in kept],
        "files_total": total,
    }
    if total > len(kept):
        metadata["files_left_out"] = total - len(kept)
    return metadata


def commit_text(record: CommitRecord) -> str:
    """What a commit record says: a header line, the message, the files changed."""
    message = record.message.strip()
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "…"
    lines = [
        f"commit {record.sha[:7]} by {record.author} on {record.date[:10]}",
        "",
        message,
        "",
        *_files_text(record),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _files_text(record: CommitRecord) -> list[str]:
    if len(record.parents) > 1:
        return [f"Merge of {len(record.parents)} parents; its changes are on the merged commits."]
    if record.history_cut:
        return ["Files changed: unknown (the history of this clone is cut here)."]
    return files_changed_lines(record.files, len(record.files))


def files_changed_lines(files: Sequence[FileChange], total: int) -> list[str]:
    """``Files changed (n):`` and one line per file (``MAX_FILES_SHOWN`` at most), as a
    commit's or pull request's text lists them; ``total`` counts files not in ``files``."""
    if not files:
        return []
    shown = [_file_line(change) for change in files[:MAX_FILES_SHOWN]]
    more = max(total, len(files)) - len(shown)
    tail = [f"… and {more} more files"] if more > 0 else []
    return [f"Files changed ({max(total, len(files))}):", *shown, *tail]


def _file_line(change: FileChange) -> str:
    path = f"{change.old_path} → {change.path}" if change.old_path else change.path
    path += f" (now {change.now})" if change.now else ""
    if change.added is None or change.removed is None:
        return f"{path} (binary)"
    return f"{path} (+{change.added} -{change.removed})"
