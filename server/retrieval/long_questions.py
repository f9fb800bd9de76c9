"""What the dense ranker reads of a long question.

The embedder reads 256 word pieces (~1,000 characters of prose, fewer of code) and
drops the rest: a pasted report was embedded as its head, often without the
traceback that names the code. Two ways to read all of it:

- ``digest``: one text of at most ``WINDOW_CHARS``: the title (first line), then
  the lines that name the most code (identifiers and paths the evidence found,
  error lines), in their order. One embedding, as cheap as before.
- ``windows``: the question cut at line ends into pieces of at most
  ``WINDOW_CHARS``, the first ``MAX_WINDOWS`` embedded and averaged (the cost
  grows with the windows embedded).

``DENSE_TEXT`` picks one ("head": the old truncation); the choice and its
measurements are in docs/LONG_QUESTIONS.md.
"""

from __future__ import annotations

import re
from typing import Literal

from .evidence import Evidence

WINDOW_CHARS = 1000  # ~256 word pieces of English prose; the embedder reads no more
MAX_WINDOWS = 4  # embedded per question, at most: each costs one embedder pass
DenseText = Literal["head", "digest", "windows"]
DENSE_TEXT: DenseText = "digest"

_ERROR_LINE = re.compile(r"^\s*[\w.]*(?:Error|Exception|Warning|panic)\b.*:", re.IGNORECASE)


def windows(text: str, limit: int = WINDOW_CHARS) -> list[str]:
    """``text`` cut at line ends into pieces of at most ``limit`` characters (a longer
    line is cut where it reaches the limit)."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            pieces += [current, line[:limit]]
            current, line = "", line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    pieces.append(current)
    return [p for p in pieces if p.strip()]  # blank pieces are dropped here, once


def digest(text: str, evidence: Evidence, limit: int = WINDOW_CHARS) -> str:
    """The title and the lines naming the most code, in their order, within ``limit``."""
    if len(text) <= limit:
        return text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    names = {n.rsplit(".", 1)[-1] for n in evidence.identifiers}
    names |= {m.path.rsplit("/", 1)[-1] for m in evidence.mentions}
    # Best first; among equals (most lines name nothing) the earlier line.
    ranked = sorted(range(len(lines)), key=lambda i: (-_weight(i, lines[i], names), i))
    kept: list[int] = []
    room = limit
    for i in ranked:
        if len(lines[i]) < room:
            kept.append(i)
            room -= len(lines[i]) + 1
    return "\n".join(lines[i] for i in sorted(kept)) or text[:limit]


def _weight(index: int, line: str, names: set[str]) -> int:
    if index == 0:
        return 100  # the title says what the report is about
    named = sum(1 for name in names if name and name in line)
    return named + (2 if _ERROR_LINE.search(line) else 0)


def dense_texts(text: str, evidence: Evidence, how: DenseText = DENSE_TEXT) -> list[str]:
    """The texts to embed for ``text``; their mean vector is the query's."""
    if how == "head" or len(text) <= WINDOW_CHARS:
        return [text]
    if how == "digest":
        return [digest(text, evidence)]
    return windows(text)[:MAX_WINDOWS]
