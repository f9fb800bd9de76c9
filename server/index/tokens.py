"""Identifier-aware tokens for the keyword index.

Code names are split into their words, so a question about "user name" finds
``getUserName`` and ``get_user_name`` alike; the whole identifier is kept as one
more token (without underscores), so a query naming the identifier, in either
naming convention, scores highest on it::

    tokenize("getUserName(HTTPServer)")
    == ["getusername", "get", "user", "name", "httpserver", "http", "server"]
    tokenize("get_user_name") == ["getusername", "get", "user", "name"]

Tokens are lowercase; one-character tokens and a few words too common to help
ranking are dropped. Digits stay attached to the word they end (``base64``,
``http2``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from itertools import chain

# English glue words, plus the code words present in nearly every Python chunk.
# fmt: off
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "has", "have",
    "how", "if", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "then", "there", "these", "this", "to", "was", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "self", "cls", "def",
})
# fmt: on

_WORD = re.compile(r"\w+")
# One word of an identifier: an acronym before a capitalised word (HTTP|Server),
# a capitalised or lowercase word, an acronym, or a number; trailing digits stay.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])\d*|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+")
# Bump when the tokens of some text change: token lists cached on disk by an
# older version are then not reused (see token_cache.py).
TOKENIZER_VERSION = 1


def tokenize(text: str) -> list[str]:
    """The keyword tokens of ``text``, in order, repeats kept (BM25 counts them)."""
    return [token for word in _WORD.findall(text) for token in word_tokens(word)]


class TokenIds:
    """Token ids of texts under a vocabulary that grows as texts come (one per index build).

    Faster than ``tokenize`` plus a lookup per token: each distinct word is
    split and looked up once.
    """

    def __init__(self, vocabulary: dict[str, int] | None = None) -> None:
        """Start from ``vocabulary`` (token -> id, ids 0..n-1 in insertion order)."""
        self.vocabulary: dict[str, int] = dict(vocabulary or {})
        self._word_ids = _WordIds(self.vocabulary)

    def __call__(self, text: str) -> Iterator[int]:
        return chain.from_iterable(map(self._word_ids.__getitem__, _WORD.findall(text)))


class _WordIds(dict[str, tuple[int, ...]]):
    def __init__(self, vocabulary: dict[str, int]) -> None:
        super().__init__()
        self._vocabulary = vocabulary

    def __missing__(self, word: str) -> tuple[int, ...]:
        vocabulary = self._vocabulary
        ids = tuple(vocabulary.setdefault(token, len(vocabulary)) for token in word_tokens(word))
        self[word] = ids
        return ids


@functools.lru_cache(maxsize=100_000)
def word_tokens(word: str) -> tuple[str, ...]:
    """Tokens of one ``\\w+`` word: the whole word, then its parts when it has several.

    The whole word loses its underscores, so ``get_user_name`` and ``getUserName``
    share it: a name asked for in one naming convention finds it in the other.
    """
    whole = word.replace("_", "").lower()
    if word.isascii():
        parts = [part.lower() for part in _PART.findall(word)]
    else:
        # Case-splitting rules above are ASCII-only; other scripts split on "_" only.
        parts = [part.lower() for part in word.split("_") if part]
    tokens = [whole, *parts] if len(parts) > 1 else [whole]
    return tuple(token for token in tokens if len(token) > 1 and token not in STOP_WORDS)
