"""The index directory fills up: the run that cannot write its index fails and says why,
Search goes on answering from the last good generation, and once space is back the next
run publishes a new one.

Only ``<data dir>/indexes`` is a small tmpfs (root only: mount(2)); the Store is on the
normal disk, so its writes succeed and the index is the only thing out of space.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projectqa.v1 import admin_pb2, retrieval_pb2
from projectqa.v1 import ingestion_pb2 as pb

from ..full_disk import SmallDisk, can_mount, small_disk
from ..service.helpers import struct
from .conftest import QA

pytestmark = pytest.mark.model
FAILED, SUCCEEDED = pb.INGESTION_STATUS_FAILED, pb.INGESTION_STATUS_SUCCEEDED


@pytest.fixture
def index_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if not can_mount():
        pytest.skip("mounting a small tmpfs needs root")
    with small_disk(tmp_path / "data" / "indexes", 16 << 20) as disk:
        yield disk


@pytest.fixture
def server_settings(index_disk: SmallDisk, tmp_path: Path) -> dict[str, Any]:
    return {"data_dir": tmp_path / "data"}


async def search(qa: QA, project: str, query: str) -> retrieval_pb2.SearchResponse:
    request = retrieval_pb2.SearchRequest(
        project=project, query=query, mode=retrieval_pb2.SEARCH_MODE_KEYWORD
    )
    return await qa.retrieval.Search(request)


def paths(response: retrieval_pb2.SearchResponse) -> set[str]:
    return {hit.citation.path for hit in response.hits}


async def test_an_index_the_disk_cannot_hold_fails_the_run_and_search_keeps_the_last_one(
    qa: QA, index_disk: SmallDisk
):
    project = await qa.project("indexed")
    connector = await qa.connector(project, "scripted", "src", documents=4)
    assert (await qa.ingest(project)).status == SUCCEEDED
    before = await search(qa, project, "compute_3")
    assert "mod_3.py" in paths(before)

    index_disk.fill()
    config = struct({"documents": 6})
    await qa.admin.UpdateConnector(
        admin_pb2.UpdateConnectorRequest(connector_id=connector, config=config)
    )
    failed = await qa.ingest(project)

    assert failed.status == FAILED
    assert "index could not be written (No space left on device)" in failed.error
    assert failed.counts.documents_changed == 2  # in the Store, not yet searchable
    during = await search(qa, project, "compute_5")
    assert during.index_generation == before.index_generation
    assert "mod_5.py" not in paths(during)
    assert "mod_3.py" in paths(await search(qa, project, "compute_3"))

    index_disk.free()
    assert (await qa.ingest(project)).status == SUCCEEDED
    after = await search(qa, project, "compute_5")
    assert after.index_generation > before.index_generation
    assert "mod_5.py" in paths(after)
