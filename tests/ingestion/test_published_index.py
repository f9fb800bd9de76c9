"""A published generation the server cannot verify: refused, the one it serves kept,
and a worker publishes a good one without anybody asking (its reconcile loop).

Real server, its worker in a thread, real SQLite and FAISS, the bundled model. The
generation is damaged on disk between the worker's publication and the server's load.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from projectqa.v1 import ingestion_pb2 as pb
from projectqa.v1 import retrieval_pb2

from .conftest import QA

pytestmark = pytest.mark.model
SUCCEEDED = pb.INGESTION_STATUS_SUCCEEDED


async def search(qa: QA, project: str, query: str) -> retrieval_pb2.SearchResponse:
    request = retrieval_pb2.SearchRequest(project=project, query=query, top_k=3)
    return await qa.retrieval.Search(request)


def published_dir(index_root: Path, project_id: str) -> Path:
    project_dir = index_root / project_id
    manifest = json.loads((project_dir / "manifest.json").read_text())
    return project_dir / manifest["dir"]


async def test_a_damaged_generation_is_refused_and_a_worker_publishes_a_good_one(
    qa: QA, tmp_path: Path, backend: str
):
    if backend != "sqlite":
        pytest.skip("damages files of the data directory's publication (GridFS: tests/index)")
    source = tmp_path / "src"
    source.mkdir()
    (source / "ledger.py").write_text("def post_entry(amount):\n    return amount\n")
    project = await qa.project("damaged")
    await qa.connector(project, "local", "files", path=str(source))
    assert (await qa.ingest(project)).status == SUCCEEDED
    first = await search(qa, project, "post entry")
    assert first.hits

    (source / "refund.py").write_text("def refund_invoice(invoice):\n    return -invoice\n")
    assert (await qa.ingest(project)).status == SUCCEEDED
    # The worker published the next generation; damage it before the server loads it.
    index_root = qa.server.settings.index_dir
    damaged = published_dir(index_root, project)
    ids = damaged / "chunk_ids.json"
    ids.write_text(ids.read_text().replace("]", ', "chk_forged"]'))

    kept = await search(qa, project, "refund invoice")
    assert kept.index_generation == first.index_generation  # refused: still the first one

    # The refusal moved the Store's generation on; the worker's reconcile loop (every
    # few seconds) publishes a verified generation, and the server loads it.
    for _ in range(600):
        answer = await search(qa, project, "refund invoice")
        if answer.index_generation > first.index_generation:
            break
        await asyncio.sleep(0.1)
    assert answer.index_generation > first.index_generation
    assert answer.hits[0].citation.path == "refund.py"
    assert published_dir(index_root, project) != damaged


async def test_search_before_a_first_run_published_anything_says_so_and_builds_nothing(
    qa: QA, tmp_path: Path
):
    """Only for the seconds before the first batch is written: from then on the run
    publishes generations as it goes (test_progressive_search.py)."""
    gate = tmp_path / "gate"
    project = await qa.project("first")
    await qa.connector(
        project, "scripted", "src", documents=20, checkpoint_every=5, gate=str(gate), gate_after=0
    )
    run = await qa.start(project)
    await qa.wait_for(run.id, lambda r: r.status == pb.INGESTION_STATUS_RUNNING)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await search(qa, project, "compute")
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "first ingestion is still running" in (raised.value.details() or "")
    assert qa.server.ingestion.indexes.manifest(project) is None  # the server built nothing

    gate.touch()
    assert (await qa.finish(run.id)).status == SUCCEEDED
    assert (await search(qa, project, "compute")).hits


async def test_a_build_between_a_batchs_generation_bump_and_its_write_is_not_current(
    qa: QA, monkeypatch: pytest.MonkeyPatch
):
    """Another run's end, or a reconcile pass, may build right after a batch bumped the
    generation and before the batch is written: that build must not count as current."""
    project = await qa.project("racing")
    await qa.connector(project, "scripted", "src", documents=6, checkpoint_every=2)
    store = qa.server.store
    worker = qa.server.ingestion.worker
    assert worker is not None
    real_write = store.write_documents

    def build_first(batch, fence=None):  # type: ignore[no-untyped-def]
        worker._indexes.ensure_published(project)  # a build that lands just before the write
        real_write(batch, fence)

    monkeypatch.setattr(store, "write_documents", build_first)
    assert (await qa.ingest(project)).status == SUCCEEDED
    request = retrieval_pb2.SearchRequest(project=project, query="compute", top_k=20)
    found = await qa.retrieval.Search(request)
    assert found.index_generation == store.index_generation(project)
    assert {hit.citation.path for hit in found.hits} == {f"mod_{i}.py" for i in range(6)}
