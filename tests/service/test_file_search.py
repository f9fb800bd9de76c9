"""RetrievalService.Search with group_by SEARCH_GROUP_BY_FILE: files ranked for a question.

A real server over the ingested ``shop`` project (see ``retrieval_fixtures``), the
generated stubs, every filter and access rule of the passage search.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from projectqa.server.access import Access
from projectqa.server.auth import Principal
from projectqa.server.errors import NotFound
from projectqa.server.retrieval.files import FilePrior, FileSearch, PriorSource, file_query
from projectqa.server.retrieval.ops import CitedResult, RetrievalOps
from projectqa.server.retrieval.query import SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.store.base import PageRequest
from projectqa.v1 import retrieval_pb2

from .helpers import Code, rpc_error
from .retrieval_fixtures import (
    NOTES_CONNECTOR,
    PROJECT,
    SHOP_FILES,
    IndexedProject,
    indexed_project,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

FILE = retrieval_pb2.SEARCH_GROUP_BY_FILE


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


def request(query: str, **fields: Any) -> retrieval_pb2.SearchRequest:
    """A file search of ``shop``; ``filter`` is a dict of SearchFilter fields."""
    message = retrieval_pb2.SearchRequest(
        project=fields.pop("project", PROJECT), query=query, group_by=fields.pop("group_by", FILE)
    )
    if "filter" in fields:
        message.filter.CopyFrom(retrieval_pb2.SearchFilter(**fields.pop("filter")))
    for name, value in fields.items():
        setattr(message, name, value)
    return message


async def files(qa: IndexedProject, query: str, **fields: Any) -> list[retrieval_pb2.FileHit]:
    response = await qa.admin.retrieval.Search(request(query, **fields))
    assert not response.hits  # a file search answers with files only
    return list(response.files)


def paths(found: list[retrieval_pb2.FileHit]) -> list[str]:
    return [f.path for f in found]


@pytest.mark.parametrize(
    ("question", "path"),
    [
        ("which file sends the order receipt to the customer by email?", "shop/mailer.py"),
        ("where is a price written with a dollar sign parsed into cents?", "shop/pricing.py"),
        ("where are products added to and removed from the shopping cart?", "shop/cart.py"),
    ],
)
async def test_the_file_that_answers_comes_first(
    qa: IndexedProject, question: str, path: str
) -> None:
    found = await files(qa, question)

    assert found[0].path == path, paths(found)
    best = found[0]
    assert best.connector_id == qa.code_connector_id and best.language == "python"
    assert best.passages >= len(best.citations) >= 1
    for cited in best.citations:
        assert cited.path == path and cited.kind == "file"
        assert 1 <= cited.start_line <= cited.end_line <= SHOP_FILES[path].count("\n") + 1
        assert cited.label.startswith(f"{path}:")
    scores = [f.score for f in found]
    assert scores == sorted(scores, reverse=True)


async def test_files_are_distinct_where_passages_crowd_into_one_file(qa: IndexedProject) -> None:
    """shop/cart.py has a passage per method: its passages fill a short passage list,
    but it is one file among the files."""
    passages = await qa.admin.retrieval.Search(
        request("the shopping cart", group_by=retrieval_pb2.SEARCH_GROUP_BY_UNSPECIFIED, top_k=3)
    )
    assert {h.citation.path for h in passages.hits} == {"shop/cart.py"}

    found = await files(qa, "the shopping cart", top_k=3)
    assert len(found) == 3 and len(set(paths(found))) == 3
    assert found[0].path == "shop/cart.py" and found[0].passages > 3


async def test_top_k_counts_files_and_max_per_document_citations(qa: IndexedProject) -> None:
    found = await files(qa, "cart price discount receipt", top_k=2, max_per_document=1)
    assert len(found) == 2
    assert all(len(f.citations) == 1 for f in found)
    default = await files(qa, "the shopping cart")
    assert max(len(f.citations) for f in default) == 3  # 0 means 3


async def test_a_file_cites_up_to_ten_passages_when_asked(qa: IndexedProject) -> None:
    found = await files(qa, "the shopping cart: add, remove, merge, restore", max_per_document=10)
    cart = next(f for f in found if f.path == "shop/cart.py")
    assert 5 < len(cart.citations) <= 10 and cart.passages >= len(cart.citations)
    assert len({(c.start_line, c.end_line) for c in cart.citations}) == len(cart.citations)


async def test_path_glob_filter(qa: IndexedProject) -> None:
    found = await files(qa, "cart price tests readme", filter={"path_globs": ["shop/**"]})
    assert found and all(p.startswith("shop/") for p in paths(found))


async def test_language_and_connector_filters(qa: IndexedProject) -> None:
    markdown = await files(
        qa, "release checklist and installation", filter={"languages": ["markdown"]}
    )
    assert set(paths(markdown)) == {"README.md", "release.md"}
    notes = await files(qa, "release checklist", filter={"connectors": [NOTES_CONNECTOR]})
    assert paths(notes) == ["release.md"]
    assert notes[0].connector_id == qa.notes_connector_id


async def test_kinds_that_include_files_are_accepted(qa: IndexedProject) -> None:
    found = await files(qa, "shopping cart", filter={"kinds": ["issue", "file"]})
    assert found[0].path == "shop/cart.py"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"group_by": 7}, "group_by"),
        ({"filter": {"kinds": ["issue"]}}, "filter.kinds"),
        ({"max_per_document": 11}, "max_per_document"),
        ({"max_per_document": -1}, "max_per_document"),
        ({"top_k": 101}, "top_k"),
        ({"filter": {"kinds": ["bogus"]}}, "filter.kinds"),
        ({"mode": 42}, "mode"),
    ],
)
async def test_invalid_values_are_refused_naming_the_field(
    qa: IndexedProject, fields: dict[str, Any], field: str
) -> None:
    call = qa.admin.retrieval.Search(request("shopping cart", **fields))
    await rpc_error(call, Code.INVALID_ARGUMENT, field)


async def test_an_unknown_grouping_is_refused_in_a_passage_search_too(qa: IndexedProject) -> None:
    call = qa.admin.retrieval.Search(request("cart", group_by=-3))
    await rpc_error(call, Code.INVALID_ARGUMENT, "group_by")


async def test_a_member_ranks_the_files_of_their_project(qa: IndexedProject) -> None:
    response = await qa.member.retrieval.Search(request("shopping cart"))
    assert response.files[0].path == "shop/cart.py"


async def test_a_project_the_caller_may_not_read_answers_like_a_missing_one(
    qa: IndexedProject,
) -> None:
    hidden = qa.hidden_project_id
    for caller in (qa.member, qa.outsider):
        call = caller.retrieval.Search(request("cart", project=hidden))
        assert await rpc_error(call, Code.NOT_FOUND) == f"project {hidden!r} not found"
    await rpc_error(qa.outsider.retrieval.Search(request("cart")), Code.NOT_FOUND, PROJECT)


async def test_a_connector_of_another_project_is_not_found(qa: IndexedProject) -> None:
    call = qa.admin.retrieval.Search(
        request("cart", filter={"connectors": [qa.hidden_connector_id]})
    )
    await rpc_error(call, Code.NOT_FOUND, qa.hidden_connector_id)


# ------------------------------------------------------------------ priors (the history hook)
def file_search(qa: IndexedProject, priors: list[PriorSource]) -> FileSearch:
    """A FileSearch over the test server's own Store and indexes, with ``priors``."""
    server = qa.server
    searcher = Searcher(server.store, server.ingestion.indexes, server.ingestion.embedder)
    ops = RetrievalOps(server.store, Access(server.store), searcher, server.run_blocking)
    return FileSearch(ops, priors=priors)


def principal(qa: IndexedProject, name: str) -> Principal:
    user = qa.server.store.get_user_by_name(name)
    assert user is not None
    [token] = qa.server.store.list_tokens(user.id, PageRequest(10))
    return Principal(user, token)


async def test_a_prior_reorders_the_files_and_sees_the_search_that_found_them(
    qa: IndexedProject,
) -> None:
    seen: list[tuple[str, str, int]] = []

    def history(searched: CitedResult, query: SearchQuery) -> FilePrior:
        assert searched.result.index is not None
        seen.append((searched.project.slug, query.text, searched.result.generation))
        return FilePrior({"shop/pricing.py": 1.0, "not/indexed.py": 1.0}, weight=5.0)

    query = file_query(SearchQuery.checked("where are products added to the shopping cart?"))
    plain = await file_search(qa, []).search(principal(qa, "mia"), PROJECT, query)
    boosted = await file_search(qa, [history]).search(principal(qa, "mia"), PROJECT, query)

    assert plain.files[0].path == "shop/cart.py"
    assert boosted.files[0].path == "shop/pricing.py"
    assert "not/indexed.py" not in [f.path for f in boosted.files]  # a prior adds no file
    assert seen == [(PROJECT, query.text, plain.searched.result.generation)]


async def test_a_prior_is_not_asked_for_a_project_the_caller_may_not_read(
    qa: IndexedProject,
) -> None:
    asked: list[str] = []

    def history(searched: CitedResult, query: SearchQuery) -> FilePrior:
        asked.append(searched.project.slug)
        return FilePrior({}, weight=1.0)

    query = file_query(SearchQuery.checked("cart"))
    with pytest.raises(NotFound):
        await file_search(qa, [history]).search(principal(qa, "olga"), PROJECT, query)
    assert asked == []


async def test_the_history_prior_plugs_in_and_a_project_without_history_ranks_as_before(
    qa: IndexedProject,
) -> None:
    """The call docs/FILE_SEARCH.md gives for history (issue 16 item 3); the local
    connector records no history, so the evidence is empty and nothing moves."""
    from projectqa.server.retrieval.history import history_prior

    history = history_prior(qa.server.store)
    query = file_query(SearchQuery.checked("where are products added to the shopping cart?"))
    plain = await file_search(qa, []).search(principal(qa, "mia"), PROJECT, query)
    with_history = await file_search(qa, [history]).search(principal(qa, "mia"), PROJECT, query)
    assert [(f.path, f.score) for f in with_history.files] == [
        (f.path, f.score) for f in plain.files
    ]
