"""kill -9 of `projectqa serve` while its embedded worker (a child process) runs a run:
the child ends with its parent, and the next `serve` finishes the same run from its
checkpoint."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from projectqa.v1 import ingestion_pb2

from .deployment import (
    Deployment,
    admin_client,
    at_checkpoint,
    children_of,
    ended,
    local_project,
    past_a_checkpoint,
    pid_of,
    process_gone,
    start_server,
    stored_run,
    wait_for_run,
    write_sources,
)

pytestmark = [pytest.mark.e2e, pytest.mark.model]
FILES = 620  # over three checkpoints (past_a_checkpoint)
SETTINGS = {"PROJECTQA_EMBEDDED_WORKER": "process", "PROJECTQA_RUN_LEASE_S": "3"}


def test_a_killed_server_s_worker_ends_with_it_and_the_run_resumes(tmp_path: Path):
    source = write_sources(tmp_path / "src", FILES, "crash")
    data, log = tmp_path / "data", tmp_path / "server.log"
    with Deployment() as started:
        server = started.add(start_server(data, log, **SETTINGS))
        [child] = children_of(server.pid)
        with admin_client(server, data) as qa:
            local_project(qa, "crash", source)
            running = past_a_checkpoint(qa, "crash")
        server.kill()
        # The kernel tells the child (PR_SET_PDEATHSIG): it ends instead of keeping the lease.
        if not process_gone(child):
            os.kill(child, signal.SIGKILL)
            raise AssertionError(f"worker {child} outlived its server")
        left = stored_run(data, running.id)

        again = started.add(start_server(data, log, **SETTINGS))
        [next_child] = children_of(again.pid)
        with admin_client(again, data) as qa:
            done = wait_for_run(qa, running.id, ended)
            runs = list(qa.list_ingestion_runs("crash"))
        assert again.stop() == 0

    assert pid_of(running.worker) == child  # the child ran it, not the server
    checkpoint = json.loads(left["checkpoint_counts"])
    assert at_checkpoint(checkpoint["documents_seen"], FILES)
    # Handed back when the child got its SIGTERM; or, had it died first, still its own
    # until taken over (a dead owner's run at once, any other after the lease).
    handed_back = (left["status"], left["owner"]) == ("queued", "")
    assert handed_back or (left["status"], left["owner"]) == ("running", running.worker), dict(left)
    if handed_back:
        assert left["documents_seen"] == checkpoint["documents_seen"]  # back at its counters

    # The same run, finished by the new server's worker: no separate "resume" run.
    assert [r.id for r in runs] == [running.id]
    assert done.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, done.error
    assert done.attempts == 2 and pid_of(done.worker) == next_child
    # Only what came after the checkpoint was read again: the counters of one clean run.
    assert done.counts.documents_seen == FILES
    assert done.counts.documents_changed + done.counts.documents_unchanged == FILES
    assert done.counts.documents_deleted == 0  # same scan: nothing wrongly deleted
