"""Keyword search through the IndexManager, on a real SqliteStore and real bm25s."""

from __future__ import annotations

from pathlib import Path

import bm25s
import pytest

from projectqa.server.index import IndexManager, tokenize
from projectqa.server.index.keyword import KeywordIndex
from projectqa.server.models import PageRequest

from .conftest import Corpus


def test_snake_case_query_finds_camel_case_identifier(
    corpus: Corpus, manager: IndexManager
) -> None:
    corpus.add(
        "web/user.js",
        [
            ("getUserName", "function getUserName(user) { return user.profile.name; }"),
            ("setUserAge", "function setUserAge(user, age) { user.age = age; }"),
        ],
    )
    corpus.add(
        "web/names.js",
        [
            ("nameOf", "// get the name of a thing\nfunction nameOf(thing) { return thing.name; }"),
            ("getTitle", "function getTitle(page) { return page.title; }"),
        ],
    )
    hits = manager.get(corpus.project_id).search_keyword("where is get_user_name defined", 3)
    chunk_ids = [chunk_id for chunk_id, _ in hits]
    chunks = corpus.store.list_chunks(corpus.project_id, PageRequest(limit=100))
    by_symbol = {chunk.id: chunk.symbol for chunk in chunks}
    assert by_symbol[chunk_ids[0]] == "getUserName"
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_path_and_symbol_are_searchable(corpus: Corpus, manager: IndexManager) -> None:
    [chunk] = corpus.add("server/retry_policy.py", [("Backoff.delay", "return base * 2 ** n")])
    corpus.add("server/other.py", [("other", "return 1")])
    index = manager.get(corpus.project_id)
    assert index.search_keyword("retry policy", 5)[0][0] == chunk.id
    assert index.search_keyword("backoff delay", 5)[0][0] == chunk.id


def test_unknown_words_answer_nothing(corpus: Corpus, manager: IndexManager) -> None:
    [chunk] = corpus.add("a.py", [("f", "def parse_config(path): ...")])
    index = manager.get(corpus.project_id)
    assert index.search_keyword("kubernetes helm chart", 5) == []
    assert index.search_keyword("", 5) == []
    assert [hit[0] for hit in index.search_keyword("kubernetes config", 5)] == [chunk.id]


def test_k_larger_than_the_corpus_and_k_zero(corpus: Corpus, manager: IndexManager) -> None:
    corpus.add("a.py", [("f", "open the file"), ("g", "close the file"), ("h", "unrelated")])
    index = manager.get(corpus.project_id)
    assert len(index.search_keyword("file", 100)) == 2
    assert index.search_keyword("file", 0) == []


def test_keyword_index_round_trips_through_disk(tmp_path: Path) -> None:
    built = KeywordIndex.build(["alpha beta", "", "beta gamma gamma"])
    built.save(tmp_path / "kw")
    loaded = KeywordIndex.load(tmp_path / "kw", 3)
    assert loaded.search("gamma beta", 5) == built.search("gamma beta", 5)
    assert [row for row, _ in loaded.search("gamma", 5)] == [2]


def test_scores_equal_those_of_the_stock_bm25s_build() -> None:
    texts = [
        "def getUserName(user): return user.name",
        "class UserCache: cache of user records by id",
        "",
        "name = get_user_name(user) or default_name",
        "retry the request with exponential backoff, retry limit 5",
        "### Usage\nCall get_user_name with a user",
    ]
    ours = KeywordIndex.build(texts)
    stock = bm25s.BM25()
    stock.index([tokenize(text) for text in texts], show_progress=False)
    for query in ["user name", "retry", "get_user_name cache", "usage default"]:
        scores = stock.get_scores(tokenize(query))
        expected = sorted(
            ((row, float(s)) for row, s in enumerate(scores) if s > 0), key=lambda h: -h[1]
        )
        found = ours.search(query, 10)
        assert [row for row, _ in found] == [row for row, _ in expected]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-5)


def test_documents_without_tokens_give_an_index_that_answers_nothing(tmp_path: Path) -> None:
    index = KeywordIndex.build(["", "() => {}"])
    index.save(tmp_path / "kw")
    assert len(index) == 2
    assert index.search("anything", 5) == []
    assert KeywordIndex.load(tmp_path / "kw", 2).search("anything", 5) == []
