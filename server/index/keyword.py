"""BM25 keyword index over identifier-aware tokens (bm25s).

Rows are positions in the project's chunk list; the caller maps them to chunk
ids. Query words the corpus never saw are ignored, and a query with no known
word answers nothing rather than every chunk with score zero.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from .tokens import tokenize

# bm25s logs at INFO for routine things (an empty query); keep server logs quiet.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class KeywordIndex:
    """Top-k BM25 search over a fixed list of documents."""

    def __init__(self, bm25: bm25s.BM25 | None, size: int) -> None:
        self._bm25 = bm25  # None when no document has a single token
        self._size = size

    @classmethod
    def build(cls, documents: Sequence[list[str]]) -> KeywordIndex:
        """Index already-tokenized documents; row i is ``documents[i]``."""
        if not any(documents):
            return cls(None, len(documents))
        bm25 = bm25s.BM25()
        bm25.index(list(documents), show_progress=False)
        return cls(bm25, len(documents))

    @classmethod
    def load(cls, directory: Path, size: int) -> KeywordIndex:
        if not (directory / "params.index.json").exists():
            return cls(None, size)
        return cls(bm25s.BM25.load(directory, show_progress=False), size)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(directory, show_progress=False)

    def __len__(self) -> int:
        return self._size

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(row, score) of the best ``k`` documents sharing a token with ``query``."""
        if self._bm25 is None or k <= 0:
            return []
        token_ids = self._bm25.get_tokens_ids(tokenize(query))
        if not token_ids:
            return []
        scores = self._bm25.get_scores_from_ids(token_ids)
        return _top_positive(scores, k)


def _top_positive(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` highest positive scores, best first (ties by row for a stable order)."""
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > k:
        best = np.argpartition(-scores[candidates], k - 1)[:k]
        candidates = candidates[best]
    order = np.lexsort((candidates, -scores[candidates]))
    return [(int(row), float(scores[row])) for row in candidates[order]]
