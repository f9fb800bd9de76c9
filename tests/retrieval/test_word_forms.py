"""Keyword search meets word forms: "how does retry work?" finds ``retries``.

The corpus is real code: every module of the installed ``httpx`` package (a
dependency), where ``retries`` appears only in ``_transports/default.py`` and
"retry" nowhere. Real SqliteStore, IndexManager and BM25; keyword mode, so no
embedder is asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest

from projectqa.server.index import IndexManager
from projectqa.server.retrieval.query import SearchMode, SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.store import SqliteStore
from tests.index.conftest import MODEL, Corpus

PACKAGE = Path(httpx.__file__).parent
RETRIES_FILE = "httpx/_transports/default.py"
LINES_PER_CHUNK = 40


class UnusedEmbedder:
    """Keyword search embeds nothing."""

    name = MODEL
    dimension = 16

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("keyword search embedded a query")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


@pytest.fixture
def searcher(store: SqliteStore, tmp_path: Path) -> tuple[Searcher, str]:
    corpus = Corpus(store)
    for file in sorted(PACKAGE.rglob("*.py")):
        lines = file.read_text(encoding="utf-8").splitlines()
        pieces = [lines[i : i + LINES_PER_CHUNK] for i in range(0, len(lines), LINES_PER_CHUNK)]
        path = f"httpx/{file.relative_to(PACKAGE).as_posix()}"
        corpus.add(path, [("", "\n".join(piece)) for piece in pieces])
    indexes = IndexManager(store, tmp_path / "indexes", MODEL)
    return Searcher(store, indexes, UnusedEmbedder()), corpus.project_id  # type: ignore[arg-type]


def paths_found(search: Searcher, project_id: str, question: str) -> list[str]:
    query = SearchQuery.checked(question, SearchMode.KEYWORD, 5)
    return [hit.chunk.path for hit in search.search(project_id, query).hits]


def test_a_question_about_retry_finds_the_code_about_retries(
    searcher: tuple[Searcher, str],
) -> None:
    search, project_id = searcher
    sources = {p.name: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    assert "retries" in sources["default.py"]  # what the question must meet
    assert not any("retry" in text.replace("retries", "") for text in sources.values())
    assert paths_found(search, project_id, "how does retry work?")[0] == RETRIES_FILE
    assert paths_found(search, project_id, "retrying a request")[0] == RETRIES_FILE


def test_an_identifier_is_still_found_exactly(searcher: tuple[Searcher, str]) -> None:
    search, project_id = searcher
    found = paths_found(search, project_id, "HTTPTransport")
    assert found[0] == RETRIES_FILE  # where the class is defined and used most
    assert paths_found(search, project_id, "get_environment_proxies")[0] == "httpx/_utils.py"
