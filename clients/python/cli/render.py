"""Answers as rendered markdown on a terminal, with citations kept exact.

An answer is markdown (headings, bold markers, fenced code). On a terminal it is
rendered with rich; piped or with ``--json`` it stays plain text, as written.

Two things make that safe and live:

- **Exact citations.** Markdown reads ``_`` and ``*`` as emphasis, so
  ``httpx/__init__.py:1-9`` would show as ``httpx/init.py:1-9``. Outside code,
  every ``_`` is escaped (an answer's underscores are names, not emphasis) and
  so is every ``*`` that touches a path or glob character (``src/**/*.py``);
  bold ``**…**`` stays bold. Code spans, fenced code, autolinks and link
  targets are left as they are (a backslash would show there).
- **Streaming.** Text arrives token by token. Blocks already complete (ended
  by a blank line outside a code fence) are printed once, rendered; the block
  still growing is shown in a transient rich ``Live`` area, re-rendered a few
  times a second as tokens arrive and cleared when the block completes and is printed for good.
  Nothing is printed twice, and a block taller than the screen is cropped only
  while it grows.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

# Segments markdown takes literally, or where a backslash would change the target:
# fenced code (to its closing fence or the end), inline code, autolinks, link targets.
_VERBATIM = re.compile(
    r"^ {0,3}(?P<fence>`{3,}|~{3,})[^\n]*\n(?:.*?\n)?(?: {0,3}(?P=fence)[`~]*[ \t]*(?:\n|\Z)|\Z)"
    r"|(?P<ticks>`+)(?:(?!\n[ \t]*\n).)*?(?P=ticks)"
    r"|<[A-Za-z][A-Za-z0-9+.-]*:[^\s<>]*>"
    r"|\]\([^)\s]*\)",
    re.M | re.S,
)
# A "*" next to a path or glob character: part of a path, not emphasis.
_PATH_STAR = re.compile(r"(?<=[/.])\*|\*(?=[/.])")
_OPEN_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)
# The growing block is redrawn this often, not at every token: a long paragraph
# streamed token by token would otherwise rewrite the screen hundreds of times.
LIVE_REFRESHES_PER_S = 8


def protect_literals(text: str) -> str:
    """``text`` with the characters markdown would eat from paths and names escaped,
    outside code, autolinks and link targets."""
    parts: list[str] = []
    at = 0
    for match in _VERBATIM.finditer(text):
        parts += [_escaped(text[at : match.start()]), match.group(0)]
        at = match.end()
    parts.append(_escaped(text[at:]))
    return "".join(parts)


def _escaped(prose: str) -> str:
    prose = prose.replace("\\", "\\\\").replace("_", "\\_")
    return _PATH_STAR.sub(r"\\*", prose)


def complete_blocks(text: str) -> int:
    """How much of ``text`` is whole blocks: up to its last blank line outside a code
    fence (0 when none is complete yet)."""
    end = 0
    fence = ""
    offset = 0
    for line in text.splitlines(keepends=True):
        offset += len(line)
        opened = _OPEN_FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        elif not line.strip() and line.endswith("\n"):
            end = offset
    return end


def markdown(text: str) -> Markdown:
    """An answer as rich renders it, citations intact."""
    return Markdown(protect_literals(text), code_theme="ansi_dark", hyperlinks=False)


class MarkdownStream:
    """Prints streamed answer text rendered: whole blocks for good, the growing one live."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending = ""  # text of the block still growing
        self._live: Live | None = None

    def feed(self, text: str) -> None:
        self._pending += text
        done = complete_blocks(self._pending)
        if done:
            finished, self._pending = self._pending[:done], self._pending[done:]
            self._stop_live()
            self._console.print(markdown(finished))
        if self._pending.strip():
            self._show_live()

    def close(self) -> None:
        """Prints what is left for good (an answer need not end with a blank line)."""
        self._stop_live()
        if self._pending.strip():
            self._console.print(markdown(self._pending))
        self._pending = ""

    def _show_live(self) -> None:
        if self._live is None:
            self._live = Live(
                console=self._console,
                transient=True,
                refresh_per_second=LIVE_REFRESHES_PER_S,
                vertical_overflow="crop",
            )
            self._live.start()
        self._live.update(markdown(self._pending))

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
