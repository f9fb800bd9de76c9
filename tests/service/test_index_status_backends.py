"""IndexStatus through a real server on both store backends (SQLite, MongoDB/mongomock):
the active run, and a served generation whose embedder this server cannot build (an old
index after a switch of embedder): hybrid search answers from the keyword index and says
why, dense search fails naming the embedder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest_asyncio

from projectqa.server.index.manager import index_manager_for
from projectqa.server.models import IngestionRun, RunMode, RunStatus, RunTrigger, new_id, utcnow
from projectqa.v1 import common_pb2, retrieval_pb2, retrieval_pb2_grpc, tools_pb2, tools_pb2_grpc
from tests.index.conftest import Corpus, unit_vectors

from .conftest import RunningServer
from .helpers import Code, bearer_interceptors, rpc_error

GONE = "an-embedder-no-longer-here"


@pytest_asyncio.fixture
async def stubs(
    server: RunningServer,
) -> AsyncIterator[tuple[retrieval_pb2_grpc.RetrievalServiceStub, tools_pb2_grpc.ToolsServiceStub]]:
    channel = grpc.aio.insecure_channel(
        server.address, interceptors=bearer_interceptors(server.admin_token)
    )
    yield retrieval_pb2_grpc.RetrievalServiceStub(channel), tools_pb2_grpc.ToolsServiceStub(channel)
    await channel.close()


@pytest_asyncio.fixture
async def server(start_server: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    """No ingestion worker: what the test writes is all that changes."""
    return await start_server(embedded_worker="off")


async def test_the_active_run_and_an_embedder_this_server_cannot_build(
    server: RunningServer,
    stubs: tuple[retrieval_pb2_grpc.RetrievalServiceStub, tools_pb2_grpc.ToolsServiceStub],
    project: common_pb2.Project,
) -> None:
    retrieval, tools = stubs
    store = server.server.store
    corpus = Corpus(store, project_id=project.id)  # type: ignore[arg-type]
    corpus.add("shop/cart.py", [("total", "sum the cart total")], unit_vectors(1, 1), GONE)
    corpus.add("shop/refund.py", [("refund", "refund the card")], unit_vectors(1, 2), GONE)
    settings = server.server.settings
    index_manager_for(store, settings.index_dir, GONE).rebuild(project.id)
    run = IngestionRun(
        id=new_id("run"),
        project_id=project.id,
        connector_id=corpus.connector_id,
        mode=RunMode.FULL,
        trigger=RunTrigger.MANUAL,
        status=RunStatus.QUEUED,
        phase="queued",
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    store.create_run(run)

    request = retrieval_pb2.SearchRequest(project=project.slug, query="refund the card")
    response = await retrieval.Search(request)
    status = response.index_status
    assert response.mode == retrieval_pb2.SEARCH_MODE_KEYWORD  # dense search was skipped
    assert response.hits[0].citation.path == "shop/refund.py"
    assert GONE in status.dense_unavailable
    assert (status.embedder, status.active_run_id) == (GONE, run.id)
    assert status.chunks_indexed == status.chunks_embedded == status.chunks_stored == 2
    listed = await tools.GetIndexStatus(tools_pb2.GetIndexStatusRequest(project=project.slug))
    assert listed.index_status == status
    request.mode = retrieval_pb2.SEARCH_MODE_DENSE
    await rpc_error(retrieval.Search(request), Code.FAILED_PRECONDITION, GONE, "dense search")
