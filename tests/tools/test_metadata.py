"""project_metadata over a real SQLite store, documents written as ingestion writes them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from projectqa.server.models import DocumentWrite, RunStatus, utcnow
from projectqa.server.store import SqliteStore
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.metadata import (
    ConnectorSummary,
    LanguageStats,
    LayoutEntry,
    project_metadata,
)
from tests.store.contract import make_connector, make_project
from tests.store.contract_ingestion import make_chunk, make_document, make_run, make_symbol

SHA = "c" * 40


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


def document(
    project_id: str,
    connector_id: str,
    key: str,
    *,
    language: str = "",
    lines: int = 0,
    chunks: int = 1,
    symbols: int = 0,
    kind: str = "file",
) -> DocumentWrite:
    record = make_document(
        connector_id,
        key,
        project_id=project_id,
        kind=kind,
        path=key if kind == "file" else "",
        language=language,
        line_count=lines,
        chunk_count=chunks,
    )
    return DocumentWrite(
        record,
        [make_chunk(record, n) for n in range(chunks)],
        [make_symbol(record, n, f"f{n}") for n in range(symbols)],
    )


def test_project_metadata(store: SqliteStore) -> None:
    project = make_project("demo")
    store.create_project(project)
    repo = make_connector(project.id, "repo", type="git")
    docs = make_connector(project.id, "docs", type="local", config={"path": "/srv/docs"})
    tracker = make_connector(project.id, "tracker", type="jira", config={})
    for connector in (repo, docs, tracker):
        store.create_connector(connector)
    finished = utcnow() - timedelta(minutes=5)
    ran = make_run(project.id, repo.id, RunStatus.SUCCEEDED, finished_at=finished, revision=SHA)
    store.create_run(replace(ran, cursor={"commit": SHA, "checkout": "/x"}))
    store.create_run(make_run(project.id, repo.id, RunStatus.FAILED, finished_at=utcnow()))
    issues_run = make_run(project.id, tracker.id, RunStatus.SUCCEEDED, finished_at=finished)
    store.create_run(issues_run)

    p = project.id
    store.write_documents(
        [
            document(p, repo.id, "src/app.py", language="python", lines=100, chunks=3, symbols=4),
            document(p, repo.id, "src/util.py", language="python", lines=50, symbols=1),
            document(p, repo.id, "web/app.ts", language="typescript", lines=200, chunks=2),
            document(p, repo.id, "README.md", language="markdown", lines=10),
            document(p, repo.id, "LICENSE", lines=20),
            document(p, docs.id, "guide/intro.md", language="markdown", lines=30, chunks=2),
            document(p, tracker.id, "PROJ-1", kind="issue", chunks=2),
            document(p, tracker.id, "PROJ-2", kind="issue"),
        ]
    )
    # More documents than one page of the Store's listing.
    store.write_documents(
        [document(p, repo.id, f"gen/f{n:03d}.py", language="python", lines=1) for n in range(600)]
    )
    checkouts = [Checkout(repo.id, "repo", Path("/x"), SHA)]

    meta = project_metadata(store, project, checkouts, index_generation=7)

    assert (meta.project_id, meta.slug, meta.name) == (project.id, "demo", "Demo")
    assert meta.index_generation == 7
    assert meta.languages == [
        LanguageStats("python", 602, 750),
        LanguageStats("typescript", 1, 200),
        LanguageStats("markdown", 2, 40),
        LanguageStats("other", 1, 20),
    ]
    assert meta.documents_by_kind == {"file": 606, "issue": 2}
    assert meta.chunks == store.count_chunks(project.id) == 613
    assert meta.symbols == 5
    assert meta.connectors == [
        ConnectorSummary(docs.id, "docs", "local", "", None, "", 1, 2, False),
        ConnectorSummary(repo.id, "repo", "git", ran.id, finished, SHA, 605, 608, True),
        ConnectorSummary(tracker.id, "tracker", "jira", issues_run.id, finished, "", 2, 3, False),
    ]
    assert meta.layout == [
        LayoutEntry(docs.id, "guide", True, 1),
        LayoutEntry(repo.id, "LICENSE", False, 1),
        LayoutEntry(repo.id, "README.md", False, 1),
        LayoutEntry(repo.id, "gen", True, 600),
        LayoutEntry(repo.id, "src", True, 2),
        LayoutEntry(repo.id, "web", True, 1),
    ]


def test_an_empty_project(store: SqliteStore) -> None:
    project = make_project("empty")
    store.create_project(project)
    meta = project_metadata(store, project, [], index_generation=0)
    assert (meta.languages, meta.documents_by_kind, meta.connectors, meta.layout) == (
        [],
        {},
        [],
        [],
    )
    assert (meta.chunks, meta.symbols, meta.index_generation) == (0, 0, 0)
