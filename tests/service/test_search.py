"""RetrievalService.Search end to end: a real server over a real ingested project.

One server per module (SQLite, the real embedding model, FAISS and BM25 built by
a real ``local`` ingestion); see ``retrieval_fixtures`` for the project.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio

from projectqa.v1 import retrieval_pb2, retrieval_pb2_grpc

from .helpers import Code, rpc_error
from .retrieval_fixtures import (
    CART_PY,
    EMPTY_PROJECT,
    MAILER_PY,
    NOTES_CONNECTOR,
    PRICING_PY,
    PROJECT,
    IndexedProject,
    definition_lines,
    file_lines,
    indexed_project,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

DENSE = retrieval_pb2.SEARCH_MODE_DENSE
KEYWORD = retrieval_pb2.SEARCH_MODE_KEYWORD
HYBRID = retrieval_pb2.SEARCH_MODE_HYBRID
SOURCES = {"shop/cart.py": CART_PY, "shop/pricing.py": PRICING_PY, "shop/mailer.py": MAILER_PY}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


async def search(qa: IndexedProject, query: str, **fields: Any) -> retrieval_pb2.SearchResponse:
    """Search ``shop`` as the global admin; ``filter`` is a dict of SearchFilter fields."""
    request = retrieval_pb2.SearchRequest(project=fields.pop("project", PROJECT), query=query)
    for name, value in fields.items():
        if name == "filter":
            request.filter.CopyFrom(retrieval_pb2.SearchFilter(**value))
        else:
            setattr(request, name, value)
    return await qa.admin.retrieval.Search(request)


def root_of(qa: IndexedProject, connector_id: str) -> Path:
    return {qa.code_connector_id: qa.shop, qa.notes_connector_id: qa.notes}[connector_id]


def assert_cites_real_lines(qa: IndexedProject, hit: retrieval_pb2.SearchHit) -> None:
    """The snippet is exactly the cited lines of the file on disk."""
    citation = hit.citation
    lines = file_lines(
        root_of(qa, citation.connector_id), citation.path, citation.start_line, citation.end_line
    )
    assert not hit.snippet_truncated, citation.label
    assert hit.snippet == lines, citation.label


# ------------------------------------------------------------------ answers and citations
QUESTIONS = [
    (
        "how is the total price of a cart computed after the discount?",
        "shop/cart.py",
        "Cart.total_price",
    ),
    ("turn a price written with a dollar sign into cents", "shop/pricing.py", "parse_price"),
    ("send the order receipt to the customer by email", "shop/mailer.py", "send_receipt_email"),
]


@pytest.mark.parametrize(("question", "path", "symbol"), QUESTIONS)
async def test_a_question_finds_the_function_with_a_citation_of_its_exact_lines(
    qa: IndexedProject, question: str, path: str, symbol: str
) -> None:
    response = await search(qa, question)

    top = [hit.symbol for hit in response.hits[:3]]
    assert symbol in top, [hit.citation.label for hit in response.hits]
    hit = response.hits[top.index(symbol)]
    start, end = definition_lines(SOURCES[path], symbol)
    citation = hit.citation
    assert (citation.path, citation.start_line, citation.end_line) == (path, start, end)
    assert citation.label == f"{path}:{start}-{end}"
    assert citation.kind == "file"
    assert citation.document_key == path
    assert citation.connector_id == qa.code_connector_id
    assert citation.version == ""  # a local folder has no commit
    assert citation.title == path.rsplit("/", 1)[-1]
    assert hit.language == "python"
    assert hit.symbol_kind in ("function", "method")
    assert hit.chunk_id.startswith("chk_")
    assert_cites_real_lines(qa, hit)


async def test_every_hit_cites_lines_that_exist_on_disk(qa: IndexedProject) -> None:
    response = await search(qa, "cart discount price release checklist", top_k=30)

    assert len(response.hits) > 5
    for hit in response.hits:
        assert_cites_real_lines(qa, hit)
        assert hit.citation.label == (
            f"{hit.citation.path}:{hit.citation.start_line}"
            if hit.citation.start_line == hit.citation.end_line
            else f"{hit.citation.path}:{hit.citation.start_line}-{hit.citation.end_line}"
        )
    scores = [hit.score for hit in response.hits]
    assert scores == sorted(scores, reverse=True)


async def test_hybrid_reports_both_ranks_timings_and_the_generation(qa: IndexedProject) -> None:
    response = await search(qa, "how is the total price of a cart computed after the discount?")

    assert response.mode == HYBRID  # unset means hybrid
    hit = next(h for h in response.hits if h.symbol == "Cart.total_price")
    assert hit.dense_rank >= 1 and hit.keyword_rank >= 1
    assert response.HasField("timings")
    assert response.timings.embed_ms > 0
    assert response.timings.dense_ms > 0
    assert response.timings.keyword_ms > 0
    assert response.timings.fusion_ms > 0
    assert response.timings.fetch_ms > 0
    assert response.index_generation > 0


@pytest.mark.parametrize("mode", [DENSE, KEYWORD, HYBRID])
async def test_every_mode_answers(qa: IndexedProject, mode: int) -> None:
    response = await search(qa, "discount percentage of the cart total", mode=mode)

    assert response.mode == mode
    assert response.hits
    for hit in response.hits:
        if mode == DENSE:
            assert hit.dense_rank >= 1 and hit.keyword_rank == 0
        if mode == KEYWORD:
            assert hit.keyword_rank >= 1 and hit.dense_rank == 0
        assert_cites_real_lines(qa, hit)
    if mode == KEYWORD:
        assert response.timings.embed_ms == 0  # no query vector needed


async def test_top_k_bounds_the_number_of_hits(qa: IndexedProject) -> None:
    assert len((await search(qa, "cart", top_k=2)).hits) == 2
    assert len((await search(qa, "cart")).hits) == 10  # 0 means 10


@pytest.mark.parametrize(
    ("query", "path", "symbol"),
    [
        ("Cart.total_price", "shop/cart.py", "Cart.total_price"),
        ("where is `apply_discount` defined?", "shop/pricing.py", "apply_discount"),
        ("Cart.restore", "shop/cart.py", "Cart.restore"),
    ],
)
async def test_an_identifier_puts_its_definition_first(
    qa: IndexedProject, query: str, path: str, symbol: str
) -> None:
    response = await search(qa, query, mode=HYBRID)

    first = response.hits[0]
    start, end = definition_lines(SOURCES[path], symbol)
    assert (first.symbol, first.citation.path) == (symbol, path), [
        h.citation.label for h in response.hits
    ]
    assert (first.citation.start_line, first.citation.end_line) == (start, end)


async def test_a_plain_member_searches_their_project(qa: IndexedProject) -> None:
    request = retrieval_pb2.SearchRequest(project=qa.project_id, query="apply a discount")
    response = await qa.member.retrieval.Search(request)

    assert response.hits


# ------------------------------------------------------------------ filters
async def test_kinds_filter_keeps_only_those_kinds(qa: IndexedProject) -> None:
    files = await search(qa, "cart", filter={"kinds": ["file"]})
    issues = await search(qa, "cart", filter={"kinds": ["issue", "ticket"]})

    assert files.hits and {hit.citation.kind for hit in files.hits} == {"file"}
    assert list(issues.hits) == []  # the project has no records


async def test_path_glob_keeps_matching_paths(qa: IndexedProject) -> None:
    response = await search(qa, "discounts and the release", filter={"path_globs": ["*.md"]})

    paths = {hit.citation.path for hit in response.hits}
    assert paths and all(path.endswith(".md") for path in paths)
    assert {"README.md", "release.md"} <= paths


async def test_negated_path_glob_leaves_out_the_tests(qa: IndexedProject) -> None:
    question = "test that adding an item twice counts the units"
    unfiltered = await search(qa, question)
    filtered = await search(qa, question, filter={"path_globs": ["*", "!tests/**"]})

    assert any(hit.citation.path.startswith("tests/") for hit in unfiltered.hits)
    assert filtered.hits
    assert not any(hit.citation.path.startswith("tests/") for hit in filtered.hits)


async def test_only_negated_globs_exclude_from_everything(qa: IndexedProject) -> None:
    # As in Grep (ripgrep's --glob): a list of exclusions alone keeps every other path.
    question = "test that adding an item twice counts the units"
    response = await search(qa, question, filter={"path_globs": ["!tests/**"]})

    assert response.hits
    assert not any(hit.citation.path.startswith("tests/") for hit in response.hits)


@pytest.mark.parametrize("glob", ["!", "\\"])
async def test_a_malformed_path_glob_is_invalid(qa: IndexedProject, glob: str) -> None:
    call = search(qa, "cart", filter={"path_globs": ["*.py", glob]})

    await rpc_error(call, Code.INVALID_ARGUMENT, "filter.path_globs")


@pytest.mark.parametrize("language", ["python", "markdown"])
async def test_languages_filter(qa: IndexedProject, language: str) -> None:
    response = await search(qa, "discount", filter={"languages": [language]}, top_k=50)

    assert response.hits
    assert {hit.language for hit in response.hits} == {language}


async def test_connector_filter_by_name_and_by_id(qa: IndexedProject) -> None:
    by_name = await search(qa, "release discount cart", filter={"connectors": [NOTES_CONNECTOR]})
    by_id = await search(
        qa, "release discount cart", filter={"connectors": [qa.notes_connector_id]}
    )

    assert by_name.hits
    assert {hit.citation.connector_id for hit in by_name.hits} == {qa.notes_connector_id}
    assert [hit.chunk_id for hit in by_id.hits] == [hit.chunk_id for hit in by_name.hits]


async def test_filters_combine(qa: IndexedProject) -> None:
    response = await search(
        qa,
        "price",
        filter={"languages": ["python"], "path_globs": ["shop/**"], "kinds": ["file"]},
        top_k=50,
    )

    assert response.hits
    for hit in response.hits:
        assert hit.language == "python" and hit.citation.path.startswith("shop/")


@pytest.mark.parametrize("connector", ["nope", "con_000000000000000000000000"])
async def test_unknown_connector_in_filter_is_not_found(qa: IndexedProject, connector: str) -> None:
    call = search(qa, "cart", filter={"connectors": [connector]})

    await rpc_error(call, Code.NOT_FOUND, connector)


async def test_another_projects_connector_in_filter_is_not_found(qa: IndexedProject) -> None:
    hidden = qa.hidden_connector_id
    details = await rpc_error(search(qa, "cart", filter={"connectors": [hidden]}), Code.NOT_FOUND)

    assert details == f"connector {hidden!r} not found"


async def test_unknown_kind_is_invalid(qa: IndexedProject) -> None:
    call = search(qa, "cart", filter={"kinds": ["file", "tweet"]})

    await rpc_error(call, Code.INVALID_ARGUMENT, "filter.kinds", "tweet")


async def test_max_per_document_spreads_hits_over_documents(qa: IndexedProject) -> None:
    grouped_by_default = await search(qa, "cart items products quantity", top_k=20)
    one_each = await search(qa, "cart items products quantity", top_k=20, max_per_document=1)

    per_path = Counter(hit.citation.path for hit in grouped_by_default.hits)
    assert max(per_path.values()) > 1  # else the test below proves nothing
    assert max(per_path.values()) <= 3  # 0 means 3
    paths = [hit.citation.path for hit in one_each.hits]
    assert len(paths) == len(set(paths)) > 1


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("query", ["", "   ", " \t\n ", "x" * 16_001])
async def test_bad_query_is_invalid(qa: IndexedProject, query: str) -> None:
    await rpc_error(search(qa, query), Code.INVALID_ARGUMENT, "query")


async def test_a_query_of_16000_characters_is_accepted(qa: IndexedProject) -> None:
    response = await search(qa, ("cart total " * 1600)[:16_000])

    assert response.hits


@pytest.mark.parametrize("top_k", [-1, 101, 10**6, -(2**31)])
async def test_top_k_out_of_range_is_invalid(qa: IndexedProject, top_k: int) -> None:
    await rpc_error(search(qa, "cart", top_k=top_k), Code.INVALID_ARGUMENT, "top_k")


@pytest.mark.parametrize("per_document", [-1, 101])
async def test_max_per_document_out_of_range_is_invalid(
    qa: IndexedProject, per_document: int
) -> None:
    call = search(qa, "cart", max_per_document=per_document)

    await rpc_error(call, Code.INVALID_ARGUMENT, "max_per_document")


async def test_unknown_mode_is_invalid(qa: IndexedProject) -> None:
    await rpc_error(search(qa, "cart", mode=42), Code.INVALID_ARGUMENT, "mode")


@pytest.mark.parametrize("project", ["no-such-project", "prj_000000000000000000000000"])
async def test_unknown_project_is_not_found(qa: IndexedProject, project: str) -> None:
    details = await rpc_error(search(qa, "cart", project=project), Code.NOT_FOUND)

    assert details == f"project {project!r} not found"


async def test_empty_project_reference_is_invalid(qa: IndexedProject) -> None:
    await rpc_error(search(qa, "cart", project=""), Code.INVALID_ARGUMENT, "project")


async def test_another_project_answers_a_member_like_a_missing_one(qa: IndexedProject) -> None:
    hidden = qa.hidden_project_id
    for caller in (qa.member, qa.outsider):
        request = retrieval_pb2.SearchRequest(project=hidden, query="cart")
        details = await rpc_error(caller.retrieval.Search(request), Code.NOT_FOUND)
        assert details == f"project {hidden!r} not found"
    outsider = retrieval_pb2.SearchRequest(project=PROJECT, query="cart")
    await rpc_error(qa.outsider.retrieval.Search(outsider), Code.NOT_FOUND, PROJECT)


async def test_a_project_never_ingested_fails_with_a_hint(qa: IndexedProject) -> None:
    call = search(qa, "cart", project=EMPTY_PROJECT)

    details = await rpc_error(call, Code.FAILED_PRECONDITION)
    assert "ingest" in details


async def test_search_needs_a_token(qa: IndexedProject) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{qa.port}") as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        request = retrieval_pb2.SearchRequest(project=PROJECT, query="cart")
        await rpc_error(stub.Search(request), Code.UNAUTHENTICATED)


async def test_the_server_still_answers_after_bad_requests(qa: IndexedProject) -> None:
    for top_k in (-5, 500):
        await rpc_error(search(qa, "cart", top_k=top_k), Code.INVALID_ARGUMENT)
    response = await search(qa, "Cart.add_item")

    assert response.hits[0].symbol == "Cart.add_item"
