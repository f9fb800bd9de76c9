"""Grep: ripgrep over a project's checkouts, bounded in time, matches and bytes.

Checkouts are searched one after the other, sharing the match budget, each in
path order so results are stable. Reaching ``max_matches`` does not stop the
search at once: the last matches still get their after-context, and the
result is marked truncated only once one more match shows there were more.

ripgrep never reads a file by a name that could be swapped: ``rg --files`` only
lists the names (its ignore rules are the ones the search honours), each listed
file is then opened below the checkout's root by descriptor (``beneath``: name by
name, no symlink followed, nothing of the server's data directory), and ``rg``
searches those descriptors (``/dev/fd/N``), ``BATCH_FILES`` at a time. A folder
exchanged with a symlink while the search runs makes a listed file fail to open,
never makes ``rg`` read outside.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ..data_guard import DataDirGuard
from ..errors import FailedPrecondition, InvalidArgument
from ..validation import require_globs
from .base import Checkout
from .beneath import CheckoutRoot, Refused, RootUnavailable
from .checkouts import resolve_checkout
from .openfile import SNIFF_BYTES, looks_binary
from .ripgrep import run_rg, text_of

MAX_PATTERN_CHARS = 1000
MAX_CONTEXT_LINES = 10
DEFAULT_MAX_MATCHES = 100
MAX_MATCHES = 1000
MAX_LINE_CHARS = 1000
TIMEOUT_S = 10.0
MAX_OUTPUT_BYTES = 1024 * 1024
# Larger files are skipped; the index skips anything over 1 MiB by default anyway.
MAX_FILE_BYTES = 10 * 1024 * 1024
# Compiled-regex and lazy-DFA budgets: a huge pattern (``\w{500}{500}``) fails at once.
REGEX_SIZE_LIMIT = "10M"
# Files (open descriptors) one rg searches: far below the usual 1,024-descriptor limit.
BATCH_FILES = 256

T = TypeVar("T")

MAX_MATCHES_REACHED = "max_matches"
MAX_BYTES_REACHED = "max_bytes"
TIMED_OUT = "timeout"

# Which files are listed for the search.
WALK_ARGUMENTS = [
    "--no-config",  # RIPGREP_CONFIG_PATH of the server's user must not change results
    "--no-messages",  # unreadable files are skipped quietly
    "--hidden",
    "--no-follow",
    "--no-require-git",  # honour .gitignore in plain folders too, as the local connector does
    "--no-ignore-parent",  # ignore files above the checkout are the server's, not the project's
    "--no-ignore-global",
    f"--max-filesize={MAX_FILE_BYTES}",
    "--sort=path",
]
# How the listed files are searched: in the order given (one thread), no config.
SEARCH_ARGUMENTS = [
    "--no-config",
    "--no-messages",
    "--json",
    "--threads=1",
    f"--regex-size-limit={REGEX_SIZE_LIMIT}",
    f"--dfa-size-limit={REGEX_SIZE_LIMIT}",
]


@dataclass(frozen=True, slots=True)
class GrepQuery:
    """What to search for; limits and defaults are GrepRequest's."""

    pattern: str
    fixed_strings: bool = False
    ignore_case: bool = False
    path_globs: tuple[str, ...] = ()  # gitignore-style; "!" excludes
    context_lines: int = 0  # 0-10
    max_matches: int = 0  # 1-1000; 0 means 100
    connector: str = ""  # id or name; "" searches every checkout


@dataclass(frozen=True, slots=True)
class FileLine:
    number: int  # 1-based
    text: str  # without end-of-line characters, cut to MAX_LINE_CHARS


@dataclass(frozen=True, slots=True)
class GrepMatch:
    connector_id: str
    path: str  # relative to the checkout
    line: FileLine
    before: tuple[FileLine, ...]
    after: tuple[FileLine, ...]
    commit: str  # of the checkout; "" for a local folder


@dataclass(frozen=True, slots=True)
class GrepResult:
    matches: list[GrepMatch]  # path and line order, checkouts in the order searched
    truncated: bool
    truncated_reason: str  # "max_matches", "max_bytes", "timeout" or ""
    files_searched: int  # files ripgrep looked at; 0 when the search stopped early


async def grep(
    checkouts: list[Checkout] | tuple[Checkout, ...],
    query: GrepQuery,
    *,
    timeout_s: float = TIMEOUT_S,
    max_bytes: int = MAX_OUTPUT_BYTES,
    guard: DataDirGuard | None = None,
) -> GrepResult:
    """Search the checkouts (or ``query.connector``'s) for ``query.pattern``; nothing of
    ``guard``'s data directory is ever searched."""
    limit = check_query(query)
    targets = resolve_checkout(checkouts, query.connector)
    if not targets:
        raise FailedPrecondition("the project has no files to search yet (no checkout)")
    collector = _Collector(limit, query.context_lines, max_bytes)
    searched = 0
    try:
        async with asyncio.timeout(timeout_s):
            for checkout in targets:
                searched += await _search(checkout, query, collector, guard)
                if collector.done:
                    break
    except TimeoutError:
        collector.time_out()
    if not collector.reason:  # a count is only reported for a search that ran to its end
        collector.files_searched = searched
    return collector.result()


def check_query(query: GrepQuery) -> int:
    """Validate ``query``; return the match budget (``max_matches`` with its default)."""
    if not 1 <= len(query.pattern) <= MAX_PATTERN_CHARS:
        raise InvalidArgument("pattern", f"must be 1-{MAX_PATTERN_CHARS} characters")
    if "\x00" in query.pattern:
        raise InvalidArgument("pattern", "must not contain NUL")
    if not query.fixed_strings and _unfinished_escape(query.pattern):
        # rg would blame its own wrapping of the pattern: "unclosed group (at '(')".
        raise InvalidArgument("pattern", "ends with an unfinished escape '\\'")
    if not 0 <= query.context_lines <= MAX_CONTEXT_LINES:
        raise InvalidArgument("context_lines", f"must be 0-{MAX_CONTEXT_LINES}")
    if not 0 <= query.max_matches <= MAX_MATCHES:
        raise InvalidArgument("max_matches", f"must be 1-{MAX_MATCHES}, or 0 for the default")
    require_globs("path_globs", query.path_globs)
    return query.max_matches or DEFAULT_MAX_MATCHES


def _unfinished_escape(pattern: str) -> bool:
    return (len(pattern) - len(pattern.rstrip("\\"))) % 2 == 1


def walk_arguments(query: GrepQuery) -> list[str]:
    """ripgrep's arguments choosing the files ``query`` searches."""
    # "--glob=value", never "--glob value": a glob starting with "-" stays a glob.
    globs = [f"--glob={glob}" for glob in query.path_globs]
    # Last, so it wins over any glob the caller gave (later globs take precedence).
    return [*WALK_ARGUMENTS, *globs, "--glob=!.git"]


def search_arguments(query: GrepQuery) -> list[str]:
    """ripgrep's arguments for searching ``query`` in the files it is given."""
    arguments = list(SEARCH_ARGUMENTS)
    if query.fixed_strings:
        arguments.append("--fixed-strings")
    if query.ignore_case:
        arguments.append("--ignore-case")
    if query.context_lines:
        arguments.append(f"--context={query.context_lines}")
    return [*arguments, "--regexp", query.pattern]


@dataclass(frozen=True, slots=True)
class _Opened:
    """A listed file, open below the checkout's root."""

    path: str  # relative to the checkout, as shown
    fd: int


async def _search(
    checkout: Checkout, query: GrepQuery, collector: _Collector, guard: DataDirGuard | None
) -> int:
    """Search one checkout; return how many files were searched."""
    collector.start_checkout(checkout)
    root = await _in_thread(partial(_open_root, checkout, guard), CheckoutRoot.close)
    try:
        return await _search_below(root, checkout, query, collector)
    finally:
        root.close()  # no thread uses it any more: _in_thread waits for them


async def _search_below(
    root: CheckoutRoot, checkout: Checkout, query: GrepQuery, collector: _Collector
) -> int:
    searched = listed = 0
    async with run_rg(["--files", "--null", *walk_arguments(query)], checkout.root) as rg:
        async for names in _batches(rg.paths()):
            listed += len(names)
            opening = partial(_open_files, root, names)
            files, counted = await _in_thread(opening, lambda opened: _close(opened[0]))
            searched += counted
            await _search_files(files, search_arguments(query), collector)
            if collector.done:
                return searched
        code, stderr = await rg.finish()
    if not listed:
        if code == 2 and stderr.strip():  # rg refused its arguments: a bad glob
            raise _rg_error(stderr)
        await _search_files([], search_arguments(query), collector)  # checks the pattern
    return searched


def _open_root(checkout: Checkout, guard: DataDirGuard | None) -> CheckoutRoot:
    try:
        return CheckoutRoot(checkout.root, guard.protected() if guard else None)
    except RootUnavailable:
        raise FailedPrecondition(
            f"cannot search the files of {checkout.connector_name!r}: the folder is gone "
            "or cannot be read"
        ) from None


def _open_files(root: CheckoutRoot, names: list[bytes]) -> tuple[list[_Opened], int]:
    """The listed files to search, open, and how many were searched (binary ones count,
    as rg would have looked at them). A name that is no longer a regular file below the
    root (swapped for a symlink, gone, grown too large) is skipped."""
    files: list[_Opened] = []
    counted = 0
    for name in names:
        try:
            fd, info = root.open(
                [os.fsdecode(part) for part in name.split(b"/")], follow_links=False
            )
        except (Refused, OSError):
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
            counted += 1
            if not looks_binary(os.pread(fd, SNIFF_BYTES, 0)):
                files.append(_Opened(name.decode("utf-8", "replace"), fd))
                continue
        os.close(fd)
    return files, counted


async def _search_files(files: list[_Opened], arguments: list[str], collector: _Collector) -> None:
    """rg over open files; with none, over nothing (stdin closed), to check the pattern."""
    names = {f"/dev/fd/{file.fd}": file.path for file in files}
    records = 0
    try:
        # cwd "/": rg is given descriptors only, and reads nothing by name.
        async with run_rg(arguments, Path("/"), list(names) or ["-"], [f.fd for f in files]) as rg:
            async for record in rg.records():
                records += 1
                collector.take(_renamed(record, names))
                if collector.done:
                    return
            code, stderr = await rg.finish()
    finally:
        _close(files)
    collector.end_file()
    if code == 2 and records == 0 and stderr.strip():
        raise _rg_error(stderr)


def _renamed(record: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``record`` with the descriptor's path (``/dev/fd/N``) replaced by the file's."""
    data = record.get("data")
    if isinstance(data, dict) and "path" in data:
        path = text_of(data["path"])
        data["path"] = {"text": names.get(path, path)}
    return record


async def _batches(paths: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for path in paths:
        batch.append(path)
        if len(batch) == BATCH_FILES:
            yield batch
            batch = []
    if batch:
        yield batch


async def _in_thread(work: Callable[[], T], discard: Callable[[T], None]) -> T:
    """Run blocking descriptor work in a thread to its end even if the caller is
    cancelled meanwhile (a root must never be closed under a thread walking it), then
    ``discard`` what it opened and let the cancellation through."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if task.exception() is None:
            discard(task.result())
        raise asyncio.CancelledError
    return task.result()


def _close(files: list[_Opened]) -> None:
    for file in files:
        os.close(file.fd)


def _rg_error(stderr: str) -> Exception:
    """The error of an ``rg`` that refused to start: a bad pattern or glob."""
    lines = [line.removeprefix("rg: ").rstrip() for line in stderr.strip().splitlines()]
    first = lines[0]
    if first.startswith("error parsing glob"):
        return InvalidArgument("path_globs", _short(first))
    if first.startswith("regex parse error"):
        return InvalidArgument("pattern", _short(_parse_error(lines)))
    if "regex" in first or "size limit" in first:
        return InvalidArgument("pattern", _short(first))
    return FailedPrecondition(f"ripgrep failed: {_short(' '.join(lines))}")


def _parse_error(lines: list[str]) -> str:
    """``regex parse error: unclosed group (at '(')`` from rg's snippet-and-caret report."""
    error = next((ln.removeprefix("error: ") for ln in lines if ln.startswith("error: ")), "")
    message = f"regex parse error: {error or ' '.join(lines[1:])}"
    carets = next((i for i, ln in enumerate(lines) if ln.strip() and set(ln.strip()) == {"^"}), 0)
    if carets > 0:
        start = len(lines[carets]) - len(lines[carets].lstrip())
        at = lines[carets - 1][start : len(lines[carets])]
        if at:
            message += f" (at {at!r})"
    return message


def _short(message: str, limit: int = 500) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


@dataclass(slots=True)
class _Pending:
    path: str
    line: FileLine
    before: tuple[FileLine, ...]
    after: list[FileLine] = field(default_factory=list)


class _Collector:
    """Turns ripgrep's records into matches with context, within the budgets."""

    def __init__(self, limit: int, context: int, max_bytes: int) -> None:
        self.limit, self.context, self.max_bytes = limit, context, max_bytes
        self.matches: list[GrepMatch] = []
        self.accepted = 0  # matches taken, finished or still waiting for after-context
        self.kept_bytes = 0
        self.reason = ""
        self.files_searched = 0
        self.checkout: Checkout | None = None
        self.path = ""
        self.window: deque[FileLine] = deque(maxlen=context or 1)
        self.pending: list[_Pending] = []

    @property
    def done(self) -> bool:
        return self.reason in (MAX_BYTES_REACHED, TIMED_OUT) or (
            self.reason == MAX_MATCHES_REACHED and not self.pending
        )

    def start_checkout(self, checkout: Checkout) -> None:
        self.checkout = checkout

    def take(self, record: dict[str, Any]) -> None:
        kind, data = record.get("type"), record.get("data") or {}
        if kind == "begin":
            self.end_file()
            self.path = text_of(data.get("path")).removeprefix("./")
        elif kind in ("match", "context"):
            self._line(kind == "match", data)
        elif kind == "end":
            self.end_file()

    def end_file(self) -> None:
        """The file is over: matches waiting for after-context have all they will get."""
        while self.pending and self.reason != MAX_BYTES_REACHED:
            self._finish(self.pending.pop(0))
        self.pending.clear()
        self.window.clear()

    def time_out(self) -> None:
        self.end_file()
        if not self.reason:
            # Out of time while only checking for one match more: the budget stopped it.
            self.reason = MAX_MATCHES_REACHED if self.accepted >= self.limit else TIMED_OUT

    def result(self) -> GrepResult:
        return GrepResult(self.matches, bool(self.reason), self.reason, self.files_searched)

    def _line(self, is_match: bool, data: dict[str, Any]) -> None:
        number = int(data.get("line_number") or 0)
        text = _line_text(text_of(data.get("lines")), data.get("submatches") or [])
        line = FileLine(number, text)
        while self.pending and number > self.pending[0].line.number + self.context:
            self._finish(self.pending.pop(0))  # a gap: rg starts a new context group
        for waiting in self.pending:
            waiting.after.append(line)
        while self.pending and len(self.pending[0].after) >= self.context:
            self._finish(self.pending.pop(0))
        if is_match and self.reason != MAX_BYTES_REACHED:
            self._match(line)
        self.window.append(line)

    def _match(self, line: FileLine) -> None:
        if self.accepted >= self.limit:
            self.reason = self.reason or MAX_MATCHES_REACHED
            return
        self.accepted += 1
        before = tuple(ln for ln in self.window if ln.number >= line.number - self.context)
        waiting = _Pending(self.path, line, before if self.context else ())
        if self.context:
            self.pending.append(waiting)
        else:
            self._finish(waiting)

    def _finish(self, waiting: _Pending) -> None:
        if self.reason == MAX_BYTES_REACHED:
            return
        lines = (waiting.line, *waiting.before, *waiting.after)
        size = len(waiting.path) + sum(len(ln.text.encode()) for ln in lines)
        if self.kept_bytes + size > self.max_bytes:
            self.reason = MAX_BYTES_REACHED
            return
        self.kept_bytes += size
        assert self.checkout is not None
        self.matches.append(
            GrepMatch(
                self.checkout.connector_id,
                waiting.path,
                waiting.line,
                waiting.before,
                tuple(waiting.after),
                self.checkout.commit,
            )
        )


def _line_text(raw: str, submatches: list[dict[str, Any]]) -> str:
    """The line without its end of line, cut to ``MAX_LINE_CHARS`` around its first match."""
    text = raw.removesuffix("\n").removesuffix("\r")
    if len(text) <= MAX_LINE_CHARS:
        return text
    start = 0
    if submatches:
        # Offsets are in bytes of the line; show the match with some of what leads to it.
        byte_start = int(submatches[0].get("start") or 0)
        match_at = len(raw.encode()[:byte_start].decode("utf-8", "ignore"))
        start = min(max(0, match_at - MAX_LINE_CHARS // 5), len(text) - MAX_LINE_CHARS)
    return text[start : start + MAX_LINE_CHARS]
