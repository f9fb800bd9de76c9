"""Generations published in GridFS, for replicas that share no disk: a worker uploads,
servers download into their own index directory, verify and load; a damaged upload is
refused; an older build never replaces a newer one; replaced files go after a grace period.

MongoDB is mongomock (as tests/service/conftest.py ``open_backend``) with its GridFS
integration; the Store is a real MongoStore on it. Each manager has its own index
directory, as hosts without a shared disk do.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gridfs
import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index.graph import GRAPH_FILE
from projectqa.server.index.manager import index_manager_for, publication_for
from projectqa.server.index.project import BuildInput, build_project_index
from projectqa.server.index.publish import DirectoryPublication
from projectqa.server.index.publish_gridfs import (
    FILES_BUCKET,
    GRACE_S,
    LEASE_POLL_S,
    LEASE_S,
    LEASES,
    MANIFEST_TTL_S,
    MANIFESTS,
    GridFSPublication,
)
from projectqa.server.ingestion.owner import this_owner
from projectqa.server.models import new_id
from projectqa.server.store import MongoStore, SqliteStore

from .conftest import MODEL, Clocks, Corpus, unit_vectors


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


def test_the_file_graph_travels_with_the_generation(corpus: Corpus, host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    worker, server = host("worker"), host("server")
    corpus.add("a.py", [("f", "alpha"), ("g", "beta")], unit_vectors(2, seed=1))
    built = worker.get(corpus.project_id)
    assert GRAPH_FILE in {entry.path for entry in built.manifest.files}

    served = server.serving(corpus.project_id, writing=False)

    assert served.graph is not None and served.graph.row_count == 2


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


# ------------------------------------------------------------------ build leases
EPS = 1e-6  # sleeps of 0.2 s add up with rounding errors


class WaitedTooLong(Exception):
    """A waiting builder slept longer than the test allows."""


class Ticker:
    """In place of the thread that renews a build lease: the test says when its interval
    has passed (``tick``); a holder that is killed simply never ticks again."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], object]] = []
        self.interval = 0.0

    def __call__(self, step: Callable[[], object], interval: float) -> Callable[[], None]:
        self.steps.append(step)
        self.interval = interval
        return lambda: self.steps.remove(step)

    def tick(self) -> None:
        for step in list(self.steps):
            step()


@dataclass
class HostClock:
    """One host's clocks. Sleeping moves both on, then lets the rest of the world act."""

    wall: float = 1_700_000_000.0
    mono: float = 1000.0
    slept: float = 0.0
    limit: float = 0.0
    meanwhile: list[Callable[[float], None]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds
        self.slept += seconds
        for act in self.meanwhile:
            act(self.slept)
        if self.slept > self.limit:
            raise WaitedTooLong(f"still waiting after {self.slept:.1f} s")


@dataclass
class Renewals:
    """The holder renews every ``ticker.interval`` of the waiter's time, until ``until``."""

    ticker: Ticker
    until: float = float("inf")
    last: float = 0.0

    def __call__(self, slept: float) -> None:
        if slept < self.until and slept >= self.last + self.ticker.interval:
            self.ticker.tick()
            self.last += self.ticker.interval


def lease_host(
    mongo: MongoStore, root: Path, clock: HostClock, ticker: Ticker
) -> GridFSPublication:
    return GridFSPublication(
        mongo.database,
        root,
        wall=lambda: clock.wall,
        monotonic=lambda: clock.mono,
        sleep=clock.sleep,
        every=ticker,
    )


def lease_owner(mongo: MongoStore, project_id: str) -> str | None:
    doc = mongo.database[LEASES].find_one({"_id": project_id})
    return doc["owner"] if doc else None


def test_a_holder_that_renews_keeps_the_lease_for_many_lease_periods(
    mongo: MongoStore, tmp_path: Path
) -> None:
    project_id, ticker = new_id("prj"), Ticker()
    holder = lease_host(mongo, tmp_path / "a", HostClock(), ticker)
    waiting = HostClock(mono=7.0, limit=40 * LEASE_S)
    waiter = lease_host(mongo, tmp_path / "b", waiting, Ticker())
    waiting.meanwhile.append(Renewals(ticker))
    with holder.building(project_id):
        owner = lease_owner(mongo, project_id)
        assert ticker.interval <= LEASE_S / 3
        with pytest.raises(WaitedTooLong), waiter.building(project_id):
            pass
        assert lease_owner(mongo, project_id) == owner
    assert lease_owner(mongo, project_id) is None  # released on the way out
    assert ticker.steps == []  # and no longer renewed


def test_a_holder_killed_while_building_is_taken_over_after_the_lease_time(
    mongo: MongoStore, tmp_path: Path
) -> None:
    # A worker killed -9 mid-build kept the lease 15 minutes: others waited, and a server
    # with nothing loadable blocked its query that long.
    assert LEASE_S <= 60
    project_id = new_id("prj")
    holder = lease_host(mongo, tmp_path / "a", HostClock(), Ticker())
    killed = contextlib.ExitStack()
    killed.enter_context(holder.building(project_id))  # and never renews again
    waiting = HostClock(limit=10 * LEASE_S)
    waiter = lease_host(mongo, tmp_path / "b", waiting, Ticker())
    with waiter.building(project_id):
        assert LEASE_S - EPS <= waiting.slept <= LEASE_S + 2 * LEASE_POLL_S
        owner = lease_owner(mongo, project_id)
        killed.close()  # were it only paused: on its way out it leaves the new lease alone
        assert lease_owner(mongo, project_id) == owner
    assert lease_owner(mongo, project_id) is None


@pytest.mark.parametrize("skew_h", [5, -5])
def test_clock_skew_between_hosts_neither_hastens_nor_delays_a_takeover(
    skew_h: int, mongo: MongoStore, tmp_path: Path
) -> None:
    project_id, ticker = new_id("prj"), Ticker()
    holder_clock = HostClock()
    holder = lease_host(mongo, tmp_path / "a", holder_clock, ticker)
    # Wall clocks hours apart, monotonic clocks counted from unrelated boots.
    waiting = HostClock(wall=holder_clock.wall + skew_h * 3600, mono=9e6, limit=10 * LEASE_S)
    renewals = Renewals(ticker, until=3 * LEASE_S)  # then the holder is killed
    waiting.meanwhile.append(renewals)
    waiter = lease_host(mongo, tmp_path / "b", waiting, Ticker())
    with contextlib.ExitStack() as killed:
        killed.enter_context(holder.building(project_id))
        with waiter.building(project_id):
            assert renewals.last >= 2 * LEASE_S  # it renewed, and kept the lease meanwhile
            waited = waiting.slept - renewals.last
            assert LEASE_S - EPS <= waited <= LEASE_S + 2 * LEASE_POLL_S


def test_a_lease_of_a_process_of_this_host_that_is_gone_is_taken_at_once(
    mongo: MongoStore, tmp_path: Path
) -> None:
    project_id = new_id("prj")
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = this_owner().split(":")[0]  # host name and PID namespace
    owner = f"{host}:{gone.pid}:1:feed"
    mongo.database[LEASES].insert_one({"_id": project_id, "owner": owner, "seq": 4})
    waiter = lease_host(mongo, tmp_path / "b", HostClock(limit=0.0), Ticker())
    with waiter.building(project_id):  # no sleep at all
        assert lease_owner(mongo, project_id) not in (owner, None)


@pytest.mark.parametrize("how", ["rebuild of an older generation", "same generation"])
def test_a_holder_whose_lease_was_taken_does_not_publish_over_the_new_holder(
    how: str, corpus: Corpus, mongo: MongoStore, tmp_path: Path
) -> None:
    corpus.add("a.py", [("f", "alpha")], unit_vectors(1, seed=40))
    paused = lease_host(mongo, tmp_path / "a", HostClock(), Ticker())
    waiting = HostClock(limit=10 * LEASE_S)
    publication = lease_host(mongo, tmp_path / "b", waiting, Ticker())
    other = IndexManager(mongo, tmp_path / "b", MODEL, publication=publication)
    with paused.building(corpus.project_id):  # then stops renewing: a long pause, a partition
        spec = BuildInput(corpus.store.index_generation(corpus.project_id), MODEL, 100)
        late = build_project_index(corpus.store, corpus.project_id, spec)
        if how.startswith("rebuild"):
            corpus.add("b.py", [("g", "gamma")], unit_vectors(1, seed=41))
        newer = other.get(corpus.project_id).manifest  # took the lease over, built, published
        assert waiting.slept >= LEASE_S - EPS
        lost = paused.publish(corpus.project_id, late, force=how.startswith("rebuild"))
    assert lost.dir != newer.dir
    assert paused.latest(corpus.project_id, fresh=True) == newer
    assert stored_dirs(mongo, corpus.project_id) == {newer.dir}  # its uploads went
