"""Search over a partly embedded project, and with the embedder of the served generation.

Real SqliteStore, IndexManager, FAISS and BM25: chunks are written the way
ingestion writes them, some with vectors in the embedding cache and some
without (a run that writes chunks first and embeds behind). Query vectors come
from small deterministic embedders: these tests are about which rows can rank
and which embedder is asked, not about what a model understands.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from projectqa.server import embedding
from projectqa.server.embedding import Embedder, UnknownEmbeddingModel, vector_to_bytes
from projectqa.server.errors import FailedPrecondition
from projectqa.server.index import IndexManager
from projectqa.server.index.dense import DenseIndex, DenseKind
from projectqa.server.models import (
    IngestionRun,
    RunMode,
    RunStatus,
    RunTrigger,
    new_id,
    utcnow,
)
from projectqa.server.retrieval.query import SearchMode, SearchQuery
from projectqa.server.retrieval.rank import RankWeights, fuse
from projectqa.server.retrieval.search import UNAVAILABLE_RETRY_S, Searcher, SearchResult
from projectqa.server.retrieval.status import StoredChunks, index_status
from projectqa.server.store import SqliteStore
from tests.index.conftest import DIM, MODEL, Corpus, unit_vectors

OLD_MODEL = "old-embedder"
QUESTION = "refund the payment to the original card"
# Files with vectors: their words meet the question's only here and there.
EMBEDDED = {
    "shop/cart.py": [("Cart.total", "sum the price of every item in the cart")],
    "shop/payment.py": [("charge_card", "charge the card for the payment, retry on timeout")],
    "shop/mailer.py": [("send_receipt", "mail the receipt to the customer")],
    "shop/stock.py": [("reserve", "reserve stock for an order")],
}
# The right chunk, written but not embedded yet.
REFUNDS = ("refund_to_card", "refund the payment to the original card, minus shipping")


@dataclass
class FixedEmbedder:
    """Any text -> one fixed unit vector; remembers what it encoded."""

    name: str
    vector: np.ndarray
    encoded: list[str] = field(default_factory=list)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        return np.tile(self.vector, (len(texts), 1)).astype(np.float32)


class RefusingEmbedder(FixedEmbedder):
    """The server's configured embedder, which a generation of another must never use."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError(f"queried {self.name!r} for a generation of another embedder")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


@dataclass
class Shop:
    corpus: Corpus
    vectors: dict[str, np.ndarray]  # path -> the vector of its chunk
    refunds_id: str


def write_shop(store: SqliteStore, model: str = MODEL, *, embed_refunds: bool = False) -> Shop:
    corpus = Corpus(store)
    vectors = dict(zip(EMBEDDED, unit_vectors(len(EMBEDDED) + 1, seed=7), strict=False))
    for path, chunks in EMBEDDED.items():
        corpus.add(path, chunks, [vectors[path]], model=model)
    refund_vector = [unit_vectors(1, seed=8)[0]] if embed_refunds else None
    [refunds] = corpus.add("shop/refunds.py", [REFUNDS], refund_vector, model=model)
    return Shop(corpus, vectors, refunds.id)


def searcher(store: SqliteStore, root: Path, model: str, query_vector: np.ndarray) -> Searcher:
    return Searcher(store, IndexManager(store, root, model), FixedEmbedder(model, query_vector))


def ranked_paths(found: list) -> list[str]:  # type: ignore[type-arg]
    return [hit.chunk.path for hit in found]


# ----------------------------------------------------------------- ranking, partly embedded


def test_a_chunk_without_a_vector_ranks_where_keyword_search_puts_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    shop = write_shop(store)
    # The query vector is the mailer's: dense search puts an unrelated chunk first.
    search = searcher(store, tmp_path / "indexes", MODEL, shop.vectors["shop/mailer.py"])
    project = shop.corpus.project_id
    index = search.index(project)
    assert (index.manifest.chunks, index.manifest.vectors) == (5, 4)
    keyword = search.search(project, SearchQuery.checked(QUESTION, SearchMode.KEYWORD))
    hybrid = search.search(project, SearchQuery.checked(QUESTION, SearchMode.HYBRID))
    assert ranked_paths(keyword.hits)[0] == "shop/refunds.py"
    assert ranked_paths(hybrid.hits)[0] == "shop/refunds.py"  # not buried by the mailer
    refund = hybrid.hits[0]
    assert (refund.dense_rank, refund.keyword_rank) == (0, 1)  # no vector: no dense rank


def test_fusion_imputes_only_rows_without_a_vector() -> None:
    weights = RankWeights()
    dense = [(2, 0.9), (0, 0.8)]
    keyword = [(5, 9.0), (0, 8.0), (1, 7.0), (2, 6.0)]
    has_vector = np.array([True, False, True, True, True, False])
    before = fuse(dense, keyword, weights)
    fused = fuse(dense, keyword, weights, has_vector)
    keyword_only = fuse([], keyword, weights)
    for row in (5, 1):  # without a vector: scored as keyword-only search scores them
        assert fused[row].score == pytest.approx(keyword_only[row].score)
        assert fused[row].dense_rank == 0
    for row in (0, 2):  # with one: unchanged
        assert fused[row].score == pytest.approx(before[row].score)
    assert max(c.score for c in fused.values()) <= 1.0 + 1e-9
    assert fused[5].score > before[5].score


def test_a_fully_embedded_project_ranks_exactly_as_before(
    store: SqliteStore, tmp_path: Path
) -> None:
    shop = write_shop(store, embed_refunds=True)
    search = searcher(store, tmp_path / "indexes", MODEL, shop.vectors["shop/mailer.py"])
    index = search.index(shop.corpus.project_id)
    assert index.has_vector() is None  # every row has one: fusion gets no mask at all
    dense = [(1, 0.9), (0, 0.5)]
    keyword = [(0, 3.0), (2, 2.0)]
    mask = np.ones(3, dtype=bool)
    assert {r: c.score for r, c in fuse(dense, keyword, RankWeights(), mask).items()} == {
        r: c.score for r, c in fuse(dense, keyword, RankWeights()).items()
    }


@pytest.mark.parametrize("exact_max", [1000, 10], ids=["flat", "ivf"])
def test_the_has_vector_mask_is_the_dense_index_rows(exact_max: int) -> None:
    rows = np.array(sorted(np.random.default_rng(3).choice(900, 400, replace=False)))
    dense = DenseIndex.build(np.stack(unit_vectors(400, seed=4)), rows, exact_max)
    assert dense.kind is (DenseKind.FLAT if exact_max > 400 else DenseKind.IVF)
    assert sorted(dense.rows().tolist()) == rows.tolist()
    assert DenseIndex.build(np.zeros((0, 0)), np.zeros(0), exact_max).rows().size == 0


# ------------------------------------------------------ the served generation's embedder


def test_queries_are_embedded_by_the_embedder_of_the_served_generation(
    store: SqliteStore, tmp_path: Path
) -> None:
    shop = write_shop(store, OLD_MODEL)  # vectors of the embedder before an upgrade
    old = FixedEmbedder(OLD_MODEL, shop.vectors["shop/payment.py"])
    asked: list[str] = []

    def embedder_named(name: str) -> Embedder:
        asked.append(name)
        return old  # type: ignore[return-value]

    configured = RefusingEmbedder("new-embedder", np.zeros(DIM, dtype=np.float32))
    search = Searcher(
        store,
        IndexManager(store, tmp_path / "indexes", OLD_MODEL),
        configured,  # type: ignore[arg-type]
        embedder_named=embedder_named,
    )
    query = SearchQuery.checked("anything at all", SearchMode.DENSE)
    found = search.search(shop.corpus.project_id, query)
    assert ranked_paths(found.hits)[0] == "shop/payment.py"
    assert found.mode is SearchMode.DENSE and found.dense_unavailable == ""
    search.search(shop.corpus.project_id, query)
    assert set(asked) == {OLD_MODEL} and old.encoded == ["anything at all"]  # cached


def test_without_the_generations_embedder_hybrid_search_is_keyword_only(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = write_shop(store, OLD_MODEL)

    lookups: list[str] = []

    def cannot(name: str) -> Embedder:
        lookups.append(name)
        raise UnknownEmbeddingModel(f"no embedder {name!r} in /srv/secret-data-dir/models")

    # The default lookup is the process-wide one (embedding.embedder_named).
    monkeypatch.setattr(embedding, "embedder_named", cannot, raising=False)
    configured = RefusingEmbedder("new-embedder", np.zeros(DIM, dtype=np.float32))
    indexes = IndexManager(store, tmp_path / "indexes", OLD_MODEL)
    now = [0.0]
    search = Searcher(store, indexes, configured, clock=lambda: now[0])  # type: ignore[arg-type]
    project = shop.corpus.project_id
    hybrid = search.search(project, SearchQuery.checked(QUESTION))
    keyword = search.search(project, SearchQuery.checked(QUESTION, SearchMode.KEYWORD))
    assert hybrid.mode is SearchMode.KEYWORD
    assert (
        OLD_MODEL in hybrid.dense_unavailable and "PROJECTQA_EMBEDDER" in hybrid.dense_unavailable
    )
    assert "/srv" not in hybrid.dense_unavailable  # the reason is in the log, not sent out
    assert ranked_paths(hybrid.hits) == ranked_paths(keyword.hits)
    assert all(hit.dense_rank == 0 for hit in hybrid.hits)
    with pytest.raises(FailedPrecondition, match="dense search is unavailable"):
        search.search(project, SearchQuery.checked(QUESTION, SearchMode.DENSE))
    assert len(lookups) == 1  # remembered, not tried at every query...
    now[0] = UNAVAILABLE_RETRY_S + 1
    search.search(project, SearchQuery.checked(QUESTION))
    assert len(lookups) == 2  # ... until a while later (a full disk may be over by then)


# ---------------------------------------------------------------------------- status


def test_index_status_counts_the_served_generation_and_the_store(
    store: SqliteStore, tmp_path: Path
) -> None:
    shop = write_shop(store)
    project = shop.corpus.project_id
    indexes = IndexManager(store, tmp_path / "indexes", MODEL)
    manifest = indexes.get(project).manifest
    stored = StoredChunks(store)
    shop.corpus.add("shop/later.py", [("later", "written after the generation")])
    run = IngestionRun(
        id=new_id("run"),
        project_id=project,
        connector_id=shop.corpus.connector_id,
        mode=RunMode.FULL,
        trigger=RunTrigger.MANUAL,
        status=RunStatus.RUNNING,
        phase="embedding",
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    store.create_run(run)
    status = index_status(store, stored, project, manifest, "")
    assert (status.generation, status.chunks_indexed, status.chunks_embedded) == (5, 5, 4)
    assert status.chunks_stored == 6  # ahead of the served generation
    assert (status.embedder, status.active_run_id) == (MODEL, run.id)
    assert not status.complete
    empty = index_status(store, stored, new_id("prj"), None, "")
    assert (empty.generation, empty.chunks_indexed, empty.embedder) == (0, 0, "")


def test_searches_during_the_switch_from_keyword_only_to_hybrid_stay_consistent(
    store: SqliteStore, tmp_path: Path
) -> None:
    """A race as a race: one thread publishes generation after generation as vectors fill
    in (none, then one file's, … then all), another searches meanwhile. Each answer comes
    whole from one generation: dense ranks only for chunks with a vector in it, and the
    right chunk first whatever share is embedded."""
    corpus = Corpus(store)
    written = {path: corpus.add(path, chunks) for path, chunks in EMBEDDED.items()}
    [refunds] = corpus.add("shop/refunds.py", [REFUNDS])
    vectors = dict(zip(EMBEDDED, unit_vectors(len(EMBEDDED), seed=9), strict=True))
    indexes = IndexManager(store, tmp_path / "indexes", MODEL)
    search = Searcher(store, indexes, FixedEmbedder(MODEL, vectors["shop/mailer.py"]))
    project = corpus.project_id
    indexes.rebuild(project)  # keyword only: no chunk has a vector yet
    done = threading.Event()

    def embed_behind() -> None:
        for path, chunks in written.items():
            cached = {c.embed_hash: vector_to_bytes(vectors[path]) for c in chunks}
            store.put_embeddings(MODEL, cached)
            store.bump_index_generation(project)
            indexes.rebuild(project)
        done.set()

    publisher = threading.Thread(target=embed_behind, name="embed-behind")
    publisher.start()
    answers = 0
    while not done.is_set() and answers < 5000:  # bounded in count, not in time
        check_answer(search.search(project, SearchQuery.checked(QUESTION)), refunds.id)
        answers += 1
    publisher.join(timeout=120)
    last = search.search(project, SearchQuery.checked(QUESTION))
    check_answer(last, refunds.id)
    assert last.index is not None and last.index.manifest.vectors == len(EMBEDDED)


def check_answer(found: SearchResult, right_chunk: str) -> None:
    """Every part of the answer from the one generation that answered."""
    assert found.index is not None
    mask = found.index.has_vector()
    assert found.hits[0].chunk.id == right_chunk
    for hit in found.hits:
        row = found.index.table.rows_of("document", hit.chunk.document_id)[0]
        assert not hit.dense_rank or mask is None or mask[row]
