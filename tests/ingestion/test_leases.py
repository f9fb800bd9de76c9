"""Claiming runs through leases: one winner, take-over only after the lease stood still
(by the claimant's own clock, whatever the record's timestamps say), and never a run
of another embedding model. Real SQLite; no pipeline runs here (see test_workers.py)."""

from __future__ import annotations

import asyncio
import os
import threading
import types
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from projectqa.server.ingestion.owner import owner_is_dead, this_owner
from projectqa.server.ingestion.progress import RateWindow, at_checkpoint
from projectqa.server.ingestion.worker import Worker
from projectqa.server.models import RunStatus, utcnow
from projectqa.server.registry import CatalogEntry, PluginCatalog
from projectqa.server.store import SqliteStore, Store
from projectqa.server.threads import BlockingRunner

from ..store.contract import make_connector, make_project
from ..store.contract_ingestion import make_run

MODEL = "all-MiniLM-L6-v2"
HOST = this_owner().split(":")[0]  # host name and PID namespace
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

    def published_manifests(self, project_ids: list[str]) -> dict[str, Any]:
        return {}  # none yet: nothing of another embedder to re-embed


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
    other = f"{HOST}:{os.getpid()}:{this_owner().split(':')[2]}:abcdef"
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
    gone = f"{HOST}:999999999:1:abcdef"
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
    assert stored.phase == "queued: waiting for a worker with embedding model other-model"
    assert worker(store, Clock(), model="other-model")._claim_next() is not None


def test_counters_at_a_checkpoint() -> None:
    run = make_run("prj_1", "con_1", checkpoint_counts={"documents_seen": 3})
    counts = at_checkpoint(run)
    assert counts["documents_seen"] == 3 and counts["chunks_written"] == 0
    assert at_checkpoint(make_run("prj_1", "con_1"))["documents_seen"] == 0


def test_a_worker_republishes_only_indexes_of_its_model_and_not_while_a_run_writes(
    store: Store,
) -> None:
    store.create_run(make_run("prj_other", "con_1", RunStatus.SUCCEEDED, model="other-model"))
    store.create_run(make_run("prj_ours", "con_2", RunStatus.SUCCEEDED, model=MODEL))
    store.create_run(make_run("prj_busy", "con_3", RunStatus.RUNNING, model=MODEL))
    stale = Stale(["prj_other", "prj_ours", "prj_busy", "prj_no_runs"])
    assert worker(store, Clock(), indexes=stale)._reconcile_plan()[0] == [
        "prj_ours",
        "prj_no_runs",
    ]


def test_a_run_that_stopped_its_workers_again_and_again_fails(store: Store) -> None:
    gone = f"{HOST}:999999999:1:abcdef"
    run = make_run(
        "prj_1", "con_1", RunStatus.RUNNING, owner=gone, lease_seq=9, takeovers=2, model=MODEL
    )
    store.create_run(run)
    assert worker(store, Clock())._claim_next() is None
    stored = store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.FAILED
    assert stored.error.startswith("interrupted 3 times")
    assert store.active_run(connector_id="con_1") is None  # the connector is free again


def test_a_run_taken_over_counts_the_take_over(store: Store) -> None:
    gone = f"{HOST}:999999999:1:abcdef"
    run = make_run("prj_1", "con_1", RunStatus.RUNNING, owner=gone, lease_seq=2, model=MODEL)
    store.create_run(run)
    claimed = worker(store, Clock())._claim_next()
    assert claimed is not None and claimed[0].takeovers == 1


def test_warnings_go_back_to_the_checkpoint_with_the_counters() -> None:
    warnings = [{"key": f"k{i}", "message": "m"} for i in range(5)]
    run = make_run(
        "prj_1",
        "con_1",
        warnings=warnings,
        warning_count=5,
        checkpoint_counts={"documents_failed": 2, "warning_count": 2},
    )
    kept = at_checkpoint(run)
    assert kept["warning_count"] == 2 and kept["warnings"] == warnings[:2]
    assert kept["documents_failed"] == 2


def test_rates_start_again_when_a_run_resumes() -> None:
    rates = RateWindow()
    first = make_run("prj_1", "con_1", attempts=1, documents_seen=100, documents_total=400)
    rates.snapshot(first, now=0.0)
    assert rates.snapshot(replace(first, documents_seen=200), now=10.0).documents_per_second == 10
    resumed = replace(first, attempts=2, documents_seen=150)  # back to its checkpoint
    assert rates.snapshot(resumed, now=11.0).documents_per_second == 0  # not negative
    assert rates.snapshot(replace(resumed, documents_seen=170), now=13.0).eta_seconds == 23.0


class Endless:
    """A pipeline that saves a checkpoint every few milliseconds until told to stop."""

    def execute(self, progress, connector, ctype, stop, save) -> None:  # type: ignore[no-untyped-def]
        import time

        from projectqa.server.ingestion.pipeline import RunCancelled

        while not stop.is_set():
            progress.counts.documents_seen += 1
            save()
            time.sleep(0.005)
        raise RunCancelled


async def test_a_run_claimed_while_the_worker_stops_is_handed_back_and_stays_so(
    store: Store,
) -> None:
    catalog = PluginCatalog()
    store.create_project(make_project("p1", id="prj_1"))
    connector = make_connector("prj_1", "src", id="con_1")
    store.create_connector(connector)
    any_type: Any = types.SimpleNamespace(secret_fields=())
    catalog.connector_types["git"] = CatalogEntry("test", any_type)
    claiming, release = threading.Event(), threading.Event()
    real_list = store.list_active_runs

    def slow_list():  # type: ignore[no-untyped-def]
        claiming.set()
        release.wait(10)
        return real_list()

    run = make_run("prj_1", "con_1", model=MODEL)
    store.create_run(run)
    endless: Any = Endless()
    w = Worker(store, catalog, endless, None, BlockingRunner(2), model=MODEL, lease_s=LEASE_S)
    store.list_active_runs = slow_list  # type: ignore[method-assign]
    await w.start()
    await asyncio.to_thread(claiming.wait, 10)
    stopping = asyncio.ensure_future(w.stop(grace=5))
    await asyncio.sleep(0.05)
    release.set()  # the claim lands after stop() began
    await stopping
    await asyncio.sleep(0.3)  # any checkpoint of a pipeline left running would land here
    stored = real_list()
    assert [(r.id, r.status, r.owner) for r in stored] == [(run.id, RunStatus.QUEUED, "")]


def test_an_owner_of_another_pid_namespace_is_never_judged_dead_by_its_pid() -> None:
    name = HOST.split("/")[0]
    assert not owner_is_dead(f"{name}/4026531999:999999999:1:abcdef")
    assert owner_is_dead(f"{HOST}:999999999:1:abcdef")
