"""IndexManager: lazy loading, staleness, crash safety, approximate index, drop, concurrency.

Real SqliteStore, real FAISS and bm25s; vectors are random unit vectors written
to the embedding cache (the model-backed tests are in test_embedding.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index import publish as publish_module
from projectqa.server.index.layout import MANIFEST_NAME

from .conftest import DIM, MODEL, Corpus, unit_vectors


def generation_dirs(project_dir: Path) -> list[str]:
    return sorted(p.name for p in project_dir.iterdir() if p.is_dir())


def test_first_get_builds_and_writes_manifest_naming_the_generation(
    corpus: Corpus, manager: IndexManager, index_root: Path
) -> None:
    chunks = corpus.add("a.py", [("f", "alpha"), ("g", "beta")], unit_vectors(2, seed=1))
    index = manager.get(corpus.project_id)
    assert len(index) == 2
    project_dir = index_root / corpus.project_id
    on_disk = json.loads((project_dir / MANIFEST_NAME).read_text())
    assert on_disk["format"] == 2
    assert on_disk["generation"] == corpus.store.index_generation(corpus.project_id) == 1
    assert on_disk["model"] == MODEL
    assert on_disk["dimension"] == DIM
    assert on_disk["dense_kind"] == "flat"
    assert on_disk["chunks"] == on_disk["vectors"] == 2
    assert generation_dirs(project_dir) == [on_disk["dir"]]
    listed = {entry["path"]: entry for entry in on_disk["files"]}
    written = project_dir / on_disk["dir"]
    assert set(listed) == {
        p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file()
    }
    assert {"chunk_ids.json", "dense.faiss", "keyword/params.index.json"} <= set(listed)
    dense = (written / "dense.faiss").read_bytes()
    assert listed["dense.faiss"]["size"] == len(dense)
    assert listed["dense.faiss"]["sha256"] == hashlib.sha256(dense).hexdigest()
    assert manager.manifest(corpus.project_id) == index.manifest
    assert [chunk_id for chunk_id, _ in index.search_keyword("beta", 5)] == [chunks[1].id]


def test_dense_search_returns_chunk_ids_best_first(corpus: Corpus, manager: IndexManager) -> None:
    vectors = unit_vectors(20, seed=2)
    chunks = corpus.add("a.py", [(f"f{i}", f"text {i}") for i in range(20)], vectors)
    hits = manager.get(corpus.project_id).search_dense(vectors[7], 5)
    assert hits[0][0] == chunks[7].id
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert len(hits) == 5


def test_chunks_without_vectors_are_only_in_the_keyword_index(
    corpus: Corpus, manager: IndexManager
) -> None:
    [with_vector] = corpus.add("a.py", [("f", "shared word")], unit_vectors(1, seed=3))
    [without] = corpus.add("b.py", [("g", "shared word")])
    index = manager.get(corpus.project_id)
    assert index.manifest.chunks == 2 and index.manifest.vectors == 1
    assert [c for c, _ in index.search_dense(unit_vectors(1, seed=4)[0], 10)] == [with_vector.id]
    assert {c for c, _ in index.search_keyword("shared", 10)} == {with_vector.id, without.id}


def test_vectors_of_another_model_are_not_used(store, index_root: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = Corpus(store)
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=5), model="other-model")
    index = IndexManager(store, index_root, MODEL).get(corpus.project_id)
    assert index.manifest.vectors == 0 and index.manifest.dense_kind == "empty"


def test_empty_project_gives_an_empty_index(corpus: Corpus, manager: IndexManager) -> None:
    index = manager.get(corpus.project_id)
    assert len(index) == 0
    assert index.manifest.generation == 0 and index.manifest.dense_kind == "empty"
    assert index.search_dense(unit_vectors(1, seed=6)[0], 10) == []
    assert index.search_keyword("anything", 10) == []


def test_empty_approximate_index_answers_nothing(store, index_root: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = Corpus(store)
    manager = IndexManager(store, index_root, MODEL, exact_max=0)
    assert manager.get(corpus.project_id).search_dense(unit_vectors(1, seed=6)[0], 3) == []


def test_current_index_is_served_from_memory_then_from_disk(
    corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=7))
    first = manager.get(corpus.project_id)
    assert manager.get(corpus.project_id) is first
    restarted = IndexManager(corpus.store, index_root, MODEL)
    assert restarted.get(corpus.project_id).manifest == first.manifest
    assert build_count == [corpus.project_id]


def test_stale_generation_triggers_rebuild(
    corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=8))
    old = manager.get(corpus.project_id)
    [added] = corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=9))

    current = manager.get(corpus.project_id)
    assert current.manifest.generation == 2 and len(current) == 2
    assert current.search_keyword("gamma", 1)[0][0] == added.id
    assert generation_dirs(index_root / corpus.project_id) == [current.manifest.dir]
    assert old.manifest.dir != current.manifest.dir

    corpus.store.bump_index_generation(corpus.project_id)
    restarted = IndexManager(corpus.store, index_root, MODEL)
    assert restarted.get(corpus.project_id).manifest.generation == 3
    assert len(build_count) == 3


def test_model_change_triggers_rebuild(
    corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=10))
    manager.get(corpus.project_id)
    other = IndexManager(corpus.store, index_root, "other-model")
    assert other.get(corpus.project_id).manifest.model == "other-model"
    assert len(build_count) == 2


@pytest.mark.parametrize("damage", ["garbage", "wrong_format", "bad_dir", "missing_dir"])
def test_corrupt_manifest_triggers_rebuild(
    damage: str, corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    [chunk] = corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=11))
    manager.get(corpus.project_id)
    path = index_root / corpus.project_id / MANIFEST_NAME
    data = json.loads(path.read_text())
    damaged = {
        "garbage": "{not json",
        "wrong_format": json.dumps({**data, "format": 99}),
        "bad_dir": json.dumps({**data, "dir": "../../elsewhere"}),
        "missing_dir": json.dumps({**data, "dir": "g1-000000000000"}),
    }[damage]
    path.write_text(damaged)

    restarted = IndexManager(corpus.store, index_root, MODEL)
    assert restarted.get(corpus.project_id).search_keyword("alpha", 1)[0][0] == chunk.id
    assert len(build_count) == 2
    assert json.loads(path.read_text())["format"] == 2


def test_damaged_index_file_triggers_rebuild(
    corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=12))
    manifest = manager.get(corpus.project_id).manifest
    dense_file = index_root / corpus.project_id / manifest.dir / "dense.faiss"
    dense_file.write_bytes(dense_file.read_bytes()[:20])

    restarted = IndexManager(corpus.store, index_root, MODEL)
    assert len(restarted.get(corpus.project_id)) == 1
    assert len(build_count) == 2


def test_crash_before_manifest_keeps_serving_old_generation_and_cleans_up(
    corpus: Corpus,
    manager: IndexManager,
    index_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=13))
    old = manager.get(corpus.project_id).manifest
    project_dir = index_root / corpus.project_id
    corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=14))

    def crash(*args: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(publish_module, "write_manifest", crash)
    with pytest.raises(OSError, match="power cut"):
        manager.rebuild(corpus.project_id)
    # A failure this process sees removes what the manifest does not name.
    assert generation_dirs(project_dir) == [old.dir]
    # A crash cannot: it leaves a complete generation the manifest does not name yet
    # (killed before the manifest) or a half-written build directory (killed while saving).
    shutil.copytree(project_dir / old.dir, project_dir / "g2-deadbeef0000")
    (project_dir / ".build-deadbeef0000").mkdir()
    (project_dir / ".build-deadbeef0000" / "chunk_ids.json").write_text("[")
    assert len(generation_dirs(project_dir)) == 3
    assert IndexManager(corpus.store, index_root, MODEL).manifest(corpus.project_id) == old

    monkeypatch.undo()
    restarted = IndexManager(corpus.store, index_root, MODEL)
    current = restarted.get(corpus.project_id)  # stale on disk: rebuilt
    assert current.manifest.generation == 2 and len(current) == 2
    assert generation_dirs(project_dir) == [current.manifest.dir]


def test_rebuild_always_builds_and_swaps_the_served_index(
    corpus: Corpus, manager: IndexManager, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=15))
    first = manager.get(corpus.project_id)
    manifest = manager.rebuild(corpus.project_id)
    assert manifest.generation == first.manifest.generation
    assert manifest.dir != first.manifest.dir
    assert manager.get(corpus.project_id).manifest == manifest
    assert len(build_count) == 2


def test_approximate_index_above_the_threshold(store, index_root: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = Corpus(store)
    vectors = unit_vectors(400, seed=16)
    chunks = corpus.add("a.py", [(f"f{i}", f"text {i}") for i in range(400)], vectors)
    approximate = IndexManager(store, index_root, MODEL, exact_max=399).get(corpus.project_id)
    assert approximate.manifest.dense_kind == "ivf"
    assert approximate.search_dense(vectors[31], 3)[0][0] == chunks[31].id
    restarted = IndexManager(store, index_root, MODEL, exact_max=399).get(corpus.project_id)
    assert restarted.search_dense(vectors[5], 3)[0][0] == chunks[5].id

    exact = IndexManager(store, index_root / "exact", MODEL, exact_max=400).get(corpus.project_id)
    assert exact.manifest.dense_kind == "flat"


def test_drop_forgets_and_deletes(
    corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=17))
    manager.get(corpus.project_id)
    manager.drop(corpus.project_id)
    assert not (index_root / corpus.project_id).exists()
    assert manager.manifest(corpus.project_id) is None
    manager.drop(corpus.project_id)  # repeating is harmless
    assert len(manager.get(corpus.project_id)) == 1
    assert len(build_count) == 2


def test_concurrent_gets_build_once(
    corpus: Corpus, manager: IndexManager, build_count: list[str]
) -> None:
    corpus.add("a.py", [(f"f{i}", f"word{i}") for i in range(50)], unit_vectors(50, seed=18))
    start = threading.Barrier(8)
    served: list[object] = []

    def get() -> None:
        start.wait()
        served.append(manager.get(corpus.project_id))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert build_count == [corpus.project_id]
    assert len(served) == 8 and all(index is served[0] for index in served)


def test_projects_are_independent(store, manager: IndexManager) -> None:  # type: ignore[no-untyped-def]
    first, second = Corpus(store), Corpus(store)
    [a] = first.add("a.py", [("f", "shared")], unit_vectors(1, seed=19))
    [b] = second.add("a.py", [("f", "shared")], unit_vectors(1, seed=20))
    assert [c for c, _ in manager.get(first.project_id).search_keyword("shared", 5)] == [a.id]
    assert [c for c, _ in manager.get(second.project_id).search_keyword("shared", 5)] == [b.id]


@pytest.mark.parametrize("project_id", ["../etc", "a/b", "", ".hidden"])
def test_unsafe_project_ids_are_refused(manager: IndexManager, project_id: str) -> None:
    with pytest.raises(ValueError, match="project id"):
        manager.get(project_id)


def test_a_server_of_another_embedder_serves_the_generation_published_and_builds_nothing(
    corpus: Corpus, manager: IndexManager, index_root: Path, build_count: list[str]
) -> None:
    """After an embedder switch the old generation answers (its queries embedded by its
    own embedder) until a worker publishes one of the new embedder, complete."""
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=11))
    published = manager.get(corpus.project_id).manifest
    upgraded = IndexManager(corpus.store, index_root, "other-model")
    served = upgraded.serving(corpus.project_id)
    assert served.manifest == published and served.manifest.vectors == 1
    assert build_count == [corpus.project_id]  # the worker's build only
