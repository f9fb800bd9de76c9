"""File ranking from a passage ranking (server/retrieval/files.py), on hand-made hits."""

from __future__ import annotations

import pytest

from projectqa.server.errors import InvalidArgument
from projectqa.server.models import Chunk
from projectqa.server.retrieval.citations import citation_of
from projectqa.server.retrieval.files import (
    Aggregation,
    FilePrior,
    FileWeights,
    file_query,
    pool_query,
    rank_files,
)
from projectqa.server.retrieval.ops import CitedHit
from projectqa.server.retrieval.query import SearchFilter, SearchQuery
from projectqa.server.retrieval.search import Hit

MAX = FileWeights(aggregation=Aggregation.MAX)
DECAY = FileWeights(aggregation=Aggregation.DECAY_SUM, decay=0.5, depth=3)
RRF = FileWeights(aggregation=Aggregation.RECIPROCAL_RANK, rrf_k=10)


def cited(path: str, score: float, line: int = 1, connector: str = "con_a") -> CitedHit:
    chunk = Chunk(
        id=f"chk_{path}_{line}", project_id="prj", connector_id=connector,
        document_id=f"doc_{connector}_{path}", document_key=path, kind="file", path=path,
        url="", title="", ordinal=line, start_line=line, end_line=line + 9, symbol="",
        symbol_kind="lines", language="python", text="x", embed_hash="h",
    )  # fmt: skip
    return CitedHit(Hit(chunk, score, 0, 0), citation_of(chunk))


def ranking(*hits: CitedHit) -> list[CitedHit]:
    """Best first, as the passage search returns them."""
    return sorted(hits, key=lambda h: -h.hit.score)


def paths(files) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.path for f in files]


# A long file with many middling passages against one file with the best passage.
BULK = [cited("long.py", 0.5 - i * 0.01, line=10 * i + 1) for i in range(10)]
SHARP = [cited("sharp.py", 0.9)]


@pytest.mark.parametrize("weights", [MAX, DECAY], ids=["max", "decay_sum"])
def test_many_middling_passages_do_not_outrank_one_strong_one(weights: FileWeights) -> None:
    files = rank_files(ranking(*BULK, *SHARP), weights)
    assert paths(files) == ["sharp.py", "long.py"]
    assert files[1].passages == 10  # all counted as found, only the best few scored


def test_decay_sum_counts_only_the_best_few_passages() -> None:
    files = rank_files(ranking(*BULK), DECAY)
    assert files[0].score == pytest.approx(0.5 + 0.49 * 0.5 + 0.48 * 0.25)


def test_decay_sum_prefers_two_good_passages_to_one_slightly_better() -> None:
    hits = ranking(cited("one.py", 0.8), cited("two.py", 0.7), cited("two.py", 0.6, line=20))
    assert paths(rank_files(hits, DECAY)) == ["two.py", "one.py"]
    assert paths(rank_files(hits, MAX)) == ["one.py", "two.py"]


def test_reciprocal_rank_scores_rank_one_alone_as_one() -> None:
    files = rank_files(ranking(cited("a.py", 0.9), cited("b.py", 0.8)), RRF)
    assert files[0].path == "a.py" and files[0].score == pytest.approx(1.0)
    assert files[1].score == pytest.approx(11 / 12)


def test_a_files_hits_are_its_passages_best_first() -> None:
    files = rank_files(ranking(*BULK), DECAY)
    scores = [h.hit.score for h in files[0].hits]
    assert scores == sorted(scores, reverse=True) and len(scores) == 10


def test_the_same_path_in_two_connectors_is_two_files() -> None:
    files = rank_files(ranking(cited("a.py", 0.9), cited("a.py", 0.8, connector="con_b")), MAX)
    assert [(f.connector_id, f.path) for f in files] == [("con_a", "a.py"), ("con_b", "a.py")]


def test_a_prior_reorders_the_files_found() -> None:
    hits = ranking(cited("a.py", 0.9), cited("b.py", 0.8))
    prior = FilePrior({"b.py": 1.0}, weight=0.2)
    files = rank_files(hits, MAX, [prior])
    assert paths(files) == ["b.py", "a.py"] and files[0].score == pytest.approx(1.0)


def test_a_prior_never_adds_a_file_the_filters_did_not_let_through() -> None:
    prior = FilePrior({"secret/other.py": 1.0}, weight=10.0)
    assert paths(rank_files(ranking(cited("a.py", 0.9)), MAX, [prior])) == ["a.py"]


def test_ties_are_broken_by_path() -> None:
    files = rank_files(ranking(cited("b.py", 0.5), cited("a.py", 0.5)), MAX)
    assert paths(files) == ["a.py", "b.py"]


def test_file_query_keeps_only_files() -> None:
    query = file_query(SearchQuery.checked("where", search_filter=SearchFilter(kinds=("file",))))
    assert query.filter.kinds == ("file",)
    assert file_query(SearchQuery.checked("where")).filter.kinds == ("file",)


def test_the_pool_holds_as_many_passages_per_file_as_the_request_cites() -> None:
    weights = FileWeights(pool=100, pool_per_file=5)
    assert pool_query(SearchQuery.checked("where", top_k=3), weights).max_per_document == 5
    cited_ten = pool_query(SearchQuery.checked("where", max_per_document=10), weights)
    assert (cited_ten.top_k, cited_ten.max_per_document) == (100, 10)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (SearchQuery.checked("where", max_per_document=11), "max_per_document"),
        (
            SearchQuery.checked("where", search_filter=SearchFilter(kinds=("issue",))),
            "filter.kinds",
        ),
    ],
)
def test_file_query_refuses_what_a_file_search_cannot_do(query: SearchQuery, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        file_query(query)
    assert raised.value.field == field
