"""A real SqliteStore holding chunks and vectors written the way ingestion writes them."""

from __future__ import annotations

import hashlib
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mongomock
import mongomock.gridfs
import numpy as np
import pytest

from projectqa.server.embedding import vector_to_bytes
from projectqa.server.index import IndexManager
from projectqa.server.index import manager as manager_module
from projectqa.server.index.publish_gridfs import GridFSPublication
from projectqa.server.models import Chunk, Document, DocumentWrite, new_id, utcnow
from projectqa.server.store import MongoStore, SqliteStore

MODEL = "all-MiniLM-L6-v2"
DIM = 16


@dataclass
class Corpus:
    """Writes documents of one project into the store; vectors are optional per chunk."""

    store: SqliteStore
    project_id: str = field(default_factory=lambda: new_id("prj"))
    connector_id: str = field(default_factory=lambda: new_id("con"))

    def add(
        self,
        path: str,
        chunks: list[tuple[str, str]],
        vectors: list[np.ndarray] | None = None,
        model: str = MODEL,
    ) -> list[Chunk]:
        """Write ``path`` with (symbol, text) chunks, bump the generation, cache vectors."""
        document = make_document(self.project_id, self.connector_id, path, len(chunks))
        written = [make_chunk(document, i, sym, text) for i, (sym, text) in enumerate(chunks)]
        self.store.write_documents([DocumentWrite(document, written)])
        if vectors is not None:
            cached = {
                c.embed_hash: vector_to_bytes(v) for c, v in zip(written, vectors, strict=True)
            }
            self.store.put_embeddings(model, cached)
        self.store.bump_index_generation(self.project_id)
        return written


def make_document(project_id: str, connector_id: str, path: str, count: int) -> Document:
    return Document(
        id=new_id("doc"),
        project_id=project_id,
        connector_id=connector_id,
        key=path,
        kind="file",
        title=path.rsplit("/", 1)[-1],
        path=path,
        url="",
        version="v1",
        content_hash="sha256:" + path,
        language="python",
        metadata={},
        scan_id="scan",
        chunk_count=count,
        updated_at=utcnow(),
    )


def make_chunk(document: Document, ordinal: int, symbol: str, text: str) -> Chunk:
    embedded = f"{document.path}\n{symbol}\n{text}"
    return Chunk(
        id=new_id("chk"),
        project_id=document.project_id,
        connector_id=document.connector_id,
        document_id=document.id,
        document_key=document.key,
        kind=document.kind,
        path=document.path,
        url="",
        title=document.title,
        ordinal=ordinal,
        start_line=ordinal * 10 + 1,
        end_line=ordinal * 10 + 10,
        symbol=symbol,
        symbol_kind="function",
        language="python",
        text=text,
        embed_hash=hashlib.sha256(embedded.encode()).hexdigest(),
    )


def unit_vectors(count: int, seed: int, dim: int = DIM) -> list[np.ndarray]:
    """Random unit vectors: distinct enough that each is its own nearest neighbour."""
    matrix = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return list(matrix / np.linalg.norm(matrix, axis=1, keepdims=True))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


@pytest.fixture
def corpus(store: SqliteStore) -> Corpus:
    return Corpus(store)


@pytest.fixture
def index_root(tmp_path: Path) -> Path:
    return tmp_path / "indexes"


@pytest.fixture
def manager(store: SqliteStore, index_root: Path) -> IndexManager:
    return IndexManager(store, index_root, MODEL)


@pytest.fixture
def build_count(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Project ids of every build, in order, by any IndexManager of this process (the real
    build still runs)."""
    builds: list[str] = []
    real_build = manager_module.build_project_index

    def counting_build(store, project_id, spec):  # type: ignore[no-untyped-def]
        builds.append(project_id)
        return real_build(store, project_id, spec)

    monkeypatch.setattr(manager_module, "build_project_index", counting_build)
    return builds


@dataclass
class Clocks:
    wall: float = 1_700_000_000.0
    mono: float = 1000.0


@pytest.fixture
def mongo() -> Iterator[MongoStore]:
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    # pymongo's GridFSBucket reads client.options.timeout, which mongomock lacks.
    client.options = types.SimpleNamespace(timeout=None)
    store = MongoStore(client, "projectqa_index_test")
    store.prepare()
    yield store
    store.close()


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def host(mongo: MongoStore, tmp_path: Path, clocks: Clocks):  # type: ignore[no-untyped-def]
    """``host(name)``: an IndexManager publishing in GridFS, with its own index directory."""

    def make(name: str) -> IndexManager:
        publication = GridFSPublication(
            mongo.database,
            tmp_path / name / "indexes",
            wall=lambda: clocks.wall,
            monotonic=lambda: clocks.mono,
        )
        return IndexManager(mongo, tmp_path / name, MODEL, publication=publication)

    return make
