"""Chunk references from ingestion to the index's file graph.

A file stored by an older chunker (before references) is chunked again by the next
run that reads it (its change key holds the chunk format), and the first run after
a run of an older format is full, so an upgraded project gets its references without
asking. End to end: a git
repository's imports and calls become edges of the served index's graph.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from projectqa.server.index.graph import Edge
from projectqa.server.ingestion import prepare as prepare_module
from projectqa.server.ingestion import runs as runs_module
from projectqa.server.ingestion.prepare import Prepared, Unchanged, content_hash, prepare
from projectqa.server.models import DocumentWrite, PageRequest
from projectqa.server.sources import DocumentKind, SourceDocument
from projectqa.server.store import SqliteStore
from projectqa.v1 import ingestion_pb2

from ..store.contract_ingestion import make_document
from .conftest import QA, make_repo

CORE = "pkg/core.py"
IO = "pkg/io.py"
FILES = {
    CORE: "from pkg.io import read\n\n\ndef run(path):\n    return read(path).strip()\n",
    IO: "def read(path):\n    with open(path) as handle:\n        return handle.read()\n",
    "tests/test_core.py": "from pkg.core import run\n\n\ndef test_run():\n    assert run('x')\n",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


def source_file(path: str, kind: DocumentKind = DocumentKind.FILE) -> SourceDocument:
    return SourceDocument(key=path, kind=kind, text=FILES[CORE], title=path, path=path)


def stored_with(store: SqliteStore, doc: SourceDocument, digest: str) -> None:
    document = make_document("con_1", doc.key, kind=str(doc.kind), content_hash=digest)
    store.write_documents([DocumentWrite(document, [])])


def prepared(store: SqliteStore, doc: SourceDocument) -> object:
    [item] = list(prepare([doc], store, "con_1", threading.Event()))
    return item


def test_a_file_chunked_by_an_older_chunk_format_is_chunked_again(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = source_file(CORE)
    monkeypatch.setattr(prepare_module, "CHUNK_FORMAT", prepare_module.CHUNK_FORMAT - 1)
    older = content_hash(doc)
    monkeypatch.undo()
    stored_with(store, doc, older)

    item = prepared(store, doc)

    assert isinstance(item, Prepared) and item.content_hash == content_hash(doc) != older
    assert any(draft.references for draft in item.drafts)
    stored_with(store, doc, content_hash(doc))
    assert prepared(store, doc) == Unchanged(CORE)


def test_records_keep_their_change_key_across_chunk_formats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = source_file("issues/1", DocumentKind.ISSUE)
    current = content_hash(record)
    monkeypatch.setattr(prepare_module, "CHUNK_FORMAT", prepare_module.CHUNK_FORMAT + 1)
    assert content_hash(record) == current  # issues and commits have no references


@pytest.mark.model
async def test_imports_and_calls_of_a_repository_become_edges_of_its_index(
    qa: QA, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    project = await qa.project("graph")
    await qa.connector(project, "git", "code", url=str(repo))

    run = await qa.ingest(project, full=True)

    assert not run.error
    chunks = qa.server.store.list_chunks(project, PageRequest(limit=100))
    core = [chunk for chunk in chunks if chunk.path == CORE]
    assert {"import:pkg.io.read", "call:read"} <= {r for c in core for r in c.references}
    graph = qa.server.ingestion.indexes.serving(project).graph
    assert graph is not None
    assert graph.out_edges(CORE) == [Edge(IO, "call", 1.0), Edge(IO, "import", 1.0)]
    assert [edge.path for edge in graph.in_edges(CORE)] == ["tests/test_core.py"] * 2


@pytest.mark.model
async def test_the_first_run_after_an_older_chunk_format_reads_everything_again(
    qa: QA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    project = await qa.project("upgraded")
    await qa.connector(project, "git", "code", url=str(repo))
    real_read = prepare_module.read_document

    def without_references(doc: SourceDocument):  # type: ignore[no-untyped-def]
        drafts, symbols = real_read(doc)
        return [replace(draft, references=()) for draft in drafts], symbols

    # The release before references: chunk format 1, no references, runs of format 1.
    monkeypatch.setattr(prepare_module, "CHUNK_FORMAT", 1)
    monkeypatch.setattr(runs_module, "CHUNK_FORMAT", 1)
    monkeypatch.setattr(prepare_module, "read_document", without_references)
    assert not (await qa.ingest(project, full=True)).error
    graph = qa.server.ingestion.indexes.serving(project).graph
    assert graph is not None and graph.out_edges(CORE) == []
    monkeypatch.undo()

    # Nothing changed in the repository, yet the upgrade's first (incremental) run is
    # full: every file is chunked again, and the index gets its graph.
    upgrade = await qa.ingest(project)

    assert upgrade.mode == ingestion_pb2.INGESTION_MODE_FULL
    assert upgrade.counts.documents_changed == len(FILES)
    graph = qa.server.ingestion.indexes.serving(project).graph
    assert graph is not None
    assert graph.out_edges(CORE) == [Edge(IO, "call", 1.0), Edge(IO, "import", 1.0)]
    after = await qa.ingest(project)  # incremental again: nothing is read again
    assert after.mode == ingestion_pb2.INGESTION_MODE_INCREMENTAL
    assert after.counts.documents_changed == 0
