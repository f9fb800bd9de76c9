"""A ``git`` ingestion run over a hostile repository, end to end: it succeeds, with warnings,
and OpenFile and Grep read the files that could be checked out.

Issue #13 item 7: a path past 4,096 bytes made the final ``git checkout`` fail the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from projectqa.server.app import ProjectQAServer
from projectqa.server.models import PageRequest
from projectqa.v1 import (
    admin_pb2_grpc,
    ingestion_pb2_grpc,
    retrieval_pb2_grpc,
    tools_pb2,
    tools_pb2_grpc,
)
from projectqa.v1 import ingestion_pb2 as pb

from ..connectors.git_objects import (
    Submodule,
    bare_repository,
    path_past_path_max,
    plumbed_commit,
)
from ..service.helpers import bearer_interceptors
from .conftest import QA

pytestmark = pytest.mark.model
DEEP = path_past_path_max()
SUBMODULE_COMMIT = "1234567890abcdef1234567890abcdef12345678"


@pytest.fixture
async def qa_and_tools(
    start_server: Callable[..., Awaitable[tuple[ProjectQAServer, int]]],
) -> AsyncIterator[tuple[QA, tools_pb2_grpc.ToolsServiceStub]]:
    server, port = await start_server()
    token = server.admin_token_path.read_text().strip()  # type: ignore[union-attr]
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", interceptors=bearer_interceptors(token)
    )
    qa = QA(
        server,
        admin_pb2_grpc.AdminServiceStub(channel),
        ingestion_pb2_grpc.IngestionServiceStub(channel),
        retrieval_pb2_grpc.RetrievalServiceStub(channel),
    )
    yield qa, tools_pb2_grpc.ToolsServiceStub(channel)
    await channel.close()


async def test_a_hostile_repository_is_indexed_with_warnings_not_failed(
    qa_and_tools: tuple[QA, tools_pb2_grpc.ToolsServiceStub], tmp_path: Path
) -> None:
    qa, tools = qa_and_tools
    repo = bare_repository(tmp_path / "hostile.git")
    plumbed_commit(
        repo,
        {
            b"app.py": b"def checkout_total(basket):\n    return sum(basket)\n",
            DEEP: b"def deep_helper():\n    return 42\n",
            b".GIT/config": b"[core]\n\tbare = true\n",
            b"vendor/lib": Submodule(SUBMODULE_COMMIT),
        },
    )
    project = await qa.project("hostile")
    await qa.connector(project, "git", "repo", url=str(repo))

    run = await qa.ingest(project, full=True)

    assert run.status == pb.INGESTION_STATUS_SUCCEEDED, run.error
    assert sorted(w.document_key for w in run.warnings) == sorted(
        [".GIT/config", DEEP.decode(), "vendor/lib"]
    )
    chunks = qa.server.store.list_chunks(project, PageRequest(limit=10_000))
    assert {"app.py", DEEP.decode(), ".GIT/config"} <= {chunk.path for chunk in chunks}
    opened = await tools.OpenFile(tools_pb2.OpenFileRequest(project=project, path="app.py"))
    assert "checkout_total" in opened.content
    grep = tools_pb2.GrepRequest(project=project, pattern="return", fixed_strings=True)
    assert {match.path for match in (await tools.Grep(grep)).matches} == {"app.py"}
