"""What the dense ranker reads of a long question.

The embedder reads 256 word pieces (~1,000 characters of prose, fewer of code) and
drops the rest: a pasted report was embedded as its head, often without the
traceback that names the code. Two ways to read all of it:

- ``digest``: one text of at most ``DENSE_PIECES`` word pieces: the title (first
  line), then the lines that name the most code (identifiers and paths the evidence
  found, error lines), in their order, links left out. One embedding of at most 96
  of the embedder's 256 pieces: the pass costs about its length (on 2 cores 256
  pieces ~36 ms, 128 ~20 ms, 96 ~15 ms), and a long question's evidence reaches the
  keyword ranker and the re-scorer whole anyway.
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
# Word pieces of a question the dense ranker reads (measured in docs/LONG_QUESTIONS.md).
DENSE_PIECES = 96

# What a BERT-style tokenizer splits a text into before word pieces: runs of letters
# (one piece per ~PIECE_LETTERS letters: a rare word is cut into several), digits and
# punctuation one piece each. Within ~10 % of the real count on reports and commit
# messages, and needs no model.
_PIECES = re.compile(r"[A-Za-z]+|[^\sA-Za-z]")
PIECE_LETTERS = 6

# Links and e-mail addresses cost many word pieces and name no code.
_LINKS = re.compile(r"\bhttps?://\S+|<?(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?")
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


def word_pieces(text: str) -> int:
    """About how many word pieces a BERT-style tokenizer makes of ``text``."""
    return sum(_run_pieces(run) for run in _PIECES.findall(text))


def _run_pieces(run: str) -> int:
    """Word pieces of one run: a word splits every ``PIECE_LETTERS`` letters, a symbol is one."""
    return 1 + (len(run) - 1) // PIECE_LETTERS if run[0].isalpha() else 1


def head(text: str, pieces: int) -> str:
    """The start of ``text`` holding about ``pieces`` word pieces (a word longer than
    what is left is cut)."""
    end = 0
    for match in _PIECES.finditer(text):
        run = match.group()
        size = _run_pieces(run)
        if size > pieces:
            return text[: match.start() + (pieces * PIECE_LETTERS if run[0].isalpha() else 0)]
        pieces -= size
        end = match.end()
    return text[:end]


def digest(text: str, evidence: Evidence, limit: int = DENSE_PIECES) -> str:
    """The title and the lines naming the most code, in their order, within ``limit``
    word pieces (a title longer than that: its head)."""
    if word_pieces(text) <= limit:
        return text
    lines = [line for line in (_LINKS.sub("", line).strip() for line in text.splitlines()) if line]
    sizes = [word_pieces(line) for line in lines]
    names = {n.rsplit(".", 1)[-1] for n in evidence.identifiers}
    names |= {m.path.rsplit("/", 1)[-1] for m in evidence.mentions}
    # Best first; among equals (most lines name nothing) the earlier line.
    ranked = sorted(range(len(lines)), key=lambda i: (-_weight(i, lines[i], names), i))
    kept: dict[int, str] = {}
    room = limit
    for i in ranked:
        if sizes[i] <= room:
            kept[i] = lines[i]
            room -= sizes[i]
        elif i == 0:
            kept[i] = head(lines[i], room)
            room -= word_pieces(kept[i])
    return "\n".join(kept[i] for i in sorted(kept)) or head(text, limit)  # all links: the head


def _weight(index: int, line: str, names: set[str]) -> int:
    if index == 0:
        return 100  # the title says what the report is about
    named = sum(1 for name in names if name and name in line)
    return named + (2 if _ERROR_LINE.search(line) else 0)


def dense_texts(text: str, evidence: Evidence, how: DenseText | None = None) -> list[str]:
    """The texts to embed for ``text``; their mean vector is the query's."""
    how = how or DENSE_TEXT
    if how == "head" or len(text) <= DENSE_PIECES:  # a piece has a character at least
        return [text]
    if how == "digest":
        return [digest(text, evidence, DENSE_PIECES)]
    return [text] if len(text) <= WINDOW_CHARS else windows(text)[:MAX_WINDOWS]
