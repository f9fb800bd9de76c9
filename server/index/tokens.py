"""Identifier-aware, stemmed tokens for the keyword index.

Code names are split into their words, so a question about "user name" finds
``getUserName`` and ``get_user_name`` alike; the whole identifier is kept as one
more token (without underscores), so a query naming the identifier, in either
naming convention, scores highest on it::

    tokenize("getUserName(HTTPServer)")
    == ["getusername", "get", "user", "name", "httpserver", "http", "server"]
    tokenize("get_user_name") == ["getusername", "get", "user", "name"]

Words are stemmed (Snowball English, through PyStemmer), so word forms meet: "how
does retry work?" finds ``retries`` and ``max_retries`` (all ``retri``). A whole
identifier of several words is kept as written: it is an exact name, and a query
naming it matches it exactly (``maxretries``); its words are stemmed like any
other. Texts and queries go through this same function, so both sides agree.

Tokens are lowercase; one-character tokens and a few words too common to help
ranking are dropped, as written, before stemming: a word is dropped for what it
is, never for the stem it shares with a stop word. Inflected glue words keep
their stems ("being" is ``be``): rare enough to cost nothing in BM25, and
dropping them would change the tokens (a new version, every index rebuilt);
extractive answers leave them out of a question's terms (chat/question_words.py).
Digits stay attached to the word they end
(``base64``, ``http2``). Words outside ASCII are not stemmed: the stemmer is
English.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from itertools import chain

import Stemmer

# English glue words, plus the code words present in nearly every Python chunk.
# fmt: off
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "has", "have",
    "how", "if", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "then", "there", "these", "this", "to", "was", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "self", "cls", "def",
})
# fmt: on

WORD = re.compile(r"\w+")  # a word, as the keyword index reads one
# One word of an identifier: an acronym before a capitalised word (HTTP|Server),
# a capitalised or lowercase word, an acronym, or a number; trailing digits stay.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])\d*|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+")
# Bump when the tokens of some text change: token lists cached on disk by an
# older version are then not reused (see token_cache.py), and keyword indexes built
# by an older version are rebuilt, never queried with these tokens (keyword.py).
# 1: identifier-aware words; 2: stemmed.
TOKENIZER_VERSION = 2
STEMMER_LANGUAGE = "english"


def tokenize(text: str) -> list[str]:
    """The keyword tokens of ``text``, in order, repeats kept (BM25 counts them)."""
    return [token for word in WORD.findall(text) for token in word_tokens(word)]


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
        return chain.from_iterable(map(self._word_ids.__getitem__, WORD.findall(text)))


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
    words = [t for t in (parts if len(parts) > 1 else [whole]) if _kept(t)]
    stems = [stem for stem in map(_stem, words) if len(stem) > 1]
    return (whole, *stems) if len(parts) > 1 and _kept(whole) else tuple(stems)


def _kept(token: str) -> bool:
    return len(token) > 1 and token not in STOP_WORDS


class _Stemmers(threading.local):
    """One stemmer per thread: a PyStemmer ``Stemmer`` must not be shared by threads."""

    def __init__(self) -> None:
        self.stemmer = Stemmer.Stemmer(STEMMER_LANGUAGE)
        self.stemmer.maxCacheSize = 0  # word_tokens caches, per word rather than per part


_STEMMERS = _Stemmers()


def _stem(token: str) -> str:
    return _STEMMERS.stemmer.stemWord(token) if token.isascii() else token
