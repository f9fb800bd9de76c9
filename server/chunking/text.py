"""Prose by its own structure: markdown and reStructuredText by section, records by window."""

from __future__ import annotations

import re
from typing import NamedTuple

from .windows import Budget, Lines, Span, window_spans

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# Lines that cannot be the text of a setext heading: list items, quotes, tables, html, code.
_NOT_PARAGRAPH = re.compile(r" {4}|\t| {0,3}(?:[-*+>|<]|\d+[.)](?:\s|$))")
_RST_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1+[ \t]*")
_ISSUE_KEY = re.compile(r"(?:issues|pulls?|pull_requests?|prs?)/(\d+)")
_COMMIT_KEY = re.compile(r"commits/([0-9a-f]{7,64})")  # the git connector's history records


class Heading(NamedTuple):
    """A section title: its first row, the first row after it, its level and its text."""

    start: int
    body: int
    level: int
    title: str


def markdown_spans(lines: Lines, budget: Budget) -> list[Span]:
    """Markdown split at ATX (``## Install``) and setext headings, outside fenced code."""
    return _section_spans(lines, budget, _markdown_headings(lines.lines))


def rst_spans(lines: Lines, budget: Budget) -> list[Span]:
    """reStructuredText split at underlined (and optionally overlined) section titles."""
    return _section_spans(lines, budget, _rst_headings(lines.lines))


def record_spans(lines: Lines, budget: Budget, symbol: str) -> list[Span]:
    """An issue, pull request, ticket or page: windows over its rendered text."""
    return window_spans(lines, 0, len(lines) - 1, budget, symbol, "record")


def record_symbol(key: str, title: str) -> str:
    """How a record is cited: ``#12 Crash on start``, ``PROJ-7 Login fails``,
    ``commit 3f9c2d1 Retry the upload``."""
    if commit := _COMMIT_KEY.fullmatch(key):
        return f"commit {commit[1][:7]} {title}".strip()
    match = _ISSUE_KEY.fullmatch(key)
    return f"{f'#{match[1]}' if match else key} {title}".strip()


def _section_spans(lines: Lines, budget: Budget, headings: list[Heading]) -> list[Span]:
    spans: list[Span] = []
    if not headings or headings[0].start > 0:  # text before the first heading
        first = headings[0].start if headings else len(lines)
        spans += window_spans(lines, 0, first - 1, budget, "", "section")
    path: list[tuple[int, str]] = []
    pending: int | None = None  # start of a heading with no body, kept for its first child
    for index, heading in enumerate(headings):
        path = [
            *(entry for entry in path if entry[0] < heading.level),
            (heading.level, heading.title),
        ]
        later = headings[index + 1] if index + 1 < len(headings) else None
        end = later.start - 1 if later else len(lines) - 1
        start = heading.start if pending is None else pending
        if later and later.level > heading.level and lines.trim(heading.body, end)[0] > end:
            pending = start  # "# Guide" straight above "## Install": one chunk
            continue
        pending = None
        symbol = " > ".join(title for _, title in path)
        spans += window_spans(lines, start, end, budget, symbol, "section")
    return spans


def _markdown_headings(lines: list[str]) -> list[Heading]:
    headings: list[Heading] = []
    fence: str | None = None  # the opening fence while inside fenced code
    row = _front_matter_end(lines)
    while row < len(lines):
        line = lines[row]
        if fence is not None:
            closing = _FENCE.match(line)
            if closing and closing[1][0] == fence[0] and len(closing[1]) >= len(fence):
                fence = None if not line[closing.end() :].strip() else fence
        elif opening := _FENCE.match(line):
            fence = opening[1]
        elif atx := _ATX.fullmatch(line):
            headings.append(Heading(row, row + 1, len(atx[1]), (atx[2] or "").strip()))
        elif _is_setext(lines, row, headings):
            level = 1 if lines[row + 1].lstrip().startswith("=") else 2
            headings.append(Heading(row, row + 2, level, line.strip()))
            row += 1
        row += 1
    return headings


def _is_setext(lines: list[str], row: int, headings: list[Heading]) -> bool:
    """Whether ``lines[row]`` is paragraph text underlined by ``===`` or ``---``."""
    line = lines[row]
    if row + 1 >= len(lines) or not line.strip() or _NOT_PARAGRAPH.match(line):
        return False
    if row > 0 and lines[row - 1].strip() and not (headings and headings[-1].body == row):
        return False  # a paragraph's last line, not its only one
    return _SETEXT.fullmatch(lines[row + 1]) is not None


def _front_matter_end(lines: list[str]) -> int:
    """The first row after a YAML front matter block (``---`` … ``---``), or 0."""
    if not lines or lines[0].strip() != "---":
        return 0
    for row in range(1, len(lines)):
        if lines[row].strip() in ("---", "..."):
            return row + 1
    return 0


def _rst_headings(lines: list[str]) -> list[Heading]:
    headings: list[Heading] = []
    styles: list[tuple[str, bool]] = []  # adornment styles in order of first use = levels
    row = 1
    while row < len(lines):
        under = _RST_ADORNMENT.fullmatch(lines[row])
        title = lines[row - 1]
        if under is None or not _rst_title(title, under, lines, row):
            row += 1
            continue
        over = row >= 2 and lines[row - 2].rstrip() == lines[row].rstrip()
        style = (under[1], over)
        if style not in styles:
            styles.append(style)
        start = row - 2 if over else row - 1
        headings.append(Heading(start, row + 1, styles.index(style) + 1, title.strip()))
        row += 2
    return headings


def _rst_title(title: str, under: re.Match[str], lines: list[str], row: int) -> bool:
    """Whether ``title`` above adornment ``under`` is a section title (not text or a rule)."""
    if not title.strip() or title[0].isspace() or _RST_ADORNMENT.fullmatch(title):
        return False
    width = len(under[0].rstrip())
    if width < len(title.rstrip()) and width < 4:
        return False
    above = row - 2  # must be blank, the start, or an overline with blank (or nothing) above
    if above < 0 or not lines[above].strip():
        return True
    return lines[above].rstrip() == lines[row].rstrip() and (
        above == 0 or not lines[above - 1].strip()
    )
