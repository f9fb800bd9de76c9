"""A disk that fills up during a run: the run ends FAILED in every view, and once space is
back its connector runs again, without a restart.

The disk is full for real where this machine allows it: on SQLite, the data directory (store,
WAL, indexes) lives on a small tmpfs filled to the last byte (root only), else SQLite's
``max_page_count`` makes the database full; on MongoDB (mongomock) the store's writes answer
OutOfDiskSpace (see ``tests/full_disk.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from projectqa.v1 import ingestion_pb2 as pb

from ..full_disk import FullDisk, MongoOutOfSpace, PageLimit, can_mount, small_disk
from ..waiting import eventually
from .conftest import QA

pytestmark = pytest.mark.model
FAILED, SUCCEEDED = pb.INGESTION_STATUS_FAILED, pb.INGESTION_STATUS_SUCCEEDED
DISK_BYTES = 24 << 20


@pytest.fixture(params=["small-disk", "store-limit"])
def disk(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[FullDisk]:
    """A real small filesystem under the data directory, or the store's own limit."""
    if request.param == "store-limit":
        yield MongoOutOfSpace() if backend == "mongomock" else PageLimit()
    elif backend == "mongomock":
        pytest.skip("mongomock keeps its data in memory, not on the small disk")
    elif not can_mount():
        pytest.skip("mounting a small tmpfs needs root")
    else:
        with small_disk(tmp_path / "small-disk", DISK_BYTES) as mounted:
            yield mounted


@pytest.fixture
def server_settings(disk: FullDisk) -> dict[str, Any]:
    """The server's data directory on the small disk, when there is one."""
    path = getattr(disk, "path", None)
    return {"data_dir": path / "data"} if path else {}


async def listed(qa: QA, project: str) -> dict[str, int]:
    request = pb.ListIngestionRunsRequest(project=project, page_size=50)
    return {run.id: run.status for run in (await qa.ingestion.ListIngestionRuns(request)).runs}


async def status_of(qa: QA, run_id: str) -> int:
    request = pb.GetIngestionRunRequest(run_id=run_id)
    return (await qa.ingestion.GetIngestionRun(request)).run.status


async def test_a_run_that_fills_the_disk_fails_everywhere_and_the_connector_runs_again(
    qa: QA, disk: FullDisk, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    gate = tmp_path / "gate"
    project = await qa.project("full")
    connector = await qa.connector(
        project, "scripted", "src", documents=40, checkpoint_every=5, gate=str(gate), gate_after=10
    )
    run = await qa.start(project)
    await qa.wait_for(run.id, lambda r: r.counts.chunks_written > 0)

    disk.fill(qa.server.store)
    gate.touch()  # the run goes on and writes into the full disk
    if disk.every_write_fails:
        # The worker cannot save the run's end either: the Store shows it running, the
        # only story any server can tell, and its connector busy, until the write lands.
        assert await eventually(lambda: "end of run not saved" in caplog.text, polls=2400)
        assert await listed(qa, project) == {run.id: pb.INGESTION_STATUS_RUNNING}
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await qa.start(project)
        refused = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)
        assert raised.value.code() in refused, raised.value.details()
    else:
        await qa.wait_for(run.id, lambda r: r.status != pb.INGESTION_STATUS_RUNNING)

    disk.free()
    failed = await qa.wait_for(run.id, lambda r: r.status != pb.INGESTION_STATUS_RUNNING)
    assert failed.status == FAILED
    assert "full" in failed.error or "space" in failed.error, failed.error
    assert await listed(qa, project) == {run.id: FAILED}
    again = await qa.start(project)  # no restart needed
    assert (await qa.finish(again.id)).status == SUCCEEDED
    assert await listed(qa, project) == {run.id: FAILED, again.id: SUCCEEDED}
    assert await status_of(qa, run.id) == FAILED
    store = qa.server.store
    assert store.active_run(connector_id=connector) is None
    stored = store.get_run(run.id)
    assert stored is not None and stored.error == failed.error
