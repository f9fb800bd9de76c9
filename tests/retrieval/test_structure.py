"""Structure in file search (server/retrieval/structure.py): scores lent along the file
graph, over a real SQLite Store and a real index generation. Most tests replace the
generation's graph by a small one made by hand with FileGraph's interface (out_edges,
in_edges, row_edges), for exact arithmetic; the last ones use the graph the index built
from the references extracted when the files were chunked."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from projectqa.server.chunking import read_document
from projectqa.server.index import IndexManager
from projectqa.server.index.project import ProjectIndex
from projectqa.server.models import Chunk, Document, DocumentWrite, Symbol, new_id, utcnow
from projectqa.server.retrieval.citations import citation_of
from projectqa.server.retrieval.files import (
    Aggregation,
    FileSearch,
    FileWeights,
    RankedFile,
    rank_files,
)
from projectqa.server.retrieval.ops import CitedHit, CitedResult
from projectqa.server.retrieval.query import SearchFilter, SearchMode, SearchQuery
from projectqa.server.retrieval.search import Hit, SearchResult
from projectqa.server.retrieval.structure import StructureWeights, structure_reranker
from projectqa.server.sources import DocumentKind, SourceDocument
from projectqa.server.store import SqliteStore

MODEL = "all-MiniLM-L6-v2"
PROJECT = "prj_structure"
CONNECTOR = "con_git"
SOURCES = {
    "src/shop/cli.py": "from shop.price import parse_price\n\ndef main(argv):\n"
    "    return parse_price(argv[0])\n",
    "src/shop/price.py": "from shop.money import to_cents\n\ndef parse_price(text):\n"
    "    return to_cents(text.strip())\n",
    "src/shop/money.py": "CENTS = 100\n\n\ndef to_cents(value):\n"
    "    return int(float(value) * CENTS)\n",
    "src/shop/tax.py": "def tax(cents):\n    return cents // 5\n",
    "tests/test_price.py": "from shop.price import parse_price\n\ndef test_parse_price():\n"
    "    assert parse_price(' 1.5 ') == 150\n",
    "docs/guide.md": "# Guide\n\nPrices are parsed.\n",
}
MAX = FileWeights(aggregation=Aggregation.MAX)  # a file scores its best passage


@dataclass(frozen=True, slots=True)
class Edge:
    path: str
    kind: str
    weight: float


class Graph:
    """A FileGraph made by hand: (from, to) -> weight; rows of a path call into its edges."""

    def __init__(self, index: ProjectIndex, edges: dict[tuple[str, str], float]) -> None:
        self._edges = edges
        self._table = index.table

    def out_edges(self, path: str) -> list[Edge]:
        return [Edge(b, "call", w) for (a, b), w in self._edges.items() if a == path]

    def in_edges(self, path: str) -> list[Edge]:
        return [Edge(a, "call", w) for (a, b), w in self._edges.items() if b == path]

    def row_edges(self, row: int) -> list[Edge]:
        return self.out_edges(self._table["path"].value(row))


def connect(index: ProjectIndex, edges: dict[tuple[str, str], float]) -> None:
    """``index`` served with the graph of ``edges`` ((from, to) -> weight)."""
    index.graph = Graph(index, edges)  # type: ignore[assignment]


def write(store: SqliteStore, path: str, text: str, connector: str = CONNECTOR) -> None:
    source = SourceDocument(path, DocumentKind.FILE, text, path=path)
    drafts, symbols = read_document(source)
    document = Document(
        id=new_id("doc"), project_id=PROJECT, connector_id=connector, key=path, kind="file",
        title=path, path=path, url="", version="v1",
        content_hash=hashlib.sha256(text.encode()).hexdigest(), language="",
        metadata={}, scan_id="scan", chunk_count=len(drafts), updated_at=utcnow(),
    )  # fmt: skip
    chunks = [
        Chunk(
            id=new_id("chk"), project_id=PROJECT, connector_id=connector,
            document_id=document.id, document_key=path, kind="file", path=path, url="",
            title=path, ordinal=n, start_line=d.start_line, end_line=d.end_line,
            symbol=d.symbol, symbol_kind=d.symbol_kind, language=d.language, text=d.text,
            embed_hash=hashlib.sha256(d.text.encode()).hexdigest(), references=d.references,
        )
        for n, d in enumerate(drafts)
    ]  # fmt: skip
    defined = [
        Symbol(
            id=f"{document.id}:{n:06d}", project_id=PROJECT, connector_id=connector,
            document_id=document.id, path=path, name=s.name, kind=s.kind,
            start_line=s.start_line, end_line=s.end_line, language=s.language,
        )
        for n, s in enumerate(symbols)
    ]  # fmt: skip
    store.write_documents([DocumentWrite(document, chunks, defined)])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    for path, text in SOURCES.items():
        write(store, path, text)
    yield store
    store.close()


@pytest.fixture
def index(store: SqliteStore, tmp_path: Path) -> ProjectIndex:
    store.bump_index_generation(PROJECT)
    return IndexManager(store, tmp_path / "indexes", MODEL).serving(PROJECT)


def pool(store: SqliteStore, index: ProjectIndex, scores: dict[str, float]) -> CitedResult:
    """The passage search's answer: each path's first chunk with the given score."""
    hits = []
    for path, score in scores.items():
        row = int(index.table.rows_of("path", path)[0])
        chunk = store.get_chunks([index.chunk_id(row)])[0]
        hits.append(CitedHit(Hit(chunk, score, 0, 0), citation_of(chunk, "abc123")))
    hits.sort(key=lambda h: -h.hit.score)
    result = SearchResult([h.hit for h in hits], SearchMode.HYBRID, 1, index=index)
    return CitedResult(None, result, hits)  # type: ignore[arg-type]  # no project needed


def reranked(
    store: SqliteStore,
    searched: CitedResult,
    question: str = "prices are wrong",
    weights: StructureWeights | None = None,
    search_filter: SearchFilter | None = None,
) -> list[RankedFile]:
    query = SearchQuery.checked(question, search_filter=search_filter or SearchFilter())
    files = rank_files(searched.hits, MAX)
    return structure_reranker(store, weights)(searched, query, files)


def paths(files: list[RankedFile]) -> list[str]:
    return [f.path for f in files]


ONLY_NEIGHBOURS = StructureWeights(callee=0.2, caller=0.1, tested=0.0, named=0.0)


def test_a_strong_hit_lifts_the_file_it_calls_above_an_unrelated_one(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0, "src/shop/tax.py": 0.6,
                                   "src/shop/money.py": 0.5})  # fmt: skip

    files = reranked(store, searched, weights=ONLY_NEIGHBOURS)

    assert paths(files) == ["src/shop/price.py", "src/shop/money.py", "src/shop/tax.py"]
    assert files[1].score == pytest.approx(0.5 + 0.2 * 1.0)
    assert files[0].score == pytest.approx(1.0 + 0.1 * 0.5)  # its caller lends it a little


def test_only_strong_hits_lend(store: SqliteStore, index: ProjectIndex) -> None:
    connect(index, {("src/shop/tax.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0, "src/shop/tax.py": 0.29,
                                   "src/shop/money.py": 0.28})  # fmt: skip
    weights = StructureWeights(callee=0.2, strong=0.3)

    weak = {f.path: f.score for f in reranked(store, searched, weights=weights)}

    assert weak["src/shop/money.py"] == pytest.approx(0.28)  # tax.py is no strong hit
    lenient = dataclasses.replace(weights, strong=0.0)
    assert {f.path: f.score for f in reranked(store, searched, weights=lenient)}[
        "src/shop/money.py"
    ] == pytest.approx(0.28 + 0.2 * 0.29)


def test_a_lender_spreads_its_share_over_its_edges_by_weight(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/cli.py", "src/shop/price.py"): 3.0,
                                ("src/shop/cli.py", "src/shop/money.py"): 1.0})  # fmt: skip
    searched = pool(store, index, {"src/shop/cli.py": 1.0, "src/shop/price.py": 0.2,
                                   "src/shop/money.py": 0.2})  # fmt: skip

    scores = {f.path: f.score for f in reranked(store, searched, weights=ONLY_NEIGHBOURS)}

    assert scores["src/shop/price.py"] == pytest.approx(0.2 + 0.2 * 0.75 + 0.1 * 0.2 * 0)
    assert scores["src/shop/money.py"] == pytest.approx(0.2 + 0.2 * 0.25)


def test_a_failing_test_lends_its_score_to_the_code_it_calls(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("tests/test_price.py", "src/shop/price.py"): 1.0})
    searched = pool(store, index, {"tests/test_price.py": 0.9, "src/shop/tax.py": 0.7,
                                   "src/shop/price.py": 0.5})  # fmt: skip
    question = "test_parse_price fails: AssertionError, 149 != 150"
    weights = StructureWeights(callee=0.0, caller=0.0, tested=0.5, named=0.0)

    files = reranked(store, searched, question, weights)

    assert paths(files)[:2] == ["src/shop/price.py", "tests/test_price.py"]
    assert files[0].score == pytest.approx(0.5 + 0.5 * 0.9)


def test_no_test_file_is_lifted_unless_the_question_asks_for_tests(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("tests/test_price.py", "src/shop/price.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0, "tests/test_price.py": 0.3})

    report = {f.path: f.score for f in reranked(store, searched, weights=ONLY_NEIGHBOURS)}
    asking = reranked(store, searched, "which tests cover parse_price?", ONLY_NEIGHBOURS)

    assert report["tests/test_price.py"] == pytest.approx(0.3)
    assert {f.path: f.score for f in asking}["tests/test_price.py"] > 0.3


def test_a_definition_the_question_names_lends_to_what_it_calls(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/cli.py": 1.0, "src/shop/tax.py": 0.5,
                                   "src/shop/money.py": 0.4})  # fmt: skip
    weights = StructureWeights(callee=0.0, caller=0.0, tested=0.0, named=0.3)

    named = reranked(store, searched, "`parse_price` rounds 1.005 down", weights)
    unnamed = reranked(store, searched, "prices round down", weights)

    assert paths(named)[:2] == ["src/shop/cli.py", "src/shop/money.py"]
    assert {f.path: f.score for f in named}["src/shop/money.py"] == pytest.approx(0.4 + 0.3)
    assert paths(unnamed)[1] == "src/shop/tax.py"


TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/home/me/shop/src/shop/price.py", line 4, in parse_price\n'
    "    return to_cents(text.strip())\n"
    "ValueError: could not convert string to float: '1,5'\n"
)


def test_a_definition_a_stack_trace_names_lends_with_the_traced_share(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/cli.py": 1.0, "src/shop/tax.py": 0.5,
                                   "src/shop/money.py": 0.4})  # fmt: skip
    weights = StructureWeights(callee=0.0, caller=0.0, tested=0.0, named=0.0, traced=0.3)

    traced = reranked(store, searched, TRACE, weights)
    described = reranked(store, searched, "`parse_price` fails on '1,5'", weights)

    assert {f.path: f.score for f in traced}["src/shop/money.py"] == pytest.approx(0.4 + 0.3)
    assert {f.path: f.score for f in described}["src/shop/money.py"] == pytest.approx(0.4)


def test_a_question_without_a_trace_lends_with_the_named_share_only(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/cli.py": 1.0, "src/shop/money.py": 0.4})
    weights = StructureWeights(callee=0.0, caller=0.0, tested=0.0, named=0.1, traced=0.3)

    described = reranked(store, searched, "`parse_price` fails on '1,5'", weights)
    located = reranked(store, searched, "`parse_price` fails: src/shop/price.py:4", weights)

    assert {f.path: f.score for f in described}["src/shop/money.py"] == pytest.approx(0.4 + 0.1)
    assert {f.path: f.score for f in located}["src/shop/money.py"] == pytest.approx(0.4 + 0.3)


def test_a_file_outside_the_pool_joins_with_a_citation_of_its_own_chunk(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0, "src/shop/tax.py": 0.1})

    files = reranked(store, searched, weights=ONLY_NEIGHBOURS)

    joined = files[1]
    assert (joined.path, joined.passages) == ("src/shop/money.py", 0)
    assert joined.score == pytest.approx(0.2)
    [cited] = joined.hits
    assert cited.citation.path == "src/shop/money.py" and cited.citation.version == "abc123"
    assert cited.hit.chunk.text.startswith("def to_cents")  # the name price.py imports
    assert cited.hit.score == joined.score


@pytest.mark.parametrize(
    "search_filter",
    [
        SearchFilter(path_globs=("!src/shop/money.py",)),
        SearchFilter(languages=("go",)),
    ],
    ids=["path glob", "language"],
)
def test_a_file_the_filters_keep_out_never_joins(
    store: SqliteStore, index: ProjectIndex, search_filter: SearchFilter
) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0})

    files = reranked(store, searched, weights=ONLY_NEIGHBOURS, search_filter=search_filter)

    assert paths(files) == ["src/shop/price.py"]


def test_with_a_connector_filter_only_connectors_that_answered_may_join(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, "vendor/rates.py", "RATES = {}\n", connector="con_vendor")
    store.bump_index_generation(PROJECT)
    index = IndexManager(store, tmp_path / "indexes", MODEL).serving(PROJECT)
    connect(index, {("src/shop/price.py", "vendor/rates.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0})
    only_git = SearchFilter(connectors=(CONNECTOR,))

    filtered = reranked(store, searched, weights=ONLY_NEIGHBOURS, search_filter=only_git)
    unfiltered = reranked(store, searched, weights=ONLY_NEIGHBOURS)

    assert paths(filtered) == ["src/shop/price.py"]
    assert paths(unfiltered) == ["src/shop/price.py", "vendor/rates.py"]
    assert unfiltered[1].hits[0].citation.version == ""  # no version known for con_vendor


def test_a_path_the_index_does_not_hold_never_joins(
    store: SqliteStore, index: ProjectIndex
) -> None:
    connect(index, {("src/shop/price.py", "src/gone.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0})

    assert paths(reranked(store, searched, weights=ONLY_NEIGHBOURS)) == ["src/shop/price.py"]


def test_at_most_new_files_join(store: SqliteStore, index: ProjectIndex) -> None:
    connect(index, {("src/shop/cli.py", "src/shop/price.py"): 2.0,
                                ("src/shop/cli.py", "src/shop/money.py"): 1.0})  # fmt: skip
    searched = pool(store, index, {"src/shop/cli.py": 1.0})
    weights = dataclasses.replace(ONLY_NEIGHBOURS, new_files=1)

    assert paths(reranked(store, searched, weights=weights)) == [
        "src/shop/cli.py",
        "src/shop/price.py",
    ]


def test_without_a_graph_the_ranking_is_unchanged(store: SqliteStore, index: ProjectIndex) -> None:
    index.graph = None  # a generation built before references were stored
    searched = pool(store, index, {"src/shop/tax.py": 1.0, "src/shop/price.py": 0.5})

    files = reranked(store, searched)

    assert [(f.path, f.score) for f in files] == [
        ("src/shop/tax.py", 1.0),
        ("src/shop/price.py", 0.5),
    ]


def test_file_search_cuts_to_top_k_after_reranking(store: SqliteStore, index: ProjectIndex) -> None:
    connect(index, {("src/shop/price.py", "src/shop/money.py"): 1.0})
    searched = pool(store, index, {"src/shop/price.py": 1.0, "src/shop/tax.py": 0.1})
    search = FileSearch(None, MAX, rerankers=[structure_reranker(store, ONLY_NEIGHBOURS)])  # type: ignore[arg-type]

    found = search.ranked(searched, SearchQuery.checked("prices", top_k=2))

    assert paths(found.files) == ["src/shop/price.py", "src/shop/money.py"]


def test_weights_are_checked() -> None:
    with pytest.raises(ValueError, match="structure weights"):
        StructureWeights(callee=-0.1)
    with pytest.raises(ValueError, match="structure weights"):
        StructureWeights(traced=-0.1)


# ----------------------------------------------- the graph the index built itself


def test_the_index_builds_the_graph_from_the_chunks_references(index: ProjectIndex) -> None:
    assert index.graph is not None
    assert {e.path for e in index.graph.out_edges("src/shop/price.py")} == {"src/shop/money.py"}
    assert {e.path for e in index.graph.in_edges("src/shop/price.py")} == {
        "src/shop/cli.py",
        "tests/test_price.py",
    }


def test_a_failing_test_finds_the_code_under_test_through_the_built_graph(
    store: SqliteStore, index: ProjectIndex
) -> None:
    searched = pool(store, index, {"tests/test_price.py": 0.9, "src/shop/tax.py": 0.3})
    question = "test_parse_price fails: AssertionError, 149 != 150"

    files = reranked(store, searched, question, StructureWeights())

    assert paths(files)[:3] == ["tests/test_price.py", "src/shop/price.py", "src/shop/tax.py"]
    [cited] = files[1].hits  # joined: the definition the test calls, not the import line
    assert cited.citation.path == "src/shop/price.py" and cited.hit.chunk.symbol == "parse_price"
