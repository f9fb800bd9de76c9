"""Hybrid search embeds the question while it takes the keyword candidates (issue 16's
latency target: the embedder pass was most of a long question's Search time, and the
keyword stage and the evidence look-ups waited for it).

Real SqliteStore, IndexManager, FAISS and BM25 (the shop of test_partial_index.py); the
query embedder is a small deterministic one that notes what happened while it ran.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index.project import ProjectIndex
from projectqa.server.retrieval.query import SearchMode, SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.store import SqliteStore
from tests.index.conftest import MODEL
from tests.retrieval.test_partial_index import QUESTION, FixedEmbedder, ranked_paths, write_shop

WAIT_S = 5.0  # bounds a failing run only: a passing one never waits for it


class WaitingEmbedder(FixedEmbedder):
    """Encodes only once the keyword stage has started (or WAIT_S passed): run one after
    the other, as before, it finds that the keyword stage had not started."""

    keyword_started: threading.Event
    overlapped: list[bool]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.overlapped.append(self.keyword_started.wait(WAIT_S))
        return super().encode(texts)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


def test_hybrid_search_takes_keyword_candidates_while_the_question_is_embedded(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = write_shop(store, embed_refunds=True)
    embedder = WaitingEmbedder(MODEL, shop.vectors["shop/payment.py"])
    embedder.keyword_started, embedder.overlapped = threading.Event(), []
    keyword_rows = ProjectIndex.keyword_rows

    def noting_keyword_rows(self: ProjectIndex, *args: object, **kwargs: object) -> object:
        embedder.keyword_started.set()
        return keyword_rows(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ProjectIndex, "keyword_rows", noting_keyword_rows)
    search = Searcher(store, IndexManager(store, tmp_path / "indexes", MODEL), embedder)  # type: ignore[arg-type]

    found = search.search(shop.corpus.project_id, SearchQuery.checked(QUESTION))

    assert embedder.overlapped == [True]
    assert found.mode is SearchMode.HYBRID
    assert ranked_paths(found.hits)[0] == "shop/refunds.py"
    assert found.hits[0].dense_rank and found.hits[0].keyword_rank  # both rankers answered


def test_dense_and_keyword_search_answer_alone(store: SqliteStore, tmp_path: Path) -> None:
    shop = write_shop(store, embed_refunds=True)
    embedder = FixedEmbedder(MODEL, shop.vectors["shop/payment.py"])
    search = Searcher(store, IndexManager(store, tmp_path / "indexes", MODEL), embedder)  # type: ignore[arg-type]
    project = shop.corpus.project_id

    keyword = search.search(project, SearchQuery.checked(QUESTION, SearchMode.KEYWORD))
    dense = search.search(project, SearchQuery.checked(QUESTION, SearchMode.DENSE))

    assert embedder.encoded == [QUESTION]  # keyword search embeds nothing
    assert "embed" not in keyword.timings and "keyword" not in dense.timings
    assert ranked_paths(dense.hits)[0] == "shop/payment.py"  # the query vector's chunk
    assert all(hit.keyword_rank == 0 for hit in dense.hits)
