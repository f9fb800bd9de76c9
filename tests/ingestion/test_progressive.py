"""Write first, embed behind, publish as it goes: a batch is searchable by keyword before
any of it is embedded; a run cancelled half-way through its vectors leaves an index
consistent with the Store that does not claim to be complete, and the next run embeds
the rest (and only the rest). Real SQLite and index publication; fake embedders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from projectqa.server.ingestion.cancel import RunCancelled
from projectqa.server.ingestion.progress import RateWindow, at_checkpoint
from projectqa.server.ingestion.publishing import ProgressivePublisher
from projectqa.server.store import SqliteStore

from ..store.contract_ingestion import make_run
from .progressive import FakeEmbedder, Project, open_store, scripted_project, wait_for

MODEL = "fake-a"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    yield from open_store(tmp_path / "store.sqlite3")


def project_of(store: SqliteStore, root: Path, **config: object) -> Project:
    return scripted_project(store, root, MODEL, MODEL, **config)


def test_a_batch_is_searchable_by_keyword_before_any_of_it_is_embedded(
    store: SqliteStore, tmp_path: Path
) -> None:
    project = project_of(store, tmp_path, documents=20, checkpoint_every=5)
    embedder = FakeEmbedder(MODEL, free_calls=0)  # no vector until released
    running = project.start(project.pipeline(embedder))

    assert wait_for(lambda: project.worker_indexes.manifest(project.id) is not None)
    first = project.server_indexes.serving(project.id)
    assert first.manifest.vectors == 0 and first.manifest.chunks > 0
    hits = [chunk_id for chunk_id, _score in first.search_keyword("compute total", 10)]
    assert hits and {c.path for c in store.get_chunks(hits)} <= {f"mod_{i}.py" for i in range(20)}

    # Everything is read and written while the embedder still holds its first slice.
    assert wait_for(lambda: running.progress.run.phase == "embedding")
    assert running.progress.counts.chunks_written == 20
    assert running.progress.counts.chunks_pending_embedding == 20
    assert any(r.chunks_written > r.chunks_embedded for r in running.saved)  # checkpoints

    embedder.release()
    assert running.join() is None
    done = project.worker_indexes.manifest(project.id)
    assert done is not None and done.vectors == done.chunks == store.count_chunks(project.id) == 20
    counts = running.progress.counts
    assert (counts.chunks_embedded, counts.chunks_pending_embedding) == (20, 0)
    assert project.server_indexes.serving(project.id).manifest.vectors == 20


def test_a_run_cancelled_half_way_through_its_vectors_leaves_a_consistent_index(
    store: SqliteStore, tmp_path: Path
) -> None:
    project = project_of(store, tmp_path, documents=300, checkpoint_every=100)
    embedder = FakeEmbedder(MODEL, free_calls=1)  # one slice, then held
    running = project.start(project.pipeline(embedder))
    assert wait_for(embedder.waiting.is_set)
    assert wait_for(lambda: running.progress.run.phase == "embedding")
    running.cancel.set()
    embedder.release()  # the slice under way ends; the next one sees the cancel
    assert isinstance(running.join(), RunCancelled)

    missing = project.chunks_without_vector(MODEL)
    assert store.count_chunks(project.id) == 300 and 0 < missing < 300
    # What servers load: only chunks the Store has, vectors of the run's embedder only.
    published = project.published_chunk_ids()
    assert published and len(store.get_chunks(published)) == len(published)
    assert project.cached_models() == {MODEL}
    # Published level with the Store (as a worker's reconcile loop does after a cancel),
    # the index still says it is not complete.
    manifest = project.worker_indexes.ensure_published(project.id)
    assert (manifest.chunks, manifest.vectors) == (300, 300 - missing)

    # The next attempt (resumed at the last checkpoint) embeds the rest, and only that.
    run = running.progress.run
    resumed = replace(run, attempts=2, **at_checkpoint(run))
    again = FakeEmbedder(MODEL)
    second = project.start(project.pipeline(again), resumed)
    assert second.join() is None
    assert again.encoded == missing
    assert project.chunks_without_vector(MODEL) == 0
    final = project.worker_indexes.manifest(project.id)
    assert final is not None and final.vectors == final.chunks == 300


def test_the_eta_is_the_embedding_s_and_counts_the_chunks_still_to_be_read() -> None:
    rates = RateWindow()
    reading = make_run(
        "prj_1",
        "con_1",
        phase="reading",
        attempts=1,
        documents_total=100,
        documents_seen=40,
        chunks_written=80,
        chunks_embedded=10,
        chunks_pending_embedding=70,
    )
    rates.snapshot(reading, now=0.0)
    later = replace(
        reading,
        documents_seen=50,
        chunks_written=100,
        chunks_embedded=20,
        chunks_pending_embedding=80,
    )
    snapshot = rates.snapshot(later, now=10.0)
    assert (snapshot.documents_per_second, snapshot.chunks_per_second) == (1.0, 1.0)
    # 80 waiting, 100 more from the 50 documents left (2 chunks each so far): 180 s at
    # 1 chunk/s, though reading would be done in 50 s.
    assert snapshot.eta_seconds == 180.0
    embedding = replace(
        later,
        phase="embedding",
        documents_seen=100,
        chunks_embedded=40,
        chunks_pending_embedding=60,
    )
    assert rates.snapshot(embedding, now=20.0).eta_seconds == 60 / 2.0  # 2 chunks/s of late
    finished = replace(embedding, phase="done", chunks_pending_embedding=0)
    assert rates.snapshot(finished, now=21.0).eta_seconds == 0.0


def test_builds_take_a_bounded_share_of_the_run() -> None:
    times = iter([100.0, 103.0, 200.0, 200.5])
    publisher = ProgressivePublisher(
        lambda: None, min_interval_s=5.0, factor=5.0, clock=lambda: next(times)
    )
    assert publisher._build() == 100.0 + 15.0  # a 3 s build: the next one 15 s after it began
    assert publisher._build() == 200.0 + 5.0  # a short one: not sooner than every 5 s
    assert publisher.builds == [3.0, 0.5]
