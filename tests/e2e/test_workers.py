"""`projectqa worker` stopped in the middle of a run, by kill -9 or by SIGTERM: another
worker finishes the same run from its last checkpoint, reading and embedding nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projectqa.v1 import ingestion_pb2

from .deployment import (
    Deployment,
    Run,
    admin_client,
    at_checkpoint,
    embeddings_count,
    ended,
    local_project,
    namespaces_allowed,
    past_a_checkpoint,
    pid_of,
    start_server,
    start_worker,
    store,
    stored_run,
    wait_for_run,
    wait_until,
    write_sources,
)

pytestmark = [pytest.mark.e2e, pytest.mark.model]
FILES = 620  # over three checkpoints (past_a_checkpoint)
LEASE = {"PROJECTQA_RUN_LEASE_S": "3"}
SERVING_ONLY = {"PROJECTQA_EMBEDDED_WORKER": "off", **LEASE}


def test_a_killed_worker_s_run_is_taken_over_and_resumed_at_its_checkpoint(tmp_path: Path):
    """The first worker runs under another host name where this machine allows it: the
    second cannot see that it died and takes its run over only once the lease has stood
    still for PROJECTQA_RUN_LEASE_S. (Elsewhere it takes over the run of a dead process
    of its own host at once.)"""
    host = "elsewhere" if namespaces_allowed() else ""
    source = write_sources(tmp_path / "src", FILES, "crash")
    data = tmp_path / "data"
    with Deployment() as started:
        server = started.add(start_server(data, tmp_path / "server.log", **SERVING_ONLY))
        first = started.add(start_worker(data, tmp_path / "worker-1.log", host=host, **LEASE))
        with admin_client(server, data) as qa:
            local_project(qa, "crash", source)
            running = past_a_checkpoint(qa, "crash")
            first.kill()
            killed = stored_run(data, running.id)
            vectors_at_kill = embeddings_count(data)
            second = started.add(start_worker(data, tmp_path / "worker-2.log", **LEASE))
            done = wait_for_run(qa, running.id, ended)
            runs = list(qa.list_ingestion_runs("crash"))

    assert pid_of(running.worker) == first.pid  # the worker ran it, not the server
    assert running.worker.startswith(f"{host}/") == bool(host)  # host name/PID namespace
    assert killed["status"] == "running" and killed["owner"] == running.worker
    checkpoint = json.loads(killed["checkpoint_counts"])
    assert at_checkpoint(checkpoint["documents_seen"], FILES)

    # The same run, taken over once, finished by the second worker.
    assert [r.id for r in runs] == [running.id]
    assert done.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, done.error
    assert done.attempts == 2 and pid_of(done.worker) == second.pid
    [taken] = second.logged("ingestion run taken over")
    assert (taken["run"], taken["from"], taken["attempt"]) == (running.id, running.worker, 2)

    _assert_one_clean_run(done, data, vectors_counted=False)
    # Nothing embedded twice: the second worker embedded exactly the chunks that had
    # no vector when the first one was killed (its count resumes from the last record).
    vectors = embeddings_count(data)
    assert done.counts.chunks_embedded - killed["chunks_embedded"] == vectors - vectors_at_kill


def test_a_stopped_worker_hands_its_run_back_at_its_checkpoint(tmp_path: Path):
    """SIGTERM with no grace to finish the step under way (PROJECTQA_SHUTDOWN_GRACE_S=0):
    the run goes back to the queue as it was at its checkpoint, never FAILED."""
    source = write_sources(tmp_path / "src", FILES, "stop")
    data = tmp_path / "data"
    no_grace = {"PROJECTQA_SHUTDOWN_GRACE_S": "0", **LEASE}
    with Deployment() as started:
        server = started.add(start_server(data, tmp_path / "server.log", **SERVING_ONLY))
        first = started.add(start_worker(data, tmp_path / "worker-1.log", **no_grace))
        with admin_client(server, data) as qa:
            local_project(qa, "stop", source)
            running = past_a_checkpoint(qa, "stop")
            assert first.stop() == 0
            handed_back = qa.get_ingestion_run(running.id)
            stored = stored_run(data, running.id)
            second = started.add(start_worker(data, tmp_path / "worker-2.log", **LEASE))
            done = wait_for_run(qa, running.id, ended)

    assert handed_back.status == ingestion_pb2.INGESTION_STATUS_QUEUED, handed_back.error
    assert handed_back.worker == "" and handed_back.error == ""
    checkpoint = json.loads(stored["checkpoint_counts"])
    assert at_checkpoint(checkpoint["documents_seen"], FILES)
    assert handed_back.counts.documents_seen == checkpoint["documents_seen"]
    assert not second.logged("ingestion run taken over")  # claimed from the queue
    assert done.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, done.error
    assert done.attempts == 2 and pid_of(done.worker) == second.pid
    _assert_one_clean_run(done, data)


def _assert_one_clean_run(done: Run, data: Path, *, vectors_counted: bool = True) -> None:
    """The counters of one run that was never interrupted: nothing before the checkpoint
    was read again, nothing after it skipped; one vector per distinct chunk text.
    ``vectors_counted``: False after a kill -9, whose vectors since its last heartbeat
    are in the cache but in no record (the count is short of them, never over)."""
    counts = done.counts
    assert counts.documents_seen == FILES
    assert counts.documents_changed + counts.documents_unchanged == FILES
    assert counts.documents_deleted == counts.documents_failed == 0
    with store(data) as conn:
        documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        chunks, texts = conn.execute(
            "SELECT count(*), count(DISTINCT embed_hash) FROM chunks"
        ).fetchone()
    assert documents == FILES
    assert counts.chunks_written == chunks
    with_vectors = counts.chunks_embedded + counts.chunks_cached
    assert with_vectors == chunks if vectors_counted else with_vectors <= chunks
    assert counts.chunks_pending_embedding == 0
    assert embeddings_count(data) == texts


def test_workers_of_one_host_name_with_their_own_pids_never_take_a_live_run(tmp_path: Path):
    """Two workers under this host's name, each with process ids of its own (containers on
    the host's network: docker --network host, Kubernetes pods with hostNetwork; in both
    the worker has the same small pid). Neither can see the other's process, so neither
    may take the other's run over as that of a dead process: only after the lease."""
    if not namespaces_allowed():
        pytest.skip("this machine forbids unprivileged user namespaces")
    source = write_sources(tmp_path / "src", FILES, "pids")
    data = tmp_path / "data"
    with Deployment() as started:
        server = started.add(start_server(data, tmp_path / "server.log", **SERVING_ONLY))
        workers = []
        for n in (1, 2):  # one after the other: their pid 1 has another start time
            worker = start_worker(data, tmp_path / f"worker-{n}.log", own_pids=True, **LEASE)
            workers.append(started.add(worker))
            if not wait_until(lambda w=worker: bool(w.logged("ingestion worker started"))):
                raise RuntimeError(f"worker {n} did not start")  # not the failure expected
        with admin_client(server, data) as qa:
            local_project(qa, "pids", source)
            [run] = qa.start_ingestion("pids", mode="full")
            done = wait_for_run(qa, run.id, ended)

    assert [w.logged("ingestion run taken over") for w in workers] == [[], []]
    assert done.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, done.error
    assert done.attempts == 1
