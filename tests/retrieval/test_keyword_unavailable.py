"""Search while the served generation has no keyword part (a tokenizer upgrade).

Real SqliteStore, IndexManager, FAISS and BM25. The generation is published as the
release before stemmed tokens did (``tests/index/test_tokenizer_upgrade.py``): an
upgraded server loads it without its keyword index until a worker publishes the
rebuilt one. Meanwhile hybrid search answers from the dense index alone and says so,
keyword search fails with the reason instead of quietly finding nothing, and the
index status is not complete. Query vectors come from a fixed embedder: these tests
are about which rankers answer, not about what a model understands.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from projectqa.server.embedding import Embedder, UnknownEmbeddingModel
from projectqa.server.errors import FailedPrecondition
from projectqa.server.index import IndexManager
from projectqa.server.index.keyword import TOKENIZER_FILE, StaleKeywordIndex, check_tokenizer
from projectqa.server.retrieval.query import SearchMode, SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.retrieval.status import StoredChunks, index_status
from projectqa.server.store import SqliteStore
from tests.index.conftest import MODEL, Corpus, unit_vectors
from tests.index.test_tokenizer_upgrade import QUESTION, RETRIES, as_release_of_tokenizer

VECTORS = unit_vectors(2, seed=7)  # transport.py's chunk, urls.py's chunk


@dataclass
class FixedEmbedder:
    """Any text -> the vector of transport.py's chunk: dense search ranks it first."""

    name: str = MODEL

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(VECTORS[0], (len(texts), 1)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path: Path) -> Iterator[Corpus]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield Corpus(store)
    store.close()


@pytest.fixture
def index_root(tmp_path: Path) -> Path:
    return tmp_path / "indexes"


def old_generation(corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two embedded files, published by the release before stemmed tokens (version 1)."""
    corpus.add("http/transport.py", [("send", RETRIES)], [VECTORS[0]])
    corpus.add("http/urls.py", [("join", "def join(base, path): ...")], [VECTORS[1]])
    with monkeypatch.context() as old_release:
        as_release_of_tokenizer(old_release, 1)
        return IndexManager(corpus.store, index_root, MODEL).get(corpus.project_id).manifest.dir


def searcher(store: SqliteStore, index_root: Path) -> Searcher:
    """An upgraded server's searcher (no worker of its own)."""
    return Searcher(store, IndexManager(store, index_root, MODEL), FixedEmbedder())  # type: ignore[arg-type]


def paths(found: Sequence[object]) -> list[str]:
    return [hit.chunk.path for hit in found]  # type: ignore[attr-defined]


def test_hybrid_answers_from_the_dense_index_and_says_why(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_generation(corpus, index_root, monkeypatch)
    search = searcher(corpus.store, index_root)
    project = corpus.project_id
    hybrid = search.search(project, SearchQuery.checked(QUESTION))
    assert hybrid.mode is SearchMode.DENSE  # was HYBRID, over an empty keyword list
    assert "tokenizer version 1" in hybrid.keyword_unavailable
    assert paths(hybrid.hits)[0] == "http/transport.py"
    assert all(hit.keyword_rank == 0 for hit in hybrid.hits)
    assert "keyword" not in hybrid.timings  # the stale postings were not asked
    dense = search.search(project, SearchQuery.checked(QUESTION, SearchMode.DENSE))
    assert dense.keyword_unavailable == hybrid.keyword_unavailable
    assert paths(dense.hits) == paths(hybrid.hits)

    status = index_status(
        corpus.store, StoredChunks(corpus.store), project, hybrid.index.manifest, "", ""
    )
    assert status.complete  # the same generation, keyword search working: complete
    status = index_status(
        corpus.store,
        StoredChunks(corpus.store),
        project,
        hybrid.index.manifest,
        "",
        hybrid.keyword_unavailable,
    )
    assert not status.complete


def test_keyword_search_fails_with_the_reason_until_the_rebuild_is_served(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_dir = old_generation(corpus, index_root, monkeypatch)
    search = searcher(corpus.store, index_root)
    project = corpus.project_id
    keyword = SearchQuery.checked(QUESTION, SearchMode.KEYWORD)
    with pytest.raises(FailedPrecondition) as failed:
        search.search(project, keyword)
    message = str(failed.value)
    assert message.startswith("keyword search is unavailable: keyword index of tokenizer")
    assert message.endswith("; search in hybrid or dense mode meanwhile")

    IndexManager(corpus.store, index_root, MODEL).ensure_published(project)  # a worker
    found = search.search(project, keyword)
    assert found.index is not None and found.index.manifest.dir != old_dir
    assert found.mode is SearchMode.KEYWORD and found.keyword_unavailable == ""
    assert paths(found.hits) == ["http/transport.py"]
    hybrid = search.search(project, SearchQuery.checked(QUESTION))
    assert hybrid.mode is SearchMode.HYBRID and hybrid.keyword_unavailable == ""
    assert hybrid.hits[0].keyword_rank == 1 and hybrid.hits[0].dense_rank == 1


def test_hybrid_with_neither_ranker_fails_naming_both(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_generation(corpus, index_root, monkeypatch)

    def cannot(name: str) -> Embedder:
        raise UnknownEmbeddingModel(f"no embedder {name!r}")

    # The server's embedder is another one, and the generation's cannot be built here.
    search = Searcher(
        corpus.store,
        IndexManager(corpus.store, index_root, MODEL),
        FixedEmbedder("new-embedder"),  # type: ignore[arg-type]
        embedder_named=cannot,
    )
    with pytest.raises(FailedPrecondition) as failed:
        search.search(corpus.project_id, SearchQuery.checked(QUESTION))
    message = str(failed.value)
    assert "neither dense nor keyword search is available" in message
    assert f"dense search: this server cannot embed queries with {MODEL!r}" in message
    assert "keyword search: keyword index of tokenizer version 1" in message


def test_a_reason_that_may_name_the_data_directory_stays_in_the_log(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old_generation(corpus, index_root, monkeypatch)
    served = IndexManager(corpus.store, index_root, MODEL).serving(corpus.project_id)
    assert served.keyword_unavailable.startswith("keyword index of tokenizer version 1")
    unreadable = tmp_path / "keyword"
    unreadable.mkdir()
    (unreadable / TOKENIZER_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(StaleKeywordIndex) as stale:
        check_tokenizer(unreadable)
    assert str(unreadable) in str(stale.value)  # the log has the whole reason
    told = stale.value.public
    assert str(tmp_path) not in told and "the server's log says why" in told
