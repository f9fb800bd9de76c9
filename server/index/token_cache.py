"""Token ids of every indexed text, kept with a generation so the next build reuses them.

Tokenizing is most of a keyword-index build (~2 s of ~3 s for 30k code chunks),
and an ingestion run changes few chunks, so a build looks each text up by its
hash in the previous generation's cache and tokenizes only texts it has not
seen. Tokens are a pure function of the text and ``TOKENIZER_VERSION``, so a
hit is always right; a missing, damaged or older cache only costs time.

Ids are those of the keyword index saved beside it: the vocabulary is stored
in id order and a build extends it, then drops tokens no text uses any more.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tokens import TOKENIZER_VERSION, TokenIds

log = logging.getLogger(__name__)

CACHE_FILE = "tokens.npz"
_HASH_SIZE = 16  # bytes of blake2b per text


@dataclass
class TokenCache:
    """Texts (by hash) and their token ids, flat, with the vocabulary of those ids."""

    vocabulary: dict[str, int] = field(default_factory=dict)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))  # 16 B each
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def save(self, directory: Path) -> None:
        np.savez(
            directory / CACHE_FILE,
            version=np.int64(TOKENIZER_VERSION),
            vocabulary=np.frombuffer("\n".join(self.vocabulary).encode(), dtype=np.uint8),
            hashes=self.hashes,
            ends=self.ends,
            ids=self.ids,
        )

    @classmethod
    def load(cls, directory: Path) -> TokenCache | None:
        """The cache saved in ``directory``, or None when there is none usable."""
        try:
            with np.load(directory / CACHE_FILE) as saved:
                if int(saved["version"]) != TOKENIZER_VERSION:
                    return None
                words = saved["vocabulary"].tobytes().decode()
                cache = cls(
                    vocabulary={t: i for i, t in enumerate(words.split("\n"))} if words else {},
                    hashes=saved["hashes"],
                    ends=saved["ends"],
                    ids=saved["ids"],
                )
        except FileNotFoundError:
            return None
        except Exception as exc:  # only an optimisation: any damage means tokenize afresh
            log.warning("ignoring token cache in %s: %s", directory, exc)
            return None
        ids, ends = cache.ids, cache.ends
        consistent = (
            len(cache.hashes) == _HASH_SIZE * len(ends)
            and (ends[-1] == len(ids) if len(ends) else not len(ids))
            and (not len(ids) or 0 <= ids.min() <= ids.max() < len(cache.vocabulary))
        )
        if not consistent:
            log.warning("ignoring inconsistent token cache in %s", directory)
            return None
        return cache


def tokenize_all(texts: Iterable[str], previous: TokenCache | None) -> TokenCache:
    """Token ids of ``texts`` in order, reusing ``previous`` for texts it has."""
    previous = previous or TokenCache()
    starts = np.concatenate(([0], previous.ends[:-1])) if len(previous.ends) else previous.ends
    blob = previous.hashes.tobytes()
    digests = [blob[i : i + _HASH_SIZE] for i in range(0, len(blob), _HASH_SIZE)]
    spans = zip(starts.tolist(), previous.ends.tolist(), strict=True)
    known = dict(zip(digests, spans, strict=True))
    token_ids = TokenIds(previous.vocabulary)
    hashes: list[bytes] = []
    pieces: list[np.ndarray] = []
    for text in texts:
        digest = hashlib.blake2b(text.encode(), digest_size=_HASH_SIZE).digest()
        hashes.append(digest)
        span = known.get(digest)
        if span is not None:
            pieces.append(previous.ids[span[0] : span[1]])
        else:
            pieces.append(np.fromiter(token_ids(text), dtype=np.int32))
    ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    ends = np.cumsum([len(piece) for piece in pieces], dtype=np.int64)
    vocabulary, ids = _compact(token_ids.vocabulary, ids)
    return TokenCache(vocabulary, np.frombuffer(b"".join(hashes), dtype=np.uint8), ends, ids)


def _compact(vocabulary: dict[str, int], ids: np.ndarray) -> tuple[dict[str, int], np.ndarray]:
    """Drop tokens no text uses and renumber the rest densely, keeping their order."""
    used = np.bincount(ids, minlength=len(vocabulary)) > 0
    if used.all():
        return vocabulary, ids
    renumber = np.cumsum(used) - 1
    kept = [token for token, keep in zip(vocabulary, used.tolist(), strict=True) if keep]
    return {token: i for i, token in enumerate(kept)}, renumber[ids].astype(np.int32)
