"""IndexStatus end to end: in SearchResponse, KeywordSearchResponse, GetProjectMetadata and
GetIndexStatus, over a real server (SQLite, the real embedding model, FAISS, BM25) that
ingested the ``shop`` project; then the same project partly embedded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from google.protobuf import json_format

from projectqa.server.index.layout import IndexManifest
from projectqa.server.models import Chunk, DocumentWrite
from projectqa.v1 import retrieval_pb2, tools_pb2
from tests.index.conftest import make_chunk, make_document

from .helpers import Code, rpc_error
from .retrieval_fixtures import EMPTY_PROJECT, PROJECT, IndexedProject, indexed_project

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

REFUND_QUESTION = "refund the payment to the original card"
REFUND_TEXT = "def refund(order):\n    # refund the payment to the original card, minus shipping\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


async def publish_unembedded_chunk(
    qa: IndexedProject, path: str, text: str
) -> tuple[Chunk, IndexManifest]:
    """A chunk in the Store without a vector, served in a new generation: what a run that
    writes chunks first and embeds behind publishes for a while."""
    store = qa.server.store
    document = make_document(qa.project_id, qa.code_connector_id, path, 1)
    chunk = make_chunk(document, 0, path.rsplit("/", 1)[-1].removesuffix(".py"), text)
    store.write_documents([DocumentWrite(document, [chunk])])  # no vector cached for it
    store.bump_index_generation(qa.project_id)
    manifest = await asyncio.to_thread(qa.server.ingestion.indexes.rebuild, qa.project_id)
    return chunk, manifest


async def search(
    qa: IndexedProject, query: str, mode: int = retrieval_pb2.SEARCH_MODE_HYBRID
) -> retrieval_pb2.SearchResponse:
    request = retrieval_pb2.SearchRequest(project=PROJECT, query=query, mode=mode)
    return await qa.member.retrieval.Search(request)


async def status_of(qa: IndexedProject, project: str = PROJECT) -> retrieval_pb2.IndexStatus:
    request = tools_pb2.GetIndexStatusRequest(project=project)
    return (await qa.member.tools.GetIndexStatus(request)).index_status


async def test_a_complete_index_reports_every_chunk_indexed_and_embedded(
    qa: IndexedProject,
) -> None:
    response = await search(qa, "how is the cart total computed?")
    status = response.index_status
    request = tools_pb2.InvokeToolRequest(project=PROJECT, tool="search")
    request.arguments.update({"query": "cart total"})
    result = json_format.MessageToDict((await qa.member.tools.InvokeTool(request)).result)
    assert "index_status" not in result  # complete: the tool's JSON is as before
    assert status.generation == response.index_generation > 0
    assert status.chunks_indexed == status.chunks_embedded == status.chunks_stored > 0
    assert status.embedder == qa.server.ingestion.embedder.name
    assert status.active_run_id == "" and status.dense_unavailable == ""
    keyword = await qa.member.tools.KeywordSearch(
        tools_pb2.KeywordSearchRequest(project=PROJECT, query="cart total")
    )
    assert keyword.index_status == status
    meta = await qa.member.tools.GetProjectMetadata(
        tools_pb2.GetProjectMetadataRequest(project=PROJECT)
    )
    assert meta.index_status == status
    assert meta.index_generation == status.generation and meta.chunks == status.chunks_stored
    assert await status_of(qa) == status


async def test_index_status_needs_membership_and_reports_a_project_never_indexed(
    qa: IndexedProject,
) -> None:
    request = tools_pb2.GetIndexStatusRequest(project=PROJECT)
    await rpc_error(qa.outsider.tools.GetIndexStatus(request), Code.NOT_FOUND, PROJECT)
    empty = (
        await qa.admin.tools.GetIndexStatus(tools_pb2.GetIndexStatusRequest(project=EMPTY_PROJECT))
    ).index_status
    assert (empty.generation, empty.chunks_indexed, empty.chunks_stored) == (0, 0, 0)
    assert empty.embedder == ""


async def test_a_chunk_written_but_not_embedded_is_searchable_and_counted(
    qa: IndexedProject,
) -> None:
    """Chunks written ahead of their vectors, as a run publishes them: the served
    generation has more chunks than vectors, and the right chunk is not buried."""
    chunk, manifest = await publish_unembedded_chunk(qa, "shop/refunds.py", REFUND_TEXT)
    assert manifest.vectors == manifest.chunks - 1
    response = await search(qa, REFUND_QUESTION)
    status = response.index_status
    assert (status.chunks_indexed, status.chunks_embedded) == (manifest.chunks, manifest.vectors)
    assert status.chunks_stored == manifest.chunks and status.generation == manifest.generation
    best = response.hits[0]
    assert best.chunk_id == chunk.id  # first, as keyword-only search ranks it
    assert (best.dense_rank, best.keyword_rank) == (0, 1)
    keyword = await search(qa, REFUND_QUESTION, retrieval_pb2.SEARCH_MODE_KEYWORD)
    assert keyword.hits[0].chunk_id == chunk.id
    assert await status_of(qa) == status
    # The search tool's JSON (what an LLM reads) says the index is incomplete.
    request = tools_pb2.InvokeToolRequest(project=PROJECT, tool="search")
    request.arguments.update({"query": REFUND_QUESTION})
    result = json_format.MessageToDict((await qa.member.tools.InvokeTool(request)).result)
    assert result["index_status"]["chunks_embedded"] == status.chunks_embedded
    assert result["hits"][0]["path"] == "shop/refunds.py"
