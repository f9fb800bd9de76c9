"""A stream storm from one member leaves everybody's short calls working (issue 13, item 6).

A real server with small stream budgets (set through settings) over the ingested
``shop`` project. The streams are WatchIngestion streams of a run another server
holds in its queue: they stay open, quiet, until the client closes them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
import pytest_asyncio

from projectqa.server.models import IngestionRun, RunMode, RunStatus, RunTrigger, new_id, utcnow
from projectqa.v1 import admin_pb2, ingestion_pb2, retrieval_pb2, tools_pb2
from tests.waiting import eventually

from .helpers import Code, rpc_error
from .retrieval_fixtures import PROJECT, Caller, IndexedProject, indexed_project

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]
MAX_STREAMS, PER_CALLER, UNARY, UNARY_PER_CALLER = 5, 3, 4, 2
ELSEWHERE = "another-server:1:1"  # a live owner on another host: never reclaimed while queued


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(
        tmp_path_factory,
        max_streams=MAX_STREAMS,
        max_streams_per_caller=PER_CALLER,
        max_concurrent_rpcs=UNARY,
        max_concurrent_rpcs_per_caller=UNARY_PER_CALLER,
        grep_max_runs=2,
        grep_max_runs_per_project=1,
    ) as project:
        yield project


async def queued_elsewhere(qa: IndexedProject) -> str:
    """A run of the project that another server has claimed and not started yet."""
    now = utcnow()
    run = IngestionRun(
        new_id("run"), qa.project_id, qa.code_connector_id, RunMode.FULL, RunTrigger.MANUAL,
        RunStatus.QUEUED, "queued", now, now, owner=ELSEWHERE,
    )  # fmt: skip
    await qa.server.run_blocking(qa.server.store.create_run, run)
    return run.id


async def finish(qa: IndexedProject, run_id: str) -> None:
    run = await qa.server.run_blocking(qa.server.store.get_run, run_id)
    done = dataclasses.replace(run, status=RunStatus.CANCELLED, phase="done", finished_at=utcnow())
    await qa.server.run_blocking(qa.server.store.update_run, done)


class Streams:
    """WatchIngestion streams opened by the test; each is open once its first event came."""

    def __init__(self, run_id: str) -> None:
        self.request = ingestion_pb2.WatchIngestionRequest(run_id=run_id, interval_seconds=60)
        self.calls: list[grpc.aio.UnaryStreamCall] = []

    def start(self, caller: Caller) -> grpc.aio.UnaryStreamCall:
        call = caller.ingestion.WatchIngestion(self.request)
        self.calls.append(call)
        return call

    async def open(self, caller: Caller) -> grpc.aio.UnaryStreamCall:
        call = self.start(caller)
        event = await call.read()
        assert event.run.status == ingestion_pb2.INGESTION_STATUS_QUEUED
        return call

    async def refused(self, caller: Caller, *fragments: str) -> None:
        await rpc_error(self.start(caller).read(), Code.RESOURCE_EXHAUSTED, *fragments)

    def close(self) -> None:
        for call in self.calls:
            call.cancel()


async def short_calls_work(*callers: Caller) -> None:
    for caller in callers:
        assert (await caller.admin.WhoAmI(admin_pb2.WhoAmIRequest())).user.name
        request = retrieval_pb2.SearchRequest(
            project=PROJECT, query="apply_discount", mode=retrieval_pb2.SEARCH_MODE_KEYWORD
        )
        assert (await caller.retrieval.Search(request)).hits


def open_streams(qa: IndexedProject, user: str = "") -> Callable[[], int]:
    budget = qa.server.budgets.streams
    return lambda: budget.open_of(("user", user)) if user else budget.open


async def test_a_member_past_the_stream_budgets_is_refused_and_short_calls_keep_working(
    qa: IndexedProject,
) -> None:
    run_id = await queued_elsewhere(qa)
    streams = Streams(run_id)
    try:
        mias = [await streams.open(qa.member) for _ in range(PER_CALLER)]
        await streams.refused(qa.member, "PROJECTQA_MAX_STREAMS_PER_CALLER", str(PER_CALLER))
        await short_calls_work(qa.member, qa.admin)

        for _ in range(MAX_STREAMS - PER_CALLER):
            await streams.open(qa.admin)
        await streams.refused(qa.admin, "PROJECTQA_MAX_STREAMS", str(MAX_STREAMS))
        await streams.refused(qa.outsider, "PROJECTQA_MAX_STREAMS")
        await short_calls_work(qa.member, qa.admin)

        mia = (await qa.member.admin.WhoAmI(admin_pb2.WhoAmIRequest())).user.id
        for call in mias:
            call.cancel()
        assert await eventually(lambda: open_streams(qa, mia)() == 0)
        for _ in range(PER_CALLER):  # all of mia's budget is back
            await streams.open(qa.member)
        await streams.refused(qa.member, "PROJECTQA_MAX_STREAMS")  # the admin's are still open
    finally:
        streams.close()
        await finish(qa, run_id)
    assert await eventually(lambda: open_streams(qa)() == 0)


def grep(caller: Caller) -> asyncio.Future[tools_pb2.GrepResponse]:
    request = tools_pb2.GrepRequest(project=PROJECT, pattern=r"def apply_discount\(")
    return asyncio.ensure_future(caller.tools.Grep(request))


async def test_slow_greps_of_one_member_leave_everybody_elses_calls_working(
    qa: IndexedProject,
) -> None:
    """A member's greps waiting for ripgrep hold only that member's share of unary calls."""
    gate = qa.server.grep_gate
    async with gate.turn(qa.project_id, 60):  # a grep of the project is running
        waiting = [grep(qa.member) for _ in range(UNARY_PER_CALLER)]
        assert await eventually(lambda: gate.queued == UNARY_PER_CALLER)

        await rpc_error(
            qa.member.admin.WhoAmI(admin_pb2.WhoAmIRequest()),
            Code.RESOURCE_EXHAUSTED,
            "PROJECTQA_MAX_CONCURRENT_RPCS_PER_CALLER",
            f"at most {UNARY_PER_CALLER} calls in flight per caller",
        )
        await short_calls_work(qa.admin)
    for reply in await asyncio.gather(*waiting):  # each had its turn, one after the other
        assert [match.path for match in reply.matches] == ["shop/pricing.py"]
    await short_calls_work(qa.member)
