"""BM25 keyword index over identifier-aware tokens (bm25s).

Rows are positions in the project's chunk list; the caller maps them to chunk
ids. Query words the corpus never saw are ignored, and a query with no known
word answers nothing rather than every chunk with score zero.

A pasted bug report is long and says the same ordinary words many times; scored
as plain BM25 its few rare identifiers drown. So in a question of more than
``LONG_QUESTION_TOKENS`` tokens (~1,500 characters) a repeated token counts once, and only its
``MAX_QUERY_TERMS`` rarest distinct tokens are scored; in any question, tokens the
caller ``boost``s (names the question spells as code) count ``BOOST`` times. A short
question's repeats still count (on the evaluation sets, counting them once lost
recall@5), so a short question that names no code is scored as before.

bm25s scores queries and reads and writes the files. Its index build loops in
Python per document (~9 s for 30k code chunks without numba), so the build
here computes the same Lucene-variant score matrix with a few vectorised numpy
steps (~1 s) and hands it to bm25s in its own layout: a CSC matrix of
(document, token) scores, column per token.

An index is only as good as its tokens agree with the query's: the version of the
tokenizer that built it is saved beside it (``tokenizer.json``), and an index of
another version (or of none: built before the file existed, unstemmed) refuses to
load. The rest of its generation still serves (dense, symbols) while workers rebuild
it (``manager.py``), so a server never scores stemmed queries against unstemmed
postings, nor makes a query wait for that rebuild.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Collection, Iterable
from pathlib import Path

import bm25s
import numpy as np

from .token_cache import TokenCache, tokenize_all
from .tokens import STEMMER_LANGUAGE, TOKENIZER_VERSION, tokenize

# bm25s logs at INFO for routine things (an empty query); keep server logs quiet.
logging.getLogger("bm25s").setLevel(logging.WARNING)

K1 = 1.5  # bm25s defaults
B = 0.75
# Beyond, a question is a report: its repeats are narrative. Lower thresholds (64, 128)
# lost acc@1 on the localization sets' commit messages (65-213 tokens); see
# docs/LONG_QUESTIONS.md.
LONG_QUESTION_TOKENS = 256
MAX_QUERY_TERMS = 48  # distinct tokens a long question is scored on, the rarest first
BOOST = 2.0  # weight of a boosted token (a name the question spells as code)
TOKENIZER_FILE = "tokenizer.json"


class StaleKeywordIndex(ValueError):
    """A keyword index built with other tokens than this code makes: it must be rebuilt.

    ``public`` is what a server serving the rest of the generation tells clients, never
    naming the data directory's paths; the log has the whole reason."""

    def __init__(self, reason: str, public: str) -> None:
        super().__init__(reason)
        self.public = public


class KeywordIndex:
    """Top-k BM25 search over a fixed list of documents."""

    def __init__(
        self, bm25: bm25s.BM25 | None, size: int, tokens: TokenCache | None = None
    ) -> None:
        self._bm25 = bm25  # None when no document has a single token
        self._size = size
        self._tokens = tokens  # kept until saved, for the next build to reuse

    @classmethod
    def build(cls, texts: Iterable[str], previous: TokenCache | None = None) -> KeywordIndex:
        """Index ``texts`` (row i is the i-th), reusing tokens ``previous`` has for a text."""
        tokens = tokenize_all(texts, previous)
        size = len(tokens.ends)
        if not len(tokens.ids):
            return cls(None, size, tokens)
        lengths = np.diff(tokens.ends, prepend=0)
        return cls(_bm25(tokens.ids, lengths, tokens.vocabulary), size, tokens)

    @classmethod
    def load(cls, directory: Path, size: int) -> KeywordIndex:
        """The index saved in ``directory``; ``StaleKeywordIndex`` if another tokenizer
        version built it."""
        check_tokenizer(directory)
        if not (directory / "params.index.json").exists():
            return cls(None, size)
        return cls(bm25s.BM25.load(directory, show_progress=False), size)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        write_tokenizer(directory)
        if self._bm25 is not None:
            self._bm25.save(directory, show_progress=False)
        if self._tokens is not None:
            self._tokens.save(directory)
            self._tokens = None  # on disk now; no need to hold it in memory

    def __len__(self) -> int:
        return self._size

    def search(
        self,
        query: str,
        k: int,
        allowed: np.ndarray | None = None,
        boost: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        """(row, score) of the best ``k`` documents sharing a token with ``query``,
        among the rows ``allowed`` marks (all when None); ``boost``: tokens that weigh more."""
        if self._bm25 is None or k <= 0:
            return []
        weights = self._term_weights(tokenize(query), boost)
        if not weights:
            return []
        scores = self._weighted_scores(weights)
        if allowed is not None:
            scores = np.where(allowed, scores, 0)
        return _top_positive(scores, k)

    def _term_weights(self, tokens: list[str], boost: Collection[str]) -> dict[int, float]:
        """Token id -> weight: its repeats (once in a long question), ``BOOST`` times that
        for a boosted token; a long question keeps its ``MAX_QUERY_TERMS`` rarest distinct
        tokens and every boosted one."""
        assert self._bm25 is not None
        vocabulary = self._bm25.vocab_dict
        counts = Counter(vocabulary[t] for t in tokens if t in vocabulary)
        boosted = {vocabulary[t] for t in boost if t in vocabulary}
        if len(tokens) > LONG_QUESTION_TOKENS:
            indptr = self._bm25.scores["indptr"]
            rarest = sorted(counts, key=lambda i: (indptr[i + 1] - indptr[i], i))
            kept = set(rarest[:MAX_QUERY_TERMS]) | (boosted & counts.keys())
            counts = Counter(dict.fromkeys(kept, 1))
        return {i: n * (BOOST if i in boosted else 1) for i, n in counts.items()}

    def _weighted_scores(self, weights: dict[int, float]) -> np.ndarray:
        """Each document's sum of its BM25 scores of the tokens, times their weights."""
        assert self._bm25 is not None
        matrix = self._bm25.scores
        data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
        scores = np.zeros(matrix["num_docs"], dtype=np.float32)
        for token, weight in weights.items():
            start, end = indptr[token], indptr[token + 1]
            scores[indices[start:end]] += weight * data[start:end]  # a column lists a doc once
        return scores


def write_tokenizer(directory: Path) -> None:
    """Records which tokens the index in ``directory`` holds."""
    described = {"version": TOKENIZER_VERSION, "stemmer": STEMMER_LANGUAGE}
    (directory / TOKENIZER_FILE).write_text(json.dumps(described), encoding="utf-8")


def tokenizer_version_of(directory: Path) -> int:
    """The tokenizer version that built the keyword index in ``directory``: 1 when it
    records none (built before versions were recorded: unstemmed tokens), 0 when the
    record is unreadable (no version this code can trust)."""
    try:
        described = json.loads((directory / TOKENIZER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 1
    except (OSError, ValueError):
        return 0
    version = described.get("version") if isinstance(described, dict) else None
    return version if isinstance(version, int) and version >= 0 else 0


def check_tokenizer(directory: Path) -> None:
    """Raises ``StaleKeywordIndex`` unless this tokenizer version built ``directory``."""
    version = tokenizer_version_of(directory)
    if version == 0:
        raise StaleKeywordIndex(
            f"unreadable {TOKENIZER_FILE} in {directory}",
            public="this server cannot read the served generation's keyword index (the "
            "server's log says why): no keyword search until a worker's rebuild is served",
        )
    if version != TOKENIZER_VERSION:
        reason = (
            f"keyword index of tokenizer version {version}, this server tokenizes with "
            f"version {TOKENIZER_VERSION} (stemmed words)"
        )
        until = "no keyword search until a generation of this version is served"
        raise StaleKeywordIndex(reason, public=f"{reason}: {until}")


def _bm25(tokens: np.ndarray, lengths: np.ndarray, vocabulary: dict[str, int]) -> bm25s.BM25:
    """A bm25s index (Lucene variant, its default) over documents given as flat token ids."""
    n_docs, n_vocab = len(lengths), len(vocabulary)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    # Sorting (token, document) keys groups postings by token, documents ascending:
    # exactly the CSC order, and the run lengths are the term frequencies.
    keys, tf = np.unique(tokens.astype(np.int64) * n_docs + docs, return_counts=True)
    columns, rows = np.divmod(keys, n_docs)
    df = np.bincount(columns, minlength=n_vocab)
    # Lucene BM25 (Kamphuis et al., ECIR 2020), as bm25s.scoring computes it.
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    norm = K1 * (1 - B + B * lengths[rows] / lengths.mean())
    scores = idf[columns] * (tf / (norm + tf))

    bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
    bm25.scores = {
        "data": scores.astype(np.float32),
        "indices": rows.astype(np.int32),
        "indptr": np.concatenate(([0], np.cumsum(df))).astype(np.int32),
        "num_docs": n_docs,
    }
    bm25.vocab_dict = vocabulary
    bm25.unique_token_ids_set = set(vocabulary.values())
    bm25.nonoccurrence_array = None  # only the bm25l / bm25+ variants have one
    return bm25


def _top_positive(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` highest positive scores, best first (ties by row for a stable order)."""
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > k:
        best = np.argpartition(-scores[candidates], k - 1)[:k]
        candidates = candidates[best]
    order = np.lexsort((candidates, -scores[candidates]))
    return [(int(row), float(scores[row])) for row in candidates[order]]
