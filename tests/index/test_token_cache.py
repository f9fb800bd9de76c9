"""Token ids reused from the previous generation: same index, less tokenizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from projectqa.server.index import IndexManager, token_cache, tokenize
from projectqa.server.index.keyword import KeywordIndex
from projectqa.server.index.token_cache import TokenCache, tokenize_all

from .conftest import Corpus

FIRST = ["def getUserName(user): ...", "class HttpServer: serve forever", "retry with backoff"]
SECOND = ["class HttpServer: serve forever", "def parse_config(path): ...", "retry with backoff"]


def decoded(cache: TokenCache) -> list[list[str]]:
    """Each text's tokens, read back through the cache's vocabulary."""
    names = {i: token for token, i in cache.vocabulary.items()}
    starts = np.concatenate(([0], cache.ends[:-1]))
    return [[names[i] for i in cache.ids[s:e]] for s, e in zip(starts, cache.ends, strict=True)]


@pytest.fixture
def tokenized_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Texts the build had to tokenize (cache misses)."""
    seen: list[str] = []
    real = token_cache.TokenIds

    class CountingTokenIds(real):  # type: ignore[misc, valid-type]
        def __call__(self, text: str):  # type: ignore[no-untyped-def]
            seen.append(text)
            return super().__call__(text)

    monkeypatch.setattr(token_cache, "TokenIds", CountingTokenIds)
    return seen


def test_reuses_tokens_of_unchanged_texts(tmp_path: Path, tokenized_texts: list[str]) -> None:
    tokenize_all(FIRST, None).save(tmp_path)
    tokenized_texts.clear()
    second = tokenize_all(SECOND, TokenCache.load(tmp_path))
    assert tokenized_texts == ["def parse_config(path): ..."]
    assert decoded(second) == [tokenize(text) for text in SECOND]


def test_vocabulary_is_compacted_to_the_tokens_in_use(tmp_path: Path) -> None:
    tokenize_all(FIRST, None).save(tmp_path)
    second = tokenize_all(SECOND, TokenCache.load(tmp_path))
    in_use = {token for text in SECOND for token in tokenize(text)}
    assert set(second.vocabulary) == in_use
    assert sorted(second.vocabulary.values()) == list(range(len(in_use)))


def test_index_built_with_reuse_scores_like_a_fresh_one(tmp_path: Path) -> None:
    KeywordIndex.build(FIRST).save(tmp_path)
    reused = KeywordIndex.build(SECOND, TokenCache.load(tmp_path))
    fresh = KeywordIndex.build(SECOND)
    for query in ["http server", "config path", "backoff", "get user name"]:
        assert reused.search(query, 5) == fresh.search(query, 5)


def test_unusable_caches_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert TokenCache.load(tmp_path) is None
    (tmp_path / token_cache.CACHE_FILE).write_bytes(b"not a zip file")
    assert TokenCache.load(tmp_path) is None

    cache = tokenize_all(FIRST, None)
    TokenCache(cache.vocabulary, cache.hashes, cache.ends, cache.ids + 1000).save(tmp_path)
    assert TokenCache.load(tmp_path) is None  # ids outside the vocabulary

    cache.save(tmp_path)
    monkeypatch.setattr(token_cache, "TOKENIZER_VERSION", 99)
    assert TokenCache.load(tmp_path) is None


def test_empty_inputs(tmp_path: Path) -> None:
    empty = tokenize_all([], None)
    assert len(empty.ends) == 0 and empty.vocabulary == {}
    empty.save(tmp_path)
    assert decoded(tokenize_all(["", "a b"], TokenCache.load(tmp_path))) == [[], []]


def test_manager_rebuild_tokenizes_only_new_chunks(
    corpus: Corpus, manager: IndexManager, tokenized_texts: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha beta"), ("g", "gamma")])
    manager.get(corpus.project_id)
    tokenized_texts.clear()
    [added] = corpus.add("b.py", [("h", "delta")])
    index = manager.get(corpus.project_id)
    assert tokenized_texts == ["b.py\nh\ndelta"]
    assert [chunk_id for chunk_id, _ in index.search_keyword("delta", 5)] == [added.id]
    assert len(index.search_keyword("alpha gamma", 5)) == 2
