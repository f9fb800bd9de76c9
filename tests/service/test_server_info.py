"""AdminService.GetServerInfo: what the server runs, for any authenticated caller."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata

import pytest

from projectqa.server.admin.server_info import package_version
from projectqa.v1 import admin_pb2

from .helpers import Code, rpc_error

OLLAMA = admin_pb2.LLM_PROVIDER_OLLAMA


@pytest.fixture(autouse=True)
def no_llm_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The server reads these at start; the developer's own must not leak into the answer.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)


async def test_server_info_names_version_embedder_store_and_start(
    start_server, connect, backend
) -> None:
    before = datetime.now(UTC)
    running = await start_server()
    after = datetime.now(UTC)
    admin = connect(running.admin_token, running.address)

    info = await admin.GetServerInfo(admin_pb2.GetServerInfoRequest())

    assert info.version == metadata.version("projectqa")
    assert info.embedder == running.server.ingestion.embedder.name
    assert info.embedder  # e.g. "all-MiniLM-L6-v2@onnx-int8"
    assert info.store_backend == {"sqlite": "sqlite", "mongomock": "mongodb"}[backend]
    assert info.default_llm_model == ""  # no global default profile, no environment LLM
    assert before <= info.started_at.ToDatetime(UTC) <= after


async def test_default_llm_model_follows_the_global_default_profile(admin) -> None:
    request = admin_pb2.GetServerInfoRequest()
    await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(name="other", provider=OLLAMA, model="not-default")
    )
    assert (await admin.GetServerInfo(request)).default_llm_model == ""

    await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            name="main", provider=OLLAMA, model="qwen2.5-coder:7b", is_default=True
        )
    )

    assert (await admin.GetServerInfo(request)).default_llm_model == "qwen2.5-coder:7b"


async def test_a_project_default_profile_is_not_the_servers(admin) -> None:
    await admin.CreateProject(admin_pb2.CreateProjectRequest(slug="alpha", name="Alpha"))
    await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            project="alpha", name="p", provider=OLLAMA, model="project-model", is_default=True
        )
    )

    info = await admin.GetServerInfo(admin_pb2.GetServerInfoRequest())

    assert info.default_llm_model == ""


async def test_the_environment_llm_answers_when_no_profile_is_default(
    start_server, connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # never dialled: only named
    running = await start_server(llm_model="llama3.2:1b")
    admin = connect(running.admin_token, running.address)

    info = await admin.GetServerInfo(admin_pb2.GetServerInfoRequest())

    assert info.default_llm_model == "llama3.2:1b"


async def test_a_user_without_any_role_may_read_it(new_user) -> None:
    nobody = await new_user("nobody")

    info = await nobody.stub.GetServerInfo(admin_pb2.GetServerInfoRequest())

    assert info.version == package_version()


async def test_anonymous_callers_may_not(connect) -> None:
    await rpc_error(
        connect(None).GetServerInfo(admin_pb2.GetServerInfoRequest()),
        Code.UNAUTHENTICATED,
        "missing credentials",
    )


def test_version_outside_an_install_is_unknown() -> None:
    assert package_version("projectqa-no-such-distribution") == "unknown"
