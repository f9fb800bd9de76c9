"""Grep: ripgrep over a project's checkouts, bounded in time, matches and bytes.

Checkouts are searched one after the other, sharing the match budget, each in
path order so results are stable. Reaching ``max_matches`` does not stop the
search at once: the last matches still get their after-context, and the
result is marked truncated only once one more match shows there were more.

ripgrep never reads a file by a name that could be swapped: it lists names, and
searches only descriptors opened below the checkout's root (``searched_files``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..data_guard import DataDirGuard
from ..errors import FailedPrecondition, InvalidArgument
from ..validation import require_globs
from .base import Checkout
from .checkouts import resolve_checkout
from .ripgrep import text_of
from .searched_files import MAX_FILE_BYTES, RgRefused, search_checkout, search_nothing

MAX_PATTERN_CHARS = 1000
MAX_CONTEXT_LINES = 10
DEFAULT_MAX_MATCHES = 100
MAX_MATCHES = 1000
MAX_LINE_CHARS = 1000
TIMEOUT_S = 10.0
MAX_OUTPUT_BYTES = 1024 * 1024
# Compiled-regex and lazy-DFA budgets: a huge pattern (``\w{500}{500}``) fails at once.
REGEX_SIZE_LIMIT = "10M"
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


async def _search(
    checkout: Checkout, query: GrepQuery, collector: _Collector, guard: DataDirGuard | None
) -> int:
    """Search one checkout; return how many files were searched."""
    collector.start_checkout(checkout)
    arguments = search_arguments(query)
    try:
        searched = await search_checkout(
            checkout, guard, walk_arguments(query), arguments, collector
        )
        if not searched.given:  # rg never saw the pattern: let it judge it anyway
            await search_nothing(arguments, collector)
    except RgRefused as refused:
        raise _rg_error(str(refused)) from None
    return searched.files


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
