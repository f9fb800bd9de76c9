"""A worker of another embedder than the one a project's generation was built with (an
fp32 index after an upgrade to int8): the old generation keeps being served while the
worker's reconcile loop re-embeds every chunk, and the new one is published only once
complete, never mixing the two. Real SQLite and publication; two fake embedders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.server.index.layout import IndexManifest
from projectqa.server.ingestion.worker import Worker
from projectqa.server.registry import PluginCatalog
from projectqa.server.store import SqliteStore
from projectqa.server.threads import BlockingRunner

from ..store.contract_ingestion import make_run
from ..waiting import eventually
from .progressive import FakeEmbedder, Project, open_store, scripted_project, wait_for

OLD, NEW = "fake-fp32", "fake-int8"
CHUNKS = 300  # three encode slices


def worker_of(store: SqliteStore, project: Project, embedder: FakeEmbedder) -> Worker:
    """A worker of the new embedder over ``project``."""
    return Worker(
        store, PluginCatalog(), project.pipeline(embedder), project.worker_indexes,
        BlockingRunner(2), model=NEW,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    yield from open_store(tmp_path / "store.sqlite3")


async def test_a_project_of_another_embedder_is_served_until_re_embedded_then_switched(
    store: SqliteStore, tmp_path: Path
) -> None:
    # Indexed before the upgrade, by the old embedder.
    before = scripted_project(store, tmp_path, OLD, OLD, documents=CHUNKS, checkpoint_every=100)
    assert before.start(before.pipeline(FakeEmbedder(OLD))).join() is None
    old = before.worker_indexes.manifest(before.id)
    assert old is not None and old.model == OLD and old.vectors == CHUNKS

    # After it: a worker and a server of the new embedder.
    after = before.with_models(NEW, NEW)
    published: list[IndexManifest] = []
    real_publish = after.worker_indexes.ensure_published

    def recording(project_id: str) -> IndexManifest:
        published.append(real_publish(project_id))
        return published[-1]

    after.worker_indexes.ensure_published = recording  # type: ignore[method-assign]
    embedder = FakeEmbedder(NEW, free_calls=1)  # one slice, then held
    worker = worker_of(store, after, embedder)
    try:
        await worker.reconcile()
        assert await eventually(embedder.waiting.is_set, polls=4000)
        # Half-way: the old generation is what is published and served, complete.
        assert after.worker_indexes.manifest(before.id) == old
        served = after.server_indexes.serving(before.id)
        assert served.manifest == old and served.manifest.vectors == CHUNKS
        assert published == []

        embedder.release()
        assert await eventually(lambda: bool(published), polls=4000)
    finally:
        await worker.stop(0)
    [new] = published
    assert new.model == NEW and new.vectors == new.chunks == CHUNKS
    assert after.chunks_without_vector(NEW) == 0
    assert embedder.encoded == CHUNKS  # every chunk once
    switched = after.server_indexes.serving(before.id)
    assert switched.manifest.model == NEW and switched.manifest.vectors == CHUNKS
    assert new.generation > old.generation  # servers see the Store move on, and load it


async def test_re_embedding_gives_way_to_a_run_of_the_project_and_publishes_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    before = scripted_project(store, tmp_path, OLD, OLD, documents=CHUNKS, checkpoint_every=100)
    assert before.start(before.pipeline(FakeEmbedder(OLD))).join() is None
    old = before.worker_indexes.manifest(before.id)
    after = before.with_models(NEW, NEW)
    embedder = FakeEmbedder(NEW, free_calls=1)
    worker = worker_of(store, after, embedder)
    try:
        await worker.reconcile()
        assert await eventually(embedder.waiting.is_set, polls=4000)
        # A run of the project is queued: its backlog does the same work, and publishes.
        store.create_run(make_run(before.id, before.connector.id, model=NEW))
        embedder.release()
        assert await eventually(lambda: not worker._converting, polls=4000)
    finally:
        await worker.stop(0)
    assert embedder.encoded == 2 * 128  # the slice under way, then it stopped
    assert after.worker_indexes.manifest(before.id) == old  # nothing of NEW published


def test_a_run_of_a_project_of_another_embedder_re_embeds_it_before_publishing(
    store: SqliteStore, tmp_path: Path
) -> None:
    before = scripted_project(store, tmp_path, OLD, OLD, documents=CHUNKS, checkpoint_every=100)
    assert before.start(before.pipeline(FakeEmbedder(OLD))).join() is None
    old = before.worker_indexes.manifest(before.id)
    after = before.with_models(NEW, NEW)
    embedder = FakeEmbedder(NEW, free_calls=1)
    running = after.start(after.pipeline(embedder))  # nothing changed at the source
    assert wait_for(embedder.waiting.is_set)
    assert after.worker_indexes.manifest(before.id) == old  # not a partial NEW one
    assert after.server_indexes.serving(before.id).manifest == old
    embedder.release()
    assert running.join() is None
    assert running.progress.counts.documents_unchanged == CHUNKS
    assert running.progress.counts.chunks_embedded == embedder.encoded == CHUNKS
    new = after.worker_indexes.manifest(before.id)
    assert new is not None and new.model == NEW and new.vectors == new.chunks == CHUNKS


async def test_vectors_a_cancelled_run_left_out_are_filled_in_by_reconcile_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    project = scripted_project(store, tmp_path, NEW, NEW, documents=CHUNKS, checkpoint_every=100)
    held = FakeEmbedder(NEW, free_calls=1)  # one slice, then held
    running = project.start(project.pipeline(held))
    assert await eventually(held.waiting.is_set, polls=4000)
    assert await eventually(lambda: running.progress.run.phase == "embedding", polls=4000)
    running.cancel.set()
    held.release()  # the slice under way ends; the next one sees the cancel
    running.join()
    project.worker_indexes.ensure_published(project.id)  # what the run's end publishes
    partial = project.worker_indexes.manifest(project.id)
    assert partial is not None and partial.vectors < partial.chunks == CHUNKS

    embedder = FakeEmbedder(NEW)
    worker = worker_of(store, project, embedder)
    try:
        await worker.reconcile()

        def complete() -> bool:
            manifest = project.worker_indexes.manifest(project.id)
            return manifest is not None and manifest.vectors == CHUNKS

        assert await eventually(complete, polls=4000)
        assert embedder.encoded == CHUNKS - partial.vectors  # only what was missing
        await worker.reconcile()  # complete now: nothing more to do
        assert await eventually(lambda: not worker._converting, polls=4000)
        assert embedder.encoded == CHUNKS - partial.vectors
    finally:
        await worker.stop(0)
