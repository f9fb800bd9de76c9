"""IngestionService refuses bad input and foreign runs with the right status and field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from projectqa.v1 import admin_pb2, common_pb2
from projectqa.v1 import ingestion_pb2 as pb

from .conftest import QA

pytestmark = pytest.mark.model
Code = grpc.StatusCode


async def fails(call: Awaitable[object], code: grpc.StatusCode, *fragments: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code, raised.value.details()
    for fragment in fragments:
        assert fragment in raised.value.details()


@pytest.fixture
async def member(qa: QA, connect: Callable[[str | None], QA]) -> QA:
    """A user with the member role in project "alpha" (which has one finished run)."""
    await qa.project("alpha")
    await qa.connector("alpha", "scripted", "src", documents=1)
    await qa.ingest("alpha")
    await qa.admin.CreateUser(admin_pb2.CreateUserRequest(name="mia", display_name="Mia"))
    token = await qa.admin.CreateToken(admin_pb2.CreateTokenRequest(user="mia"))
    await qa.admin.AddMember(
        admin_pb2.AddMemberRequest(project="alpha", user="mia", role=common_pb2.PROJECT_ROLE_MEMBER)
    )
    return connect(token.secret)


async def test_start_names_the_bad_field(qa: QA):
    await qa.project("beta")
    ingest = qa.ingestion.StartIngestion
    await fails(ingest(pb.StartIngestionRequest()), Code.INVALID_ARGUMENT, "project")
    await fails(
        ingest(pb.StartIngestionRequest(project="beta")), Code.INVALID_ARGUMENT, "no connectors"
    )
    await fails(ingest(pb.StartIngestionRequest(project="nope")), Code.NOT_FOUND, "nope")
    await fails(
        ingest(pb.StartIngestionRequest(project="beta", connector="ghost")), Code.NOT_FOUND, "ghost"
    )
    await fails(
        ingest(pb.StartIngestionRequest(project="beta", connector="x", mode=7)),
        Code.INVALID_ARGUMENT,
        "mode",
    )


async def test_run_ids_and_watch_intervals_are_checked(qa: QA):
    await fails(
        qa.ingestion.GetIngestionRun(pb.GetIngestionRunRequest()), Code.INVALID_ARGUMENT, "run_id"
    )
    await fails(
        qa.ingestion.GetIngestionRun(pb.GetIngestionRunRequest(run_id="run_missing")),
        Code.NOT_FOUND,
        "run_missing",
    )
    await fails(qa.events("run_missing"), Code.NOT_FOUND)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await qa.events("run_x", interval=-1)
    assert raised.value.code() == Code.INVALID_ARGUMENT
    assert "interval_seconds" in raised.value.details()
    await fails(
        qa.ingestion.ListIngestionRuns(
            pb.ListIngestionRunsRequest(project="alpha", page_token="garbage!")
        ),
        Code.NOT_FOUND,  # the project is checked first
    )


async def test_members_read_runs_but_only_admins_start_cancel_or_rebuild(qa: QA, member: QA):
    [run] = (
        await member.ingestion.ListIngestionRuns(pb.ListIngestionRunsRequest(project="alpha"))
    ).runs
    assert (await member.finish(run.id)).status == pb.INGESTION_STATUS_SUCCEEDED

    await fails(member.start("alpha"), Code.PERMISSION_DENIED, "admin")
    await fails(
        member.ingestion.CancelIngestion(pb.CancelIngestionRequest(run_id=run.id)),
        Code.PERMISSION_DENIED,
    )
    await fails(
        member.ingestion.RebuildIndexes(pb.RebuildIndexesRequest(project="alpha")),
        Code.PERMISSION_DENIED,
    )


async def test_runs_of_other_projects_answer_like_missing_ones(qa: QA, member: QA):
    await qa.project("secret")
    await qa.connector("secret", "scripted", "src", documents=1)
    hidden = await qa.ingest("secret")

    await fails(
        member.ingestion.GetIngestionRun(pb.GetIngestionRunRequest(run_id=hidden.id)),
        Code.NOT_FOUND,
        f"run {hidden.id!r} not found",
    )
    await fails(member.events(hidden.id), Code.NOT_FOUND)
    await fails(
        member.ingestion.ListIngestionRuns(pb.ListIngestionRunsRequest(project="secret")),
        Code.NOT_FOUND,
    )


async def test_no_token_no_ingestion(connect: Callable[[str | None], QA]):
    anonymous = connect(None)
    await fails(
        anonymous.ingestion.ListIngestionRuns(pb.ListIngestionRunsRequest(project="alpha")),
        Code.UNAUTHENTICATED,
    )
    await fails(anonymous.events("run_x"), Code.UNAUTHENTICATED)
