"""Scale-out on one SQLite data directory (issue #14, item 4): two `projectqa serve`
processes that only serve, two `projectqa worker` processes that only ingest, several
projects, and workers killed with SIGKILL at random points (each replaced by a new one).

Checked: every run ends (none left queued or running): it succeeds, or fails as it should
once its workers died MAX_TAKEOVERS times; each run was executed by one worker at a time,
as the servers showed it poll after poll and as the workers logged it; a run that
succeeded left the data of one clean run; and both servers answer Search from the same,
newest index generation with the same hits.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from projectqa.client import Client
from projectqa.client.errors import ClientError
from projectqa.server.ingestion.worker import MAX_TAKEOVERS
from projectqa.v1 import ingestion_pb2

from .deployment import (
    POLL_S,
    Deployment,
    Member,
    Run,
    admin_client,
    embeddings_count,
    ended,
    local_project,
    namespaces_allowed,
    pid_of,
    start_server,
    start_worker,
    store,
    wait_until,
    write_sources,
)

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.slow]
PROJECTS = ("alpha", "beta", "gamma")
FILES = 300  # per project; the local connector checkpoints every 200 files
KILLS = 3
KILL_AFTER = 40  # a kill comes 0 to KILL_AFTER polls after the last, while a worker holds a run
SEED = 14
POLLS = 12_000  # looks at the runs before calling them stuck
LEASE = {"PROJECTQA_RUN_LEASE_S": "3"}
SERVING_ONLY = {"PROJECTQA_EMBEDDED_WORKER": "off", **LEASE}
Answer = tuple[int, list[tuple[str, str]]]  # index generation, (chunk id, path) of each hit
NOTHING_PUBLISHED = -1  # the generation of a Search refused (no run wrote anything)


@dataclass
class Workers:
    """The worker processes; a killed one is replaced by a new one at once."""

    data: Path
    logs: Path
    deployment: Deployment
    live: list[Member] = field(default_factory=list)
    killed: list[Member] = field(default_factory=list)

    def start(self, *, elsewhere: bool = False) -> None:
        """A worker of this host, or of a host of its own (as a new machine replacing one)."""
        number = len(self.live) + len(self.killed) + 1
        host = f"elsewhere-{number}" if elsewhere else ""
        log = self.logs / f"worker-{number}.log"
        self.live.append(self.deployment.add(start_worker(self.data, log, host=host, **LEASE)))

    def kill(self, victim: Member) -> None:
        victim.kill()
        self.live.remove(victim)
        self.killed.append(victim)
        self.start(elsewhere=bool(victim.host))

    def named(self) -> dict[str, Member]:
        """Every worker by the name it runs runs under (once it logged its start)."""
        named = {}
        for member in [*self.live, *self.killed]:
            for line in member.logged("ingestion worker started"):
                named[line["worker"]] = member
        return named

    def lines(self, msg: str) -> list[dict[str, Any]]:
        return [line for m in [*self.live, *self.killed] for line in m.logged(msg)]


@dataclass
class Sightings:
    """(attempts, worker) of each run, in the order the servers showed them."""

    seen: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))

    def record(self, run: Run) -> None:
        if run.worker:
            self.seen[run.id].append((run.attempts, run.worker))

    def workers_by_attempt(self, run_id: str) -> dict[int, set[str]]:
        by_attempt: dict[int, set[str]] = defaultdict(set)
        for attempts, worker in self.seen[run_id]:
            by_attempt[attempts].add(worker)
        return by_attempt


def test_two_servers_and_two_workers_killed_at_random_share_one_store(tmp_path: Path):
    data = tmp_path / "data"
    sightings = Sightings()
    with Deployment() as started:
        servers = [
            started.add(start_server(data, tmp_path / f"server-{n}.log", **SERVING_ONLY))
            for n in (1, 2)
        ]
        workers = Workers(data, tmp_path, started)
        with admin_client(servers[0], data) as one, admin_client(servers[1], data) as two:
            for n, slug in enumerate(PROJECTS):
                qa = (one, two)[n % 2]
                local_project(qa, slug, write_sources(tmp_path / slug, FILES, slug))
            run_ids = [qa.start_ingestion(slug, mode="full")[0].id for slug in PROJECTS]
            # A worker of this host, whose death any worker of this host sees at once, and
            # (where the machine allows it) one of another host, whose runs wait for the
            # lease to stand still: no other worker can see that host's processes.
            workers.start()
            workers.start(elsewhere=namespaces_allowed())
            done = _drive(run_ids, (one, two), workers, sightings)
            answers = {slug: _answers((one, two), slug, data) for slug in PROJECTS}

    assert workers.killed, "the runs ended before any kill"
    for run in done.values():
        assert _succeeded(run) or _abandoned(run), (run.id, run.status, run.error)
    _assert_one_worker_at_a_time(done, sightings, workers)
    _assert_one_clean_run_each([run for run in done.values() if _succeeded(run)], data)
    _assert_same_newest_generation(answers, done, data)


def _succeeded(run: Run) -> bool:
    return run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED


def _abandoned(run: Run) -> bool:
    """Failed as it should after MAX_TAKEOVERS interruptions (its workers kept dying)."""
    return (
        run.status == ingestion_pb2.INGESTION_STATUS_FAILED
        and run.error.startswith(f"interrupted {MAX_TAKEOVERS} times")
        and run.attempts == MAX_TAKEOVERS
    )


def _drive(
    run_ids: list[str], servers: tuple[Client, Client], workers: Workers, sightings: Sightings
) -> dict[str, Run]:
    """Watch the runs through both servers until they end; ``KILLS`` times, after a
    random number of polls during which some worker held a run, kill one such worker
    (whatever it is doing: scanning, embedding, writing, saving a checkpoint, indexing)."""
    rng = random.Random(SEED)
    polls_to_kill = [rng.randrange(KILL_AFTER) for _ in range(KILLS)]
    runs: dict[str, Run] = {}
    for poll in range(POLLS):
        runs = {run_id: servers[poll % 2].get_ingestion_run(run_id) for run_id in run_ids}
        for run in runs.values():
            sightings.record(run)
        if all(ended(run) for run in runs.values()):
            return runs
        holders = _holders(runs, workers)
        if polls_to_kill and holders:
            polls_to_kill[0] -= 1
            if polls_to_kill[0] < 0:
                workers.kill(rng.choice(holders))
                polls_to_kill.pop(0)
        time.sleep(POLL_S)
    raise AssertionError(f"runs stuck: {runs}")


def _holders(runs: dict[str, Run], workers: Workers) -> list[Member]:
    """The live workers running one of ``runs``, in the order of the runs."""
    live = {member.pid: member for member in workers.live}
    return [
        live[pid_of(run.worker)]
        for run in runs.values()
        if run.status == ingestion_pb2.INGESTION_STATUS_RUNNING and pid_of(run.worker) in live
    ]


def _assert_one_worker_at_a_time(
    done: dict[str, Run], sightings: Sightings, workers: Workers
) -> None:
    killed = {name for name, member in workers.named().items() if member in workers.killed}
    # A worker whose lease moved under it (taken over while alive) would say so.
    assert not workers.lines("ingestion run lost"), "a live worker lost its run"
    assert not workers.lines("ingestion run ended elsewhere")
    takeovers = workers.lines("ingestion run taken over")
    assert {line["from"] for line in takeovers} <= killed, "taken from a live worker"
    for run in done.values():
        # Each claim moves attempts on and names one worker: one worker per attempt,
        # and the attempts the servers showed only ever grew.
        by_attempt = sightings.workers_by_attempt(run.id)
        assert all(len(names) == 1 for names in by_attempt.values()), by_attempt
        attempts_seen = [attempts for attempts, _ in sightings.seen[run.id]]
        assert attempts_seen == sorted(attempts_seen)
        assert by_attempt[run.attempts] == {run.worker}
        taken = [line for line in takeovers if line["run"] == run.id]
        assert len(taken) <= run.attempts - 1 <= len(workers.killed)
        _assert_ended_once(run, workers)


def _assert_ended_once(run: Run, workers: Workers) -> None:
    """By the worker the run names; an abandoned run by the worker that gave up on it."""
    ended = [line for line in workers.lines("ingestion run ended") if line["run"] == run.id]
    given_up = [
        line for line in workers.lines("ingestion run failed: interrupted") if line["run"] == run.id
    ]
    if _abandoned(run):
        assert (len(ended), len(given_up)) == (0, 1)
        return
    [end] = ended
    assert not given_up
    assert (end["status"], end["attempt"]) == ("succeeded", run.attempts)
    assert end in workers.named()[run.worker].logged("ingestion run ended")


def _assert_one_clean_run_each(succeeded: list[Run], data: Path) -> None:
    """Counters and data of one run per connector that was never interrupted."""
    with store(data) as conn:
        for run in succeeded:
            documents, chunks = conn.execute(
                "SELECT count(DISTINCT d.id), count(c.id) FROM documents d "
                "LEFT JOIN chunks c ON c.document_id = d.id WHERE d.connector_id = ?",
                (run.connector_id,),
            ).fetchone()
            assert run.counts.documents_seen == documents == FILES
            if run.attempts == 1:
                assert run.counts.chunks_written == chunks
            else:
                # Resumed at its last saved checkpoint: what the attempt before wrote after it
                # is found unchanged (content hash), not written again.
                assert run.counts.chunks_written <= chunks
                changed, unchanged = run.counts.documents_changed, run.counts.documents_unchanged
                assert changed + unchanged == FILES
            assert run.counts.documents_deleted == run.counts.documents_failed == 0
        texts = conn.execute("SELECT count(DISTINCT embed_hash) FROM chunks").fetchone()[0]
    assert embeddings_count(data) == texts  # one vector per distinct chunk text


def _answers(servers: tuple[Client, Client], slug: str, data: Path) -> list[Answer]:
    """Both servers' answers, once the first answers from the Store's generation (after a
    run that failed, a worker publishes it when it next looks for stale indexes; a run
    that failed before it wrote anything leaves none, and both refuse alike)."""
    wanted = _generations(data).get(slug, NOTHING_PUBLISHED)
    assert wait_until(lambda: _search(servers[0], slug)[0] == wanted), slug
    return [_search(qa, slug) for qa in servers]


def _search(qa: Client, slug: str) -> Answer:
    try:
        response = qa.search(slug, f"Handles {slug} case 17")
    except ClientError as error:  # FAILED_PRECONDITION: nothing published yet
        return NOTHING_PUBLISHED, [(error.code_name, error.details)]
    return response.index_generation, [(h.chunk_id, h.citation.path) for h in response.hits]


def _generations(data: Path) -> dict[str, int]:
    """The index generation the Store is at, by project slug."""
    with store(data) as conn:
        return dict(
            conn.execute(
                "SELECT p.slug, g.generation FROM index_generations g "
                "JOIN projects p ON p.id = g.project_id"
            ).fetchall()
        )


def _assert_same_newest_generation(
    answers: dict[str, list[Answer]], done: dict[str, Run], data: Path
) -> None:
    generations = _generations(data)
    for run, (slug, (first, second)) in zip(done.values(), answers.items(), strict=True):
        assert first == second, slug  # same generation, same hits
        generation, hits = first
        assert generation == generations.get(slug, NOTHING_PUBLISHED)
        if _succeeded(run):
            assert hits and hits[0][1] == "m0017.py"
