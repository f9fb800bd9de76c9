"""Search during a project's first run, through the switch from keyword-only to hybrid:
the first generation is published as soon as the first batch is written (before any
vector), later ones as vectors arrive; every search answers, none with a chunk twice.

Real server (its worker in a thread), real SQLite/mongomock, FAISS and the bundled model;
the worker's encode is held until the test has seen a keyword-only generation answer.
"""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from projectqa.server.index.layout import IndexManifest
from projectqa.v1 import ingestion_pb2 as pb
from projectqa.v1 import retrieval_pb2

from .conftest import QA

pytestmark = pytest.mark.model
DOCUMENTS = 60
LOOKS = 2400  # searches, 50 ms apart at least (bounded in count, not time)


async def search(qa: QA, project: str) -> retrieval_pb2.SearchResponse | None:
    """The answer, or None while nothing is published yet (the first seconds of a run)."""
    request = retrieval_pb2.SearchRequest(project=project, query="compute total", top_k=10)
    try:
        return await qa.retrieval.Search(request)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
        assert "first ingestion is still running" in (exc.details() or "")
        return None


def assert_each_chunk_once(answer: retrieval_pb2.SearchResponse) -> None:
    ids = [hit.chunk_id for hit in answer.hits]
    assert answer.hits and len(ids) == len(set(ids)), ids
    places = [(hit.citation.path, hit.citation.start_line) for hit in answer.hits]
    assert len(places) == len(set(places)), places


async def test_searches_through_the_switch_from_keyword_only_to_hybrid_answer(
    qa: QA, monkeypatch: pytest.MonkeyPatch
):
    project = await qa.project("switching")
    await qa.connector(project, "scripted", "src", documents=DOCUMENTS, checkpoint_every=10)
    worker = qa.server.ingestion.worker
    assert worker is not None
    gate = threading.Event()
    embedder = worker._pipeline.embedder
    real_encode = embedder.encode

    def held(texts):  # type: ignore[no-untyped-def]
        gate.wait(60)
        return real_encode(texts)

    monkeypatch.setattr(embedder, "encode", held)
    served = qa.server.ingestion.indexes

    def answering(answer: retrieval_pb2.SearchResponse) -> IndexManifest:
        """The generation that answered: the one the server holds (only we search)."""
        manifest = served.manifest(project)
        assert manifest is not None and manifest.generation == answer.index_generation
        return manifest

    run = await qa.start(project)

    answer = None
    for _ in range(LOOKS):
        if (answer := await search(qa, project)) is not None:
            break
        await asyncio.sleep(0.05)
    assert answer is not None, "no generation was published during the run"
    assert_each_chunk_once(answer)
    assert answering(answer).vectors == 0  # keyword only, the run going on
    gate.set()

    answered: list[IndexManifest] = []
    for _ in range(LOOKS):
        answer = await search(qa, project)
        assert answer is not None  # never again "not searchable yet"
        assert_each_chunk_once(answer)
        answered.append(answering(answer))
        request = pb.GetIngestionRunRequest(run_id=run.id)
        finished = (await qa.ingestion.GetIngestionRun(request)).run
        last = answered[-1]
        if finished.status != pb.INGESTION_STATUS_RUNNING and last.vectors == last.chunks:
            break
        await asyncio.sleep(0.05)
    assert finished.status == pb.INGESTION_STATUS_SUCCEEDED, finished.error
    complete = answered[-1]  # hybrid over every chunk
    assert complete.vectors == complete.chunks == finished.counts.chunks_written >= DOCUMENTS
