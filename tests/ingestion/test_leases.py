"""Claiming runs through leases: one winner, take-over only after the lease stood still
(by the claimant's own clock, whatever the record's timestamps say), and never a run
of another embedding model. Real SQLite; no pipeline runs here (see test_workers.py)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from projectqa.server.ingestion.owner import owner_is_dead, this_owner
from projectqa.server.ingestion.progress import counts_at_checkpoint
from projectqa.server.ingestion.worker import Worker
from projectqa.server.models import RunStatus, utcnow
from projectqa.server.registry import PluginCatalog
from projectqa.server.store import SqliteStore, Store
from projectqa.server.threads import BlockingRunner

from ..store.contract_ingestion import make_run

MODEL = "all-MiniLM-L6-v2"
LEASE_S = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    store.open()
    yield store
    store.close()


class Stale:
    """Indexes whose publication is behind the Store for the given projects."""

    def __init__(self, project_ids: list[str]) -> None:
        self.project_ids = project_ids

    def stale_projects(self) -> list[str]:
        return self.project_ids


def worker(store: Store, clock: Clock, model: str = MODEL, indexes: Any = None) -> Worker:
    # Claiming needs neither a pipeline nor indexes.
    none: Any = None
    return Worker(
        store,
        PluginCatalog(),
        none,
        indexes,
        BlockingRunner(1),
        model=model,
        lease_s=LEASE_S,
        clock=clock,
    )


def race(workers: list[Worker]) -> list[object]:
    """Every worker looks for a run at the same moment; what each one claimed."""
    results: list[object] = [None] * len(workers)
    barrier = threading.Barrier(len(workers))

    def claim(i: int) -> None:
        barrier.wait()
        results[i] = workers[i]._claim_next()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_of_two_workers_racing_for_one_run_exactly_one_wins(store: Store) -> None:
    for _ in range(20):
        run = make_run("prj_1", "con_1", model=MODEL)
        store.create_run(run)
        results = race([worker(store, Clock()) for _ in range(4)])
        assert len([r for r in results if r is not None]) == 1
        stored = store.get_run(run.id)
        assert stored is not None and stored.status is RunStatus.RUNNING
        assert stored.attempts == 1 and stored.lease_seq == 1
        store.update_run(replace(stored, status=RunStatus.SUCCEEDED))


def test_a_running_run_is_taken_over_only_after_its_lease_stood_still(store: Store) -> None:
    clock = Clock()
    other = f"{socket.gethostname()}:{os.getpid()}:{this_owner().split(':')[2]}:abcdef"
    # The record's heartbeat says "an hour ago" (clock skew): it does not matter.
    stale = utcnow() - timedelta(hours=1)
    run = make_run(
        "prj_1",
        "con_1",
        RunStatus.RUNNING,
        owner=other,
        lease_seq=5,
        attempts=1,
        model=MODEL,
        updated_at=stale,
        cursor={"after": "m0200.py"},
        documents_seen=260,
        chunks_written=300,
        checkpoint_counts={"documents_seen": 200, "chunks_written": 240},
    )
    store.create_run(run)
    taker = worker(store, clock)
    assert taker._claim_next() is None  # first sighting
    clock.now += LEASE_S - 1
    assert taker._claim_next() is None
    # The owner renews: the wait starts again.
    store.update_run(replace(run, lease_seq=6))
    clock.now += 5
    assert taker._claim_next() is None
    clock.now += LEASE_S - 1
    assert taker._claim_next() is None
    clock.now += 1
    claimed = taker._claim_next()
    assert claimed is not None
    taken, _sent = claimed
    assert taken.owner == taker.owner and taken.attempts == 2 and taken.lease_seq == 7
    # Resumed from the checkpoint, with the counters it had there.
    assert taken.cursor == {"after": "m0200.py"}
    assert (taken.documents_seen, taken.chunks_written) == (200, 240)
    assert taken.documents_changed == 0
    # The old owner's next write finds the sequence moved: it has lost the run.
    assert store.write_run_if(replace(run, lease_seq=7), 6) is None


def test_a_run_of_a_dead_process_of_this_host_is_taken_at_once(store: Store) -> None:
    gone = f"{socket.gethostname()}:999999999:1:abcdef"
    assert owner_is_dead(gone)
    run = make_run("prj_1", "con_1", RunStatus.RUNNING, owner=gone, lease_seq=3, model=MODEL)
    store.create_run(run)
    claimed = worker(store, Clock())._claim_next()
    assert claimed is not None and claimed[0].attempts == 1


def test_owner_ids_tell_workers_of_one_live_process_apart() -> None:
    mine = f"{this_owner()}:abcdef"
    assert not owner_is_dead(mine)
    assert not owner_is_dead(this_owner())
    assert not owner_is_dead("other-host:1:1:abcdef")  # another host: only the lease tells


def test_a_worker_with_another_model_leaves_the_run_alone(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    run = make_run("prj_1", "con_1", model="other-model")
    store.create_run(run)
    taker = worker(store, Clock())
    assert taker._claim_next() is None
    assert taker._claim_next() is None
    refusals = [r for r in caplog.records if "needs embedding model 'other-model'" in r.message]
    assert len(refusals) == 1  # said once, not at every look
    stored = store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.QUEUED
    assert worker(store, Clock(), model="other-model")._claim_next() is not None


def test_counters_at_a_checkpoint() -> None:
    run = make_run("prj_1", "con_1", checkpoint_counts={"documents_seen": 3})
    counts = counts_at_checkpoint(run)
    assert counts["documents_seen"] == 3 and counts["chunks_written"] == 0
    assert counts_at_checkpoint(make_run("prj_1", "con_1"))["documents_seen"] == 0


def test_a_worker_republishes_only_indexes_of_its_model_and_not_while_a_run_writes(
    store: Store,
) -> None:
    store.create_run(make_run("prj_other", "con_1", RunStatus.SUCCEEDED, model="other-model"))
    store.create_run(make_run("prj_ours", "con_2", RunStatus.SUCCEEDED, model=MODEL))
    store.create_run(make_run("prj_busy", "con_3", RunStatus.RUNNING, model=MODEL))
    stale = Stale(["prj_other", "prj_ours", "prj_busy", "prj_no_runs"])
    assert worker(store, Clock(), indexes=stale)._stale_without_runs() == [
        "prj_ours",
        "prj_no_runs",
    ]
