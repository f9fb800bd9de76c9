"""Hybrid search keeps strong lexical evidence (issue 18): "how does retry work?" on httpx.

The corpus is real code, ingested as a user would: a real server with the real embedding
model and the ``local`` connector on a copy of the installed ``httpx`` package (a
dependency). ``retries`` appears only in ``httpx/_transports/default.py``, "retry" nowhere:
keyword search meets it through stemming, while the question's best cosine to any chunk is
weak, so the dense list is a guess. Fusion must not let that guess bury the keyword hits.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import struct_pb2

from projectqa.server.app import create_server
from projectqa.server.config import Settings
from projectqa.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
)
from tests.service.helpers import bearer_interceptors

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

PACKAGE = Path(httpx.__file__).parent
RETRIES_FILE = "httpx/_transports/default.py"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def retrieval(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[retrieval_pb2_grpc.RetrievalServiceStub]:
    base = tmp_path_factory.mktemp("httpx")
    shutil.copytree(PACKAGE, base / "src" / "httpx", ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.MonkeyPatch.context() as env:
        for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
            env.delenv(name, raising=False)
        env.setenv("HF_HUB_OFFLINE", "1")
        settings = Settings(
            data_dir=base / "data",
            listen_address="127.0.0.1:0",
            plugins=["local"],
            local_roots=[base / "src"],
        )
        server, port = await create_server(settings)
        token = server.settings.admin_token_path.read_text(encoding="utf-8").strip()
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=bearer_interceptors(token)
        )
        try:
            await _ingest(channel, base / "src")
            yield retrieval_pb2_grpc.RetrievalServiceStub(channel)
        finally:
            await channel.close()
            await server.stop(0)


async def _ingest(channel: grpc.aio.Channel, folder: Path) -> None:
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    await admin.CreateProject(admin_pb2.CreateProjectRequest(slug="httpx", name="httpx"))
    config = struct_pb2.Struct()
    config.update({"path": str(folder)})
    await admin.CreateConnector(
        admin_pb2.CreateConnectorRequest(project="httpx", type="local", name="src", config=config)
    )
    ingestion = ingestion_pb2_grpc.IngestionServiceStub(channel)
    start = ingestion_pb2.StartIngestionRequest(
        project="httpx", mode=ingestion_pb2.INGESTION_MODE_FULL
    )
    for run in (await ingestion.StartIngestion(start)).runs:
        watch = ingestion_pb2.WatchIngestionRequest(run_id=run.id, interval_seconds=0.1)
        events = [event async for event in ingestion.WatchIngestion(watch, timeout=600)]
        assert events[-1].run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, events[-1]


async def paths_found(
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub, question: str, mode: int
) -> list[str]:
    request = retrieval_pb2.SearchRequest(project="httpx", query=question, top_k=5, mode=mode)
    return [hit.citation.path for hit in (await retrieval.Search(request)).hits]


async def test_hybrid_search_for_retry_finds_the_code_about_retries(
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
) -> None:
    question = "how does retry work?"
    dense = await paths_found(retrieval, question, retrieval_pb2.SEARCH_MODE_DENSE)
    assert RETRIES_FILE not in dense  # the dense half alone cannot see it

    hybrid = await paths_found(retrieval, question, retrieval_pb2.SEARCH_MODE_HYBRID)

    assert RETRIES_FILE in hybrid, hybrid


async def test_a_question_dense_search_answers_well_keeps_its_answer(
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
) -> None:
    question = "where are proxies read from the environment variables?"
    dense = await paths_found(retrieval, question, retrieval_pb2.SEARCH_MODE_DENSE)
    hybrid = await paths_found(retrieval, question, retrieval_pb2.SEARCH_MODE_HYBRID)

    assert "httpx/_utils.py" in dense[:3]
    assert "httpx/_utils.py" in hybrid[:3], hybrid
