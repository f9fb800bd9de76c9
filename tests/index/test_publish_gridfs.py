"""Generations published in GridFS, for replicas that share no disk: a worker uploads,
servers download into their own index directory, verify and load; a damaged upload is
refused; an older build never replaces a newer one; replaced files go after a grace period.

MongoDB is mongomock (as tests/service/conftest.py ``open_backend``) with its GridFS
integration; the Store is a real MongoStore on it. Each manager has its own index
directory, as hosts without a shared disk do.
"""

from __future__ import annotations

import logging
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gridfs
import mongomock
import mongomock.gridfs
import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index.manager import index_manager_for, publication_for
from projectqa.server.index.project import BuildInput, build_project_index
from projectqa.server.index.publish import DirectoryPublication
from projectqa.server.index.publish_gridfs import (
    FILES_BUCKET,
    GRACE_S,
    MANIFEST_TTL_S,
    MANIFESTS,
    GridFSPublication,
)
from projectqa.server.store import MongoStore, SqliteStore

from .conftest import MODEL, Corpus, unit_vectors


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


@pytest.fixture
def corpus(mongo: MongoStore) -> Corpus:
    return Corpus(mongo)  # type: ignore[arg-type]


def stored_dirs(mongo: MongoStore, project_id: str) -> set[str]:
    bucket = gridfs.GridFSBucket(mongo.database, bucket_name=FILES_BUCKET)
    return {f.metadata["dir"] for f in bucket.find({"metadata.project": project_id})}


def corrupt(mongo: MongoStore, project_id: str, generation_dir: str, path: str) -> None:
    """Flip one byte of a stored file (same size): GridFS itself does not notice."""
    files = mongo.database[f"{FILES_BUCKET}.files"]
    stored = files.find_one({"metadata.project": project_id, "metadata.dir": generation_dir,
                             "metadata.path": path})  # fmt: skip
    chunks = mongo.database[f"{FILES_BUCKET}.chunks"]
    chunk = chunks.find_one({"files_id": stored["_id"], "n": 0})
    data = bytearray(chunk["data"])
    data[len(data) // 2] ^= 0xFF
    chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": bytes(data)}})


def delete_stored(mongo: MongoStore, project_id: str, generation_dir: str, path: str) -> None:
    bucket = gridfs.GridFSBucket(mongo.database, bucket_name=FILES_BUCKET)
    query = {"metadata.project": project_id, "metadata.dir": generation_dir, "metadata.path": path}
    for stored in bucket.find(query):
        bucket.delete(stored._id)


def test_the_server_downloads_verifies_and_loads_what_the_worker_published(
    corpus: Corpus, host, mongo: MongoStore, tmp_path: Path, build_count: list[str]
) -> None:  # type: ignore[no-untyped-def]
    worker, server = host("worker"), host("server")
    [chunk] = corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=1))
    built = worker.get(corpus.project_id)
    assert stored_dirs(mongo, corpus.project_id) == {built.manifest.dir}

    served = server.serving(corpus.project_id, writing=False)
    assert served.manifest == built.manifest
    assert served.search_keyword("alpha", 1)[0][0] == chunk.id
    local = tmp_path / "server" / "indexes" / corpus.project_id / built.manifest.dir
    assert {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()} == {
        entry.path for entry in built.manifest.files
    }
    assert build_count == [corpus.project_id]
    assert worker.stale_projects() == [] and server.stale_projects() == []


def test_a_stale_generation_is_served_and_the_next_one_loaded_once_published(
    corpus: Corpus, host, clocks: Clocks, build_count: list[str]
) -> None:  # type: ignore[no-untyped-def]
    worker, server = host("worker"), host("server")
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=2))
    worker.get(corpus.project_id)
    first = server.serving(corpus.project_id, writing=False)
    corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=3))
    assert server.serving(corpus.project_id, writing=False) is first  # stale, not rebuilt

    assert worker.stale_projects() == [corpus.project_id]
    worker.get(corpus.project_id)
    # The Store is past what the server loaded, so it reads the manifest afresh (no TTL):
    # a search right after a run ends finds what the run wrote.
    second = server.serving(corpus.project_id, writing=False)
    assert second.manifest.generation == 2 and len(second) == 2
    assert build_count == [corpus.project_id] * 2


@pytest.mark.parametrize("how", ["flipped", "missing"])
def test_a_damaged_upload_is_refused_the_loaded_one_kept_and_a_rebuild_requested(
    how: str,
    corpus: Corpus,
    host,
    mongo: MongoStore,
    clocks: Clocks,
    build_count: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    worker, server = host("worker"), host("server")
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=4))
    worker.get(corpus.project_id)
    good = server.serving(corpus.project_id, writing=False)
    corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=5))
    damaged = worker.get(corpus.project_id).manifest.dir
    if how == "flipped":
        corrupt(mongo, corpus.project_id, damaged, "dense.faiss")
    else:
        delete_stored(mongo, corpus.project_id, damaged, "chunk_ids.json")
    clocks.mono += MANIFEST_TTL_S

    with caplog.at_level(logging.WARNING, "projectqa.server.index"):
        assert server.serving(corpus.project_id, writing=False) is good
    assert "refused" in caplog.text
    assert corpus.store.index_generation(corpus.project_id) == 3
    assert server.serving(corpus.project_id, writing=False) is good
    assert corpus.store.index_generation(corpus.project_id) == 3
    assert build_count == [corpus.project_id] * 2

    assert worker.stale_projects() == [corpus.project_id]
    worker.get(corpus.project_id)
    clocks.mono += MANIFEST_TTL_S
    assert server.serving(corpus.project_id, writing=False).manifest.generation == 3


def test_a_damaged_local_copy_is_downloaded_again_not_refused(
    corpus: Corpus, host, tmp_path: Path, build_count: list[str]
) -> None:  # type: ignore[no-untyped-def]
    worker = host("worker")
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=6))
    manifest = worker.get(corpus.project_id).manifest
    host("server").serving(corpus.project_id, writing=False)
    local = tmp_path / "server" / "indexes" / corpus.project_id / manifest.dir
    (local / "chunk_ids.json").write_text("[]")

    restarted = host("server")
    assert restarted.serving(corpus.project_id, writing=False).manifest == manifest
    assert corpus.store.index_generation(corpus.project_id) == 1
    assert build_count == [corpus.project_id]


def test_an_older_build_never_replaces_a_newer_one_but_a_rebuild_does(
    corpus: Corpus, host, mongo: MongoStore, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    worker = host("worker")
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=7))
    spec = BuildInput(corpus.store.index_generation(corpus.project_id), MODEL, 100)
    late = build_project_index(corpus.store, corpus.project_id, spec)  # started at generation 1
    corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=8))
    newer = worker.get(corpus.project_id).manifest

    slow = GridFSPublication(mongo.database, tmp_path / "slow")
    lost = slow.publish(corpus.project_id, late, force=False)
    assert slow.latest(corpus.project_id, fresh=True) == newer
    assert stored_dirs(mongo, corpus.project_id) == {newer.dir}  # the loser's uploads went
    assert lost.dir not in {p.name for p in (tmp_path / "slow" / corpus.project_id).iterdir()}

    rebuilt = worker.rebuild(corpus.project_id)  # same generation, forced
    assert slow.latest(corpus.project_id, fresh=True) == rebuilt != newer


def test_replaced_files_are_deleted_after_the_grace_period(
    corpus: Corpus, host, mongo: MongoStore, clocks: Clocks
) -> None:  # type: ignore[no-untyped-def]
    worker = host("worker")
    dirs = []
    for n in range(3):
        corpus.add(f"f{n}.py", [("f", "alpha")], unit_vectors(1, seed=10 + n))
        dirs.append(worker.get(corpus.project_id).manifest.dir)
        if n == 1:
            clocks.wall += GRACE_S  # the first was retired when the second was published
    assert stored_dirs(mongo, corpus.project_id) == {dirs[1], dirs[2]}
    doc = mongo.database[MANIFESTS].find_one({"_id": corpus.project_id})
    assert [r["dir"] for r in doc["retired"]] == [dirs[1]]


def test_two_workers_on_two_hosts_build_a_generation_once(
    corpus: Corpus, host, build_count: list[str]
) -> None:  # type: ignore[no-untyped-def]
    corpus.add("a.py", [(f"f{i}", f"word{i}") for i in range(50)], unit_vectors(50, seed=20))
    workers = [host("one"), host("two")]
    start = threading.Barrier(len(workers))
    built: list[str] = []

    def get(worker: IndexManager) -> None:
        start.wait()
        built.append(worker.get(corpus.project_id).manifest.dir)

    threads = [threading.Thread(target=get, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 2 and built[0] == built[1]
    assert build_count == [corpus.project_id]  # the lease held the second back


def test_drop_deletes_the_published_generations(
    corpus: Corpus, host, mongo: MongoStore, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    worker = host("worker")
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=30))
    worker.get(corpus.project_id)
    worker.drop(corpus.project_id)
    assert stored_dirs(mongo, corpus.project_id) == set()
    assert mongo.database[MANIFESTS].find_one({"_id": corpus.project_id}) is None
    assert not (tmp_path / "worker" / "indexes" / corpus.project_id).exists()
    assert worker.manifest(corpus.project_id) is None


def test_the_publication_follows_the_store(mongo: MongoStore, tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path / "store.db").open()
    try:
        assert isinstance(publication_for(sqlite, tmp_path), DirectoryPublication)
        with pytest.raises(ValueError, match="gridfs"):
            publication_for(sqlite, tmp_path, "gridfs")
    finally:
        sqlite.close()
    assert isinstance(publication_for(mongo, tmp_path), GridFSPublication)
    assert isinstance(publication_for(mongo, tmp_path, "directory"), DirectoryPublication)
    with pytest.raises(ValueError, match="one of"):
        publication_for(mongo, tmp_path, "s3")
    manager = index_manager_for(mongo, tmp_path, MODEL, exact_max=10)
    assert manager.manifest("prj_none") is None
