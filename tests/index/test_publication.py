"""Generations built once by a worker and published in the index directory; servers load
them, verify every file, refuse a damaged one, and never rebuild a stale one.

A "worker" and a "server" are two IndexManagers over one real SqliteStore and one index
directory, as a ``projectqa worker`` and a ``projectqa serve`` on one data directory.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index import publish as publish_module
from projectqa.server.index.layout import MANIFEST_NAME, IndexManifest, read_manifest
from projectqa.server.index.project import ProjectIndex
from projectqa.server.index.publish import DirectoryPublication

from .conftest import MODEL, Corpus, unit_vectors

DAMAGES = ["missing", "short", "flipped"]


def managers(corpus: Corpus, root: Path) -> tuple[IndexManager, IndexManager]:
    """(worker, server): separate objects, as separate processes would have."""
    return IndexManager(corpus.store, root, MODEL), IndexManager(corpus.store, root, MODEL)


def damage(generation_dir: Path, how: str) -> None:
    """Break the generation as a disk, a copy or a person might."""
    if how == "missing":  # without it the keyword index used to load as an empty one
        (generation_dir / "keyword" / "params.index.json").unlink()
        return
    dense = generation_dir / "dense.faiss"
    data = bytearray(dense.read_bytes())
    if how == "short":
        del data[-8:]
    else:  # same size, one byte changed: FAISS still loads it
        data[len(data) // 2] ^= 0xFF
    dense.write_bytes(bytes(data))


def published_dir(root: Path, corpus: Corpus) -> Path:
    project_dir = root / corpus.project_id
    return project_dir / read_manifest(project_dir).dir


def test_the_server_loads_what_the_worker_published_without_building(
    corpus: Corpus, index_root: Path, build_count: list[str]
) -> None:
    worker, server = managers(corpus, index_root)
    [chunk] = corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=1))
    built = worker.get(corpus.project_id)

    served = server.serving(corpus.project_id, writing=False)
    assert served is not built and served.manifest == built.manifest
    assert served.search_keyword("alpha", 1)[0][0] == chunk.id
    assert server.manifest(corpus.project_id) == built.manifest
    assert build_count == [corpus.project_id]


def test_a_stale_generation_is_served_as_it_is_until_a_worker_publishes_the_next(
    corpus: Corpus, index_root: Path, build_count: list[str]
) -> None:
    worker, server = managers(corpus, index_root)
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=2))
    worker.get(corpus.project_id)
    [added] = corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=3))

    first = server.serving(corpus.project_id, writing=False)
    assert first.manifest.generation == 1  # stale, and not rebuilt here
    assert server.serving(corpus.project_id, writing=False) is first
    assert (
        IndexManager(corpus.store, index_root, MODEL)
        .serving(corpus.project_id, writing=False)
        .manifest
        == first.manifest
    )  # a restarted server loads it too
    assert build_count == [corpus.project_id]

    assert worker.stale_projects() == [corpus.project_id]
    worker.get(corpus.project_id)
    second = server.serving(corpus.project_id, writing=False)
    assert second.manifest.generation == 2
    assert second.search_keyword("gamma", 1)[0][0] == added.id
    # A query that began with the first generation still has all of it.
    assert first.search_keyword("gamma", 1) == [] and len(first) == 1
    assert build_count == [corpus.project_id] * 2


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_generation_is_refused_the_loaded_one_kept_and_a_rebuild_requested(
    how: str,
    corpus: Corpus,
    index_root: Path,
    build_count: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker, server = managers(corpus, index_root)
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=4))
    worker.get(corpus.project_id)
    good = server.serving(corpus.project_id, writing=False)
    corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=5))
    worker.get(corpus.project_id)
    damage(published_dir(index_root, corpus), how)

    with caplog.at_level(logging.WARNING, "projectqa.server.index"):
        assert server.serving(corpus.project_id, writing=False) is good
    assert "generation 2" in caplog.text and "refused" in caplog.text
    assert corpus.store.index_generation(corpus.project_id) == 3  # the rebuild asked for
    assert server.serving(corpus.project_id, writing=False) is good
    assert corpus.store.index_generation(corpus.project_id) == 3  # asked once
    assert build_count == [corpus.project_id] * 2  # the worker's builds only

    assert worker.stale_projects() == [corpus.project_id]
    worker.get(corpus.project_id)
    rebuilt = server.serving(corpus.project_id, writing=False)
    assert rebuilt.manifest.generation == 3 and len(rebuilt) == 2


@pytest.mark.parametrize("how", DAMAGES)
def test_with_nothing_loadable_the_server_builds_after_refusing(
    how: str, corpus: Corpus, index_root: Path, build_count: list[str]
) -> None:
    worker, server = managers(corpus, index_root)
    [chunk] = corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=6))
    worker.get(corpus.project_id)
    damage(published_dir(index_root, corpus), how)

    served = server.serving(corpus.project_id, writing=False)
    assert served.manifest.generation == 2  # refused (bumped), then built here
    assert served.search_keyword("alpha", 1)[0][0] == chunk.id
    assert build_count == [corpus.project_id] * 2
    assert worker.stale_projects() == []


def test_a_worker_refuses_a_damaged_current_generation_and_rebuilds_it(
    corpus: Corpus, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=7))
    IndexManager(corpus.store, index_root, MODEL).get(corpus.project_id)
    damage(published_dir(index_root, corpus), "flipped")

    restarted = IndexManager(corpus.store, index_root, MODEL)
    assert restarted.get(corpus.project_id).manifest.generation == 2
    assert restarted.stale_projects() == []
    assert len(build_count) == 2


def test_an_old_format_manifest_counts_as_missing(
    corpus: Corpus, index_root: Path, build_count: list[str]
) -> None:
    worker, server = managers(corpus, index_root)
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=8))
    worker.get(corpus.project_id)
    path = index_root / corpus.project_id / MANIFEST_NAME
    data = json.loads(path.read_text())
    del data["files"]
    path.write_text(json.dumps({**data, "format": 1}))  # as the previous release wrote it

    assert IndexManager(corpus.store, index_root, MODEL).stale_projects() == [corpus.project_id]
    served = server.serving(corpus.project_id, writing=False)  # nothing loadable: built
    assert served.manifest.generation == 1 and served.manifest.files
    assert len(build_count) == 2
    assert worker.stale_projects() == []


def test_stale_projects_names_those_behind_the_store(
    store, index_root: Path, build_count: list[str]
) -> None:  # type: ignore[no-untyped-def]
    current, behind, never = Corpus(store), Corpus(store), Corpus(store)
    worker = IndexManager(store, index_root, MODEL)
    for seed, corpus in enumerate((current, behind, never)):
        corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=seed))
    worker.get(current.project_id)
    worker.get(behind.project_id)
    behind.add("b.py", [("g", "gamma")], unit_vectors(1, seed=9))
    other_model = IndexManager(store, index_root, "other-model")

    assert worker.stale_projects() == sorted([behind.project_id, never.project_id])
    assert other_model.stale_projects() == sorted(
        [current.project_id, behind.project_id, never.project_id]
    )
    for project_id in worker.stale_projects():
        worker.get(project_id)
    assert worker.stale_projects() == []
    assert len(build_count) == 4


def test_two_workers_build_a_generation_once(
    corpus: Corpus, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [(f"f{i}", f"word{i}") for i in range(50)], unit_vectors(50, seed=10))
    workers = [IndexManager(corpus.store, index_root, MODEL) for _ in range(2)]
    start = threading.Barrier(len(workers))
    built: list[int] = []

    def get(worker: IndexManager) -> None:
        start.wait()
        built.append(worker.get(corpus.project_id).manifest.generation)

    threads = [threading.Thread(target=get, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [1, 1]
    assert build_count == [corpus.project_id]  # the second loaded what the first published


class ReplacedWhileRead(DirectoryPublication):
    """Runs ``meanwhile`` (once) after the reader has the manifest, before it opens it."""

    def __init__(self, root: Path, meanwhile: Callable[[], object]) -> None:
        super().__init__(root)
        self.meanwhile: Callable[[], object] | None = meanwhile

    def open(self, project_id: str, manifest: IndexManifest) -> ProjectIndex:
        if self.meanwhile is not None:
            self.meanwhile, meanwhile = None, self.meanwhile
            meanwhile()
        return super().open(project_id, manifest)


def test_a_generation_replaced_while_being_read_is_not_refused(
    corpus: Corpus, index_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    worker = IndexManager(corpus.store, index_root, MODEL)
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=12))
    worker.get(corpus.project_id)

    def publish_the_next() -> None:  # deletes the generation the server is about to read
        corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=13))
        worker.get(corpus.project_id)

    publication = ReplacedWhileRead(index_root, publish_the_next)
    server = IndexManager(corpus.store, index_root, MODEL, publication=publication)
    with caplog.at_level(logging.WARNING, "projectqa.server.index"):
        served = server.serving(corpus.project_id, writing=False)
    assert served.manifest.generation == 2 and len(served) == 2
    assert corpus.store.index_generation(corpus.project_id) == 2  # no rebuild asked for
    assert "refused" not in caplog.text


def test_a_server_loading_while_a_worker_publishes_never_sees_half_a_generation(
    corpus: Corpus, index_root: Path
) -> None:
    """The worker deletes each generation it replaces, maybe while the server verifies it:
    that is a replaced generation, not a damaged one (nothing refused, nothing bumped)."""
    worker, server = managers(corpus, index_root)
    corpus.add("f0.py", [("f", "shared")], unit_vectors(1, seed=11))
    worker.get(corpus.project_id)
    done = threading.Event()
    seen: list[tuple[int, int, int]] = []

    def publish() -> None:
        try:
            for n in range(1, 6):
                corpus.add(f"f{n}.py", [("f", "shared")], unit_vectors(1, seed=20 + n))
                worker.get(corpus.project_id)
        finally:
            done.set()

    def serve() -> None:
        index = server.serving(corpus.project_id, writing=False)
        hits = len(index.search_keyword("shared", 100))
        seen.append((index.manifest.generation, len(index), hits))

    thread = threading.Thread(target=publish)
    thread.start()
    while not done.is_set():
        serve()
    thread.join()
    serve()
    assert all(size == generation == hits for generation, size, hits in seen)
    assert seen[-1][0] == corpus.store.index_generation(corpus.project_id) == 6


def test_ensure_published_builds_what_is_behind_and_keeps_nothing_in_memory(
    corpus: Corpus, index_root: Path, build_count: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, server = managers(corpus, index_root)
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=14))
    published = worker.ensure_published(corpus.project_id)
    assert worker.ensure_published(corpus.project_id) == published  # current: no build
    assert server.serving(corpus.project_id, writing=False).manifest == published
    assert worker._loaded == {}  # a worker does not search: it holds no index
    assert build_count == [corpus.project_id]

    corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=15))

    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish_module, "write_manifest", no_space)
    with pytest.raises(OSError):
        worker.ensure_published(corpus.project_id)
    assert worker.stale_projects() == []  # not retried at once
    monkeypatch.undo()
    assert worker.ensure_published(corpus.project_id).generation == 2
    assert server.serving(corpus.project_id, writing=False).manifest.generation == 2
