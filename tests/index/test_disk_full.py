"""Index builds that run out of disk space: the last good generation keeps answering, in
this process and after a restart, and no half-written generation is left behind. Builds
are a worker's (``get``, ``stale_projects``); ``serving`` never retries one while a
generation is loadable, and a worker retries only after ``BUILD_RETRY_S``.

Two ways to be out of space:
- a real one: the index root is a small tmpfs filled to the last byte (``tests/full_disk.py``;
  mount(2) needs root, so these skip elsewhere);
- ENOSPC injected at the OS calls that publish a generation (``os.fsync``, ``os.rename``,
  ``os.replace``), which runs anywhere. The Store is a real SQLite file on the normal disk.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from projectqa.server.index import IndexManager, layout
from projectqa.server.index.dense import DenseIndex
from projectqa.server.index.manager import BUILD_RETRY_S
from projectqa.server.index.project import ProjectIndex

from ..full_disk import SmallDisk, can_mount, small_disk
from .conftest import MODEL, Corpus, unit_vectors


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if not can_mount():
        pytest.skip("mounting a small tmpfs needs root")
    with small_disk(tmp_path / "indexes", 4 << 20) as mounted:
        yield mounted


def entries(project_dir: Path) -> list[str]:
    """What a build may leave: generation and build directories, manifest temp files."""
    return sorted(p.name for p in project_dir.iterdir() if p.name not in (".lock", "manifest.json"))


def assert_only_the_manifest_generation(project_dir: Path) -> layout.IndexManifest:
    """The manifest names a complete generation, and nothing else is on disk."""
    manifest = layout.read_manifest(project_dir)
    assert entries(project_dir) == [manifest.dir]
    loaded = ProjectIndex.load(project_dir / manifest.dir, manifest)
    assert len(loaded) == manifest.chunks
    return manifest


def two_generations(corpus: Corpus, manager: IndexManager) -> ProjectIndex:
    """Generation 1 built and served; generation 2 in the Store only. Returns the first."""
    corpus.add("a.py", [("f", "alpha beta")], unit_vectors(1, seed=1))
    served = manager.get(corpus.project_id)
    corpus.add("b.py", [("g", "gamma delta")], unit_vectors(1, seed=2))
    return served


def test_a_full_disk_keeps_the_last_good_generation_served_and_loadable(
    corpus: Corpus, disk: SmallDisk
) -> None:
    clock = FakeClock()
    manager = IndexManager(corpus.store, disk.path, MODEL, clock=clock)
    good = two_generations(corpus, manager)
    project_dir = disk.path / corpus.project_id
    disk.fill()

    with pytest.raises(OSError) as raised:  # asked for explicitly: the caller hears why
        manager.rebuild(corpus.project_id)
    assert raised.value.errno == errno.ENOSPC
    assert manager.serving(corpus.project_id, writing=False) is good
    assert assert_only_the_manifest_generation(project_dir) == good.manifest
    restarted = IndexManager(corpus.store, disk.path, MODEL, clock=clock)
    assert restarted.serving(corpus.project_id, writing=False).manifest == good.manifest

    with pytest.raises(OSError):  # the worker's build, at the end of its run
        manager.get(corpus.project_id)
    assert manager.serving(corpus.project_id, writing=False) is good

    disk.free()
    assert manager.stale_projects() == []  # not retried at once
    assert manager.serving(corpus.project_id, writing=False) is good
    clock.now += BUILD_RETRY_S
    assert manager.stale_projects() == [corpus.project_id]
    manager.get(corpus.project_id)
    current = manager.serving(corpus.project_id, writing=False)
    assert current.manifest.generation == 2 and len(current) == 2
    assert assert_only_the_manifest_generation(project_dir) == current.manifest


def test_a_dense_index_the_disk_cannot_hold_is_an_error_not_a_short_file(
    disk: SmallDisk,
) -> None:
    vectors = np.stack(unit_vectors(50, seed=3))
    dense = DenseIndex.build(vectors, np.arange(50), exact_max=100)
    disk.fill()
    # FAISS's own writer ignores a failing fclose: the file came out short, without error.
    with pytest.raises(OSError) as raised:
        dense.save(disk.path / "dense.faiss")
    assert raised.value.errno == errno.ENOSPC


@pytest.mark.parametrize("call", ["fsync", "rename", "replace"])
def test_enospc_while_publishing_leaves_one_complete_generation(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    clock = FakeClock()
    manager = IndexManager(corpus.store, index_root, MODEL, clock=clock)
    good = two_generations(corpus, manager)
    project_dir = index_root / corpus.project_id

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(layout.os, call, no_space)
    with pytest.raises(OSError) as raised:
        manager.get(corpus.project_id)
    assert raised.value.errno == errno.ENOSPC
    assert manager.serving(corpus.project_id, writing=False) is good
    assert assert_only_the_manifest_generation(project_dir) == good.manifest
    restarted = IndexManager(corpus.store, index_root, MODEL, clock=clock)
    assert restarted.serving(corpus.project_id, writing=False).manifest == good.manifest

    monkeypatch.undo()
    assert manager.stale_projects() == []
    clock.now += BUILD_RETRY_S
    assert manager.stale_projects() == [corpus.project_id]
    manager.get(corpus.project_id)
    current = manager.serving(corpus.project_id, writing=False)
    assert current.manifest.generation == 2
    assert assert_only_the_manifest_generation(project_dir) == current.manifest


def test_without_a_last_good_generation_the_build_error_is_raised(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=4))

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(layout.os, "rename", no_space)
    manager = IndexManager(corpus.store, index_root, MODEL)
    with pytest.raises(OSError):
        manager.serving(corpus.project_id, writing=False)
    assert entries(index_root / corpus.project_id) == []
