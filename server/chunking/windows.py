"""Line arithmetic shared by every chunker: spans, size budgets and overlapping windows.

All positions here are 0-based indexes into ``split_lines()`` of the document, so a
span always maps back to exact source lines; the public API turns them into 1-based lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

# Lines that say nothing alone: blank or punctuation lines ("}", "});"), "#endif", "} else {",
# and a closing bracket with a comment ("}  // namespace shop").
_TRIVIAL = re.compile(
    r"\s*(?:#\s*(?:endif|else)\b.*|[\W_]*(?:else|end)?[\W_]*|[)\]};,][)\]};,\s]*(?://|/\*|#|--).*)"
)


class Span(NamedTuple):
    """Lines ``start..end`` (0-based, inclusive) cited as ``symbol`` of ``kind``."""

    start: int
    end: int
    symbol: str
    kind: str


@dataclass(frozen=True, slots=True)
class Budget:
    """How big one chunk may be, and how many lines consecutive windows share."""

    max_lines: int
    max_chars: int
    overlap_lines: int

    def __post_init__(self) -> None:
        if self.max_lines < 1 or self.max_chars < 1:
            raise ValueError("max_lines and max_chars must be at least 1")
        if not 0 <= self.overlap_lines < self.max_lines:
            raise ValueError("overlap_lines must be at least 0 and less than max_lines")


def split_lines(text: str) -> list[str]:
    """Lines as editors, ripgrep and OpenFile count them: split on "\n" only, one
    trailing "\r" dropped. (``str.splitlines`` also splits on form feeds, lone "\r",
    "\x1c"-"\x1e", NEL and the Unicode separators, which would shift every citation
    after one of them against what a reader opens.)"""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line, it does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class Lines:
    """A document's lines with O(1) size queries over any range."""

    def __init__(self, text: str) -> None:
        self.lines = split_lines(text)
        # _offsets[i] is the length of lines[:i] joined with "\n" plus one separator.
        self._offsets = [0, *accumulate(len(line) + 1 for line in self.lines)]

    def __len__(self) -> int:
        return len(self.lines)

    def chars(self, start: int, end: int) -> int:
        """Length of lines ``start..end`` joined with newlines."""
        return self._offsets[end + 1] - self._offsets[start] - 1

    def fits(self, start: int, end: int, budget: Budget) -> bool:
        return end - start < budget.max_lines and self.chars(start, end) <= budget.max_chars

    def blank(self, index: int) -> bool:
        return not self.lines[index].strip()

    def text(self, start: int, end: int) -> str:
        return "\n".join(self.lines[start : end + 1])

    def has_content(self, start: int, end: int) -> bool:
        """Whether the range says more than a closing ``}``, ``#endif`` or ``end``."""
        return not all(_TRIVIAL.fullmatch(self.lines[i]) for i in range(start, end + 1))

    def trim(self, start: int, end: int) -> tuple[int, int]:
        """The range without leading and trailing blank lines; ``start > end`` if all blank."""
        while start <= end and self.blank(start):
            start += 1
        while end >= start and self.blank(end):
            end -= 1
        return start, end


def windows(lines: Lines, start: int, end: int, budget: Budget) -> list[tuple[int, int]]:
    """Cover ``start..end`` with windows within ``budget``, consecutive ones overlapping.

    A range that fits is one window. A full window prefers to end before a blank line in
    its second half, so splits fall between paragraphs or statements where they can.
    A single line longer than ``max_chars`` is still one window: text is never cut
    inside a line, since every chunk must be exactly its source lines.
    """
    start, end = lines.trim(start, end)
    found: list[tuple[int, int]] = []
    while start <= end:
        stop = _window_end(lines, start, end, budget)
        if found and stop <= found[-1][1]:  # the overlap left no room: drop it
            start = lines.trim(found[-1][1] + 1, end)[0]
            stop = _window_end(lines, start, end, budget)
        found.append((start, stop))
        if stop >= end:
            break
        start = _next_start(lines, start, stop, budget)
    return found


def _window_end(lines: Lines, start: int, end: int, budget: Budget) -> int:
    if lines.fits(start, end, budget):
        return end
    stop = start
    while stop < end and lines.fits(start, stop + 1, budget):
        stop += 1
    for blank in range(stop, start + (stop - start) // 2, -1):
        if lines.blank(blank):
            return lines.trim(start, blank)[1]
    return stop


def _next_start(lines: Lines, start: int, stop: int, budget: Budget) -> int:
    """Where the window after ``start..stop`` begins: up to ``overlap_lines`` back."""
    nxt = stop + 1
    # Overlap is capped at half the char budget so the next window still moves forward.
    while (
        stop + 1 - nxt < budget.overlap_lines
        and nxt - 1 > start
        and lines.chars(nxt - 1, stop) <= budget.max_chars // 2
    ):
        nxt -= 1
    while lines.blank(nxt):
        nxt += 1
    return nxt


def window_spans(
    lines: Lines, start: int, end: int, budget: Budget, symbol: str, kind: str
) -> list[Span]:
    """:func:`windows` over a range, every window cited with the same symbol and kind."""
    return [Span(s, e, symbol, kind) for s, e in windows(lines, start, end, budget)]
