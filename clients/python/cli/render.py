"""Answers as rendered markdown on a terminal, with citations kept exact.

An answer is markdown (headings, bold markers, fenced code). On a terminal it is
rendered with rich; piped or with ``--json`` it stays plain text, as written.

Two things make that safe and live:

- **Exact citations.** Markdown reads ``_`` and ``*`` as emphasis, so
  ``httpx/__init__.py:1-9`` would show as ``httpx/init.py:1-9``. Outside code,
  every ``_`` is escaped (an answer's underscores are names, not emphasis) and
  so is every ``*`` that is part of a path or glob (``src/**/*.py``, ``*.py``:
  after a ``/``, or starting a word before ``/`` or ``.ext``); a ``*`` after a
  letter closes emphasis, so ``**x**.`` stays bold. Code spans, fenced code,
  autolinks and link targets are left as they are (a backslash would show there).
- **Streaming.** Text arrives token by token. Blocks already complete (ended
  by a blank line outside a code fence, found reading each line once) are
  printed once, rendered; the end of the block still growing is shown in a
  transient rich ``Live`` area, re-rendered at most a few times a second and
  cleared when the block completes and is printed for good. Nothing is printed
  twice, and the work per token does not grow with the block.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

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
_SPECIAL = re.compile(r"\\|_|\*+")
# Characters after which a "*" may start a glob word (`*.py`, `"**/x"`): the start of a
# word or the punctuation of a path. After any other character it closes emphasis.
_GLOB_LEFT = frozenset(" \t\n([{\"'=,:._")
# A "*" run followed by these starts a path component: `*.py`, `**/`, `*.{py,md}`.
_GLOB_RIGHT = re.compile(r"/|\.[\w{\[*]")
_TOKEN_REST = re.compile(r"\S*")
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
        parts += [_escaped(text, at, match.start()), match.group(0)]
        at = match.end()
    parts.append(_escaped(text, at, len(text)))
    return "".join(parts)


def _escaped(text: str, start: int, end: int) -> str:
    """``text[start:end]`` (prose) escaped; the characters around it decide what a
    ``*`` next to the edge is (after a code span it closes bold, as in ``**`a.py`**.``)."""
    parts: list[str] = []
    at = start
    for match in _SPECIAL.finditer(text, start, end):
        special = match.group(0)
        escaped = "\\" + special if special in "\\_" else _star_run(text, match)
        parts += [text[at : match.start()], escaped]
        at = match.end()
    parts.append(text[at:end])
    return "".join(parts)


def _star_run(text: str, run: re.Match[str]) -> str:
    """A run of ``*``: escaped when it is part of a path or glob, as written when it is
    emphasis (``**x**.`` and ``*x*/y`` close emphasis; ``src/**/*.py`` is a glob)."""
    stars, start, end = run.group(0), run.start(), run.end()
    before = text[start - 1] if start else " "
    starts_glob = before in _GLOB_LEFT and _GLOB_RIGHT.match(text, end) is not None
    if before == "/" or (starts_glob and not _closes_in_word(text, stars, end)):
        return "\\*" * len(stars)
    return stars


def _closes_in_word(text: str, stars: str, end: int) -> bool:
    """Whether the same run closes again later in this word: ``**.env**`` is bold."""
    rest = _TOKEN_REST.match(text, end)
    word = rest.group(0) if rest else ""
    return re.search(rf"(?<![*\\]){re.escape(stars)}(?![\w*])", word) is not None


def complete_blocks(text: str) -> int:
    """How much of ``text`` is whole blocks: up to its last blank line outside a code
    fence (0 when none is complete yet)."""
    return BlockEnds().feed(text)


class BlockEnds:
    """Finds where whole blocks end in text that arrives piece by piece, reading each
    line once: the fence state is carried from line to line, not re-derived from the
    start of the block (a long code block streamed in small tokens stays linear)."""

    def __init__(self) -> None:
        self._partial = ""  # the last line, not ended yet
        self._offset = 0  # characters seen before ``_partial``
        self._fence = ""  # the open code fence, if any
        self.fence_line = ""  # the line that opened it (to render a tail of the block)
        self.fence_end = 0  # where that line ends
        self.scanned = 0  # characters read as lines, for tests to count work

    def feed(self, text: str) -> int:
        """Adds ``text``; the end of the last whole block so far (0 when none yet)."""
        self._partial += text
        if "\n" not in text:
            return 0
        *lines, self._partial = self._partial.split("\n")
        end = 0
        for line in lines:
            self._offset += len(line) + 1
            self.scanned += len(line) + 1
            if self._ends_block(line):
                end = self._offset
        return end

    def restart(self, at: int) -> None:
        """Counts offsets from ``at`` on (the text before it was taken away)."""
        self._offset -= at
        self.fence_end -= at

    def _ends_block(self, line: str) -> bool:
        opened = _OPEN_FENCE.match(line)
        if self._fence:
            fence = opened.group(1) if opened else ""
            if fence[:1] == self._fence[0] and len(fence) >= len(self._fence):
                self._fence = self.fence_line = ""
            return False
        if opened:
            self._fence, self.fence_line, self.fence_end = opened.group(1), line, self._offset
            return False
        return not line.strip()


def markdown(text: str) -> Markdown:
    """An answer as rich renders it, citations intact."""
    return Markdown(protect_literals(text), code_theme="ansi_dark", hyperlinks=False)


class MarkdownStream:
    """Prints streamed answer text rendered: whole blocks for good, the growing one live.

    Each token only appends to the growing block and reads its new whole lines; the
    block's visible tail is rendered again (escaping and a markdown parse) at most
    :data:`LIVE_REFRESHES_PER_S` times a second by ``clock``. A block is rendered whole
    once, when it completes; so a long block costs time in proportion to its length,
    not to its length times its tokens.
    """

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self._console = console
        self._clock = clock
        # The block still growing, as the pieces that came (joined only when a block ends
        # or the live area is drawn: appending to one string would copy it every token).
        self._pieces: list[str] = []
        self._has_text = False  # any of them more than white space
        self._ends = BlockEnds()
        self._live: Live | None = None
        self._shown_at: float | None = None  # when the live block was last rendered
        self.builds = 0  # markdown renderables made, for tests to count work
        self.built_chars = 0  # and the characters they were made of

    def feed(self, text: str) -> None:
        self._pieces.append(text)
        self._has_text = self._has_text or not text.isspace()
        done = self._ends.feed(text)
        if done:
            pending = self._pending()
            finished, rest = pending[:done], pending[done:]
            self._pieces, self._has_text = [rest], bool(rest) and not rest.isspace()
            self._ends.restart(done)
            self._stop_live()
            self._console.print(self._markdown(finished))
        if self._has_text and self._refresh_due():
            self._show_live()

    def _pending(self) -> str:
        pending = "".join(self._pieces)
        self._pieces = [pending]
        return pending

    def close(self) -> None:
        """Prints what is left for good (an answer need not end with a blank line)."""
        self._stop_live()
        if self._has_text:
            self._console.print(self._markdown(self._pending()))
        self._pieces, self._has_text = [], False
        self._ends = BlockEnds()

    def _refresh_due(self) -> bool:
        now = self._clock()
        if self._shown_at is not None and now - self._shown_at < 1 / LIVE_REFRESHES_PER_S:
            return False
        self._shown_at = now
        return True

    def _markdown(self, text: str) -> Markdown:
        self.builds += 1
        self.built_chars += len(text)
        return markdown(text)

    def _visible_tail(self) -> str:
        """The end of the growing block, as much as the screen shows: rendering all of
        a long block at each refresh would cost its length each time (rich would crop
        it to the screen anyway). Inside a code fence the tail keeps its fence line."""
        lines = max(3, self._console.height - 3)  # a code block adds a padding line each side
        pending = self._pending()
        cut = len(pending)
        for _ in range(lines):
            cut = pending.rfind("\n", 0, cut)
            if cut < 0:
                return pending
        tail = pending[cut + 1 :]
        fence = self._ends.fence_line
        return f"{fence}\n{tail}" if fence and cut + 1 >= self._ends.fence_end else tail

    def _show_live(self) -> None:
        if self._live is None:
            # Refreshed here, when due, and not by rich's thread: that would redraw the
            # same renderable without the text that arrived since.
            self._live = Live(
                console=self._console,
                transient=True,
                auto_refresh=False,
                vertical_overflow="crop",
            )
            self._live.start()
        self._live.update(self._markdown(self._visible_tail()), refresh=True)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
