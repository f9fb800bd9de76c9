"""Markdown built from text the server sent, shown literally (no links or images of its own)."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"[\\`*_{}\[\]()<>#+!|~]")


def longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)


def code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds."""
    ticks = "`" * (longest_run(text, "`") + 1)
    return f"{ticks} {text} {ticks}" if "`" in text else f"`{text}`"


def escape(text: str) -> str:
    """Text from the server (titles, labels) shown literally in markdown: no links,
    images or emphasis of its own."""
    return _MARKDOWN.sub(r"\\\g<0>", text)


def fence(text: str) -> str:
    """A code fence that ``text`` cannot close: longer than its longest backtick run."""
    return "`" * max(3, longest_run(text, "`") + 1)
