"""kill -9 in the middle of an ingestion run: the next start resumes it from its checkpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from projectqa.client import Client
from projectqa.v1 import admin_pb2, ingestion_pb2

pytestmark = [pytest.mark.e2e, pytest.mark.model]
PROJECTQA = shutil.which("projectqa") or str(Path(sys.executable).parent / "projectqa")
FILES = 420  # the local connector checkpoints every 200 files


def _start(data_dir: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    env |= {
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        "PROJECTQA_PLUGINS": "local",
    }
    proc = subprocess.Popen(
        [PROJECTQA, "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("a"),  # a file, never a pipe nobody drains
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, line.split("listening on ")[1].split()[0]


def _run(qa: Client, run_id: str) -> ingestion_pb2.IngestionRun:
    return qa.ingestion.GetIngestionRun(ingestion_pb2.GetIngestionRunRequest(run_id=run_id)).run


def _wait(qa: Client, run_id: str, check, seconds: float = 120) -> ingestion_pb2.IngestionRun:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = _run(qa, run_id)
        if check(run):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} stuck: {run}")


def _runs(qa: Client) -> list[ingestion_pb2.IngestionRun]:
    request = ingestion_pb2.ListIngestionRunsRequest(project="crash")
    return list(qa.ingestion.ListIngestionRuns(request).runs)


def test_a_killed_server_resumes_the_run_without_redoing_finished_work(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    for i in range(FILES):
        (source / f"m{i:04d}.py").write_text(
            f"def handler_{i}(request):\n    '''Handles case {i}.'''\n    return {i}\n"
        )
    data, log = tmp_path / "data", tmp_path / "server.log"
    proc, address = _start(data, log)
    with Client(address, data.joinpath("admin.token").read_text().strip()) as qa:
        qa.create_project("crash", name="Crash")
        qa.admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="crash", type="local", name="files", config=_struct(path=str(source))
            )
        )
        start = ingestion_pb2.StartIngestionRequest(
            project="crash", mode=ingestion_pb2.INGESTION_MODE_FULL
        )
        [run] = qa.ingestion.StartIngestion(start).runs
        # Past the checkpoint at 200 files (saved before the next file is taken), not yet done.
        _wait(qa, run.id, lambda r: r.counts.documents_seen > 205)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    proc, address = _start(data, log)
    try:
        with Client(address, data.joinpath("admin.token").read_text().strip()) as qa:
            resumed = next(r for r in _runs(qa) if r.trigger == "resume")
            done = _wait(
                qa,
                resumed.id,
                lambda r: (
                    r.status != ingestion_pb2.INGESTION_STATUS_RUNNING
                    and r.status != ingestion_pb2.INGESTION_STATUS_QUEUED
                ),
            )
            killed = _run(qa, run.id)
            runs = _runs(qa)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    assert killed.status == ingestion_pb2.INGESTION_STATUS_FAILED
    assert killed.error.startswith("interrupted")
    assert done.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, done.error
    # Only what came after the last checkpoint was read again.
    assert done.counts.documents_seen <= FILES - 200
    assert done.counts.documents_deleted == 0  # same scan: nothing wrongly deleted
    assert not [r for r in runs if r.status in (1, 2)]  # nothing left queued or running


def _struct(**values):  # type: ignore[no-untyped-def]
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.update(values)
    return struct
