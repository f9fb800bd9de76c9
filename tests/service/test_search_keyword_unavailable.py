"""RetrievalService.Search during a keyword tokenizer upgrade, through a real server.

The project's generation is published as the release before stemmed tokens did
(version 1, see ``tests/index/test_tokenizer_upgrade.py``), with vectors of the
server's own (real) embedder. The server has no worker, so it serves that
generation without its keyword part until the test publishes the rebuilt one as a
worker would. Meanwhile: hybrid search answers with mode DENSE and
``index_status.keyword_unavailable`` set (passages and files), keyword search and
the KeywordSearch tool fail with FAILED_PRECONDITION saying why, and the status
says so too. Once the rebuild is published, all is back to normal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
import pytest_asyncio

from projectqa.client.index_status import status_line
from projectqa.server.index.manager import index_manager_for
from projectqa.v1 import common_pb2, retrieval_pb2, retrieval_pb2_grpc, tools_pb2, tools_pb2_grpc
from tests.index.conftest import Corpus
from tests.index.test_tokenizer_upgrade import QUESTION, RETRIES, as_release_of_tokenizer

from .conftest import RunningServer
from .helpers import Code, bearer_interceptors, rpc_error

pytestmark = pytest.mark.model  # vectors and queries of the real embedder

FILES = {
    "http/transport.py": ("send", RETRIES),
    "http/urls.py": ("join", "def join(base, path):\n    return base + path"),
}
UNAVAILABLE = "keyword search is unavailable: keyword index of tokenizer version 1"


@pytest_asyncio.fixture
async def server(start_server: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    """No ingestion worker: the generation the test publishes is all that is served."""
    return await start_server(embedded_worker="off")


@pytest_asyncio.fixture
async def stubs(
    server: RunningServer,
) -> AsyncIterator[tuple[retrieval_pb2_grpc.RetrievalServiceStub, tools_pb2_grpc.ToolsServiceStub]]:
    channel = grpc.aio.insecure_channel(
        server.address, interceptors=bearer_interceptors(server.admin_token)
    )
    yield retrieval_pb2_grpc.RetrievalServiceStub(channel), tools_pb2_grpc.ToolsServiceStub(channel)
    await channel.close()


def publish_old_generation(
    server: RunningServer, project_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's files with the server's vectors, published by a version-1 release."""
    store, embedder = server.server.store, server.server.ingestion.embedder
    corpus = Corpus(store, project_id=project_id)  # type: ignore[arg-type]
    for path, (symbol, text) in FILES.items():
        [vector] = embedder.encode([f"{path}\n{symbol}\n{text}"])
        corpus.add(path, [(symbol, text)], [vector], embedder.name)
    with monkeypatch.context() as old_release:
        as_release_of_tokenizer(old_release, 1)
        old = index_manager_for(store, server.server.settings.index_dir, embedder.name)
        old.rebuild(project_id)


# SQLite only: with MongoDB a server sees a newly published generation up to
# publish_gridfs.MANIFEST_TTL_S late (its cached view), and tests do not wait on clocks;
# the GridFS side of the upgrade is tests/index/test_tokenizer_upgrade.py's.
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_hybrid_is_dense_and_keyword_fails_until_the_rebuild_is_served(
    server: RunningServer,
    stubs: tuple[retrieval_pb2_grpc.RetrievalServiceStub, tools_pb2_grpc.ToolsServiceStub],
    project: common_pb2.Project,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    retrieval, tools = stubs
    publish_old_generation(server, project.id, monkeypatch)
    request = retrieval_pb2.SearchRequest(project=project.slug, query=QUESTION)

    response = await retrieval.Search(request)
    status = response.index_status
    assert response.mode == retrieval_pb2.SEARCH_MODE_DENSE  # was HYBRID, keyword half empty
    assert response.hits[0].citation.path == "http/transport.py"
    assert "tokenizer version 1" in status.keyword_unavailable
    assert status.dense_unavailable == ""
    # What the CLI and the editor show under the hits.
    assert status_line(status).startswith("keyword search skipped: keyword index of tokenizer")
    listed = await tools.GetIndexStatus(tools_pb2.GetIndexStatusRequest(project=project.slug))
    assert listed.index_status == status
    by_file = retrieval_pb2.SearchRequest()
    by_file.CopyFrom(request)
    by_file.group_by = retrieval_pb2.SEARCH_GROUP_BY_FILE
    files = await retrieval.Search(by_file)
    assert files.mode == retrieval_pb2.SEARCH_MODE_DENSE
    assert files.index_status.keyword_unavailable == status.keyword_unavailable
    assert files.files[0].path == "http/transport.py"

    request.mode = retrieval_pb2.SEARCH_MODE_KEYWORD
    await rpc_error(
        retrieval.Search(request),
        Code.FAILED_PRECONDITION,
        UNAVAILABLE,
        "search in hybrid or dense mode meanwhile",
    )
    keyword_tool = tools_pb2.KeywordSearchRequest(project=project.slug, query=QUESTION)
    await rpc_error(tools.KeywordSearch(keyword_tool), Code.FAILED_PRECONDITION, UNAVAILABLE)

    # A worker publishes the rebuilt generation: the next query serves it.
    store, name = server.server.store, server.server.ingestion.embedder.name
    index_manager_for(store, server.server.settings.index_dir, name).ensure_published(project.id)
    keyword = await retrieval.Search(request)
    assert keyword.mode == retrieval_pb2.SEARCH_MODE_KEYWORD
    assert [h.citation.path for h in keyword.hits] == ["http/transport.py"]
    assert keyword.index_status.keyword_unavailable == ""
    request.mode = retrieval_pb2.SEARCH_MODE_HYBRID
    hybrid = await retrieval.Search(request)
    assert hybrid.mode == retrieval_pb2.SEARCH_MODE_HYBRID
    assert hybrid.index_generation == keyword.index_generation
    assert hybrid.index_status.keyword_unavailable == ""
    assert status_line(hybrid.index_status) == ""  # complete again
    tool = await tools.KeywordSearch(keyword_tool)
    assert [h.citation.path for h in tool.hits] == ["http/transport.py"]
