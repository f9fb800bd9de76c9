"""AsyncClient end to end: a real server over a real ingested project (``retrieval_fixtures``).

Each typed method the LSP bridge relies on is called through ``grpc.aio`` and
must return the same data as the sync :class:`Client`; streams end quietly after
our own ``cancel()`` and still let a cancelled task be cancelled. An LLM that
never answers (tests/fakes/llm_server.py) holds a turn open for the cancel tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from projectqa.client import AsyncClient, Client, ClientError
from projectqa.client.chat import AsyncChatStream
from projectqa.v1 import admin_pb2, chat_pb2, common_pb2
from tests.fakes.llm_server import FakeLlm, Reply
from tests.service.retrieval_fixtures import (
    CART_PY,
    EMPTY_PROJECT,
    HIDDEN_PROJECT,
    PRICING_PY,
    PROJECT,
    IndexedProject,
    definition_lines,
    indexed_project,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


def address_and_token(qa: IndexedProject) -> tuple[str, str]:
    token = qa.server.settings.admin_token_path.read_text(encoding="utf-8").strip()
    return f"127.0.0.1:{qa.port}", token


@pytest_asyncio.fixture(loop_scope="module")
async def client(qa: IndexedProject) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(*address_and_token(qa)) as connected:
        yield connected


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlm]:
    with FakeLlm() as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="module")
async def hanging_profile(client: AsyncClient, llm: FakeLlm) -> AsyncIterator[str]:
    """An LLM profile of ``shop`` whose model never answers: a turn stays open."""
    llm.reset()
    llm.handler = lambda body: Reply(text="never sent", hang_s=60)
    profile = await client.create_llm_profile(
        "never-answers",
        provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
        model="fake-model",
        project=PROJECT,
        base_url=llm.base_url,
        api_key="sk-test-key",
        timeout_seconds=60,
    )
    yield profile.id
    await client.delete_llm_profile(profile.id)


async def until_llm_asked(llm: FakeLlm) -> None:
    """Yields to the loop until the server has sent its request to the fake LLM."""
    while not llm.request_count:
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------ unary and paged calls
async def test_whoami_health_and_raw_call(client: AsyncClient) -> None:
    who = await client.whoami()
    status = await client.health()
    got = await client.call(client.admin.GetProject, admin_pb2.GetProjectRequest(project=PROJECT))

    assert who.user.global_admin
    assert status == "SERVING"
    assert got.project.slug == PROJECT


async def test_list_projects_follows_every_page(client: AsyncClient) -> None:
    slugs = [project.slug async for project in client.list_projects(page_size=1)]

    assert sorted(slugs) == sorted([PROJECT, HIDDEN_PROJECT, EMPTY_PROJECT])


async def test_list_connectors_of_a_project(client: AsyncClient, qa: IndexedProject) -> None:
    connectors = [c async for c in client.list_connectors(PROJECT)]

    assert {c.id for c in connectors} == {qa.code_connector_id, qa.notes_connector_id}
    assert {c.type for c in connectors} == {"local"}


async def test_search_returns_hits_with_citations(client: AsyncClient) -> None:
    response = await client.search(
        PROJECT,
        "compute the total price of the cart after the discount",
        mode="hybrid",
        top_k=3,
        kinds=["file"],
        languages=["python"],
    )

    assert 0 < len(response.hits) <= 3
    top = response.hits[0].citation
    start, end = definition_lines(CART_PY, "Cart.total_price")
    assert top.path == "shop/cart.py"
    assert top.start_line <= start and end <= top.end_line
    assert all(hit.language == "python" for hit in response.hits)


async def test_keyword_search_filters_by_language(client: AsyncClient) -> None:
    hits = await client.keyword_search(
        PROJECT, "changelog release", top_k=2, kinds=["file"], languages=["markdown"]
    )

    assert hits and hits[0].citation.path == "release.md"
    assert {hit.language for hit in hits} == {"markdown"}


async def test_find_symbol_and_open_file(client: AsyncClient) -> None:
    symbols = await client.find_symbol(PROJECT, "parse_price", exact=True, limit=5)
    first = symbols[0]
    opened = await client.open_file(PROJECT, first.path, first.start_line, first.end_line)

    assert (first.name, first.path, first.kind) == ("parse_price", "shop/pricing.py", "function")
    assert (first.start_line, first.end_line) == definition_lines(PRICING_PY, "parse_price")
    assert opened.content.startswith("def parse_price(text: str) -> int:")
    assert (opened.start_line, opened.end_line) == (first.start_line, first.end_line)


async def test_an_unknown_project_is_not_found(client: AsyncClient) -> None:
    with pytest.raises(ClientError) as searched:
        await client.search("no-such-project", "cart")
    with pytest.raises(ClientError) as asked:
        async for _ in client.ask("no-such-project", "where is the cart?", extractive=True):
            pass

    assert searched.value.code == grpc.StatusCode.NOT_FOUND
    assert asked.value.code_name == "NOT_FOUND"


# ------------------------------------------------------------------ streams
async def test_extractive_ask_streams_an_answer_with_citations(client: AsyncClient) -> None:
    stream = client.ask(PROJECT, "How is the total price of the cart computed?", extractive=True)
    async with stream:
        events = [event async for event in stream]

    assert isinstance(stream, AsyncChatStream)
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "turn_started" and kinds[-1] == "done"
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    citations = [e.citation for e in events if e.HasField("citation")]
    assert citations and "shop/cart.py" in {c.citation.path for c in citations}
    assert "".join(e.answer_delta.text for e in events if e.HasField("answer_delta"))


async def test_cancel_after_an_event_ends_iteration_quietly(client: AsyncClient) -> None:
    stream = client.ask(PROJECT, "How are discounts applied?", extractive=True)
    first = await anext(stream)
    stream.cancel()
    rest = [event async for event in stream]

    assert first.HasField("turn_started")
    assert rest == [] and stream.cancelled


async def test_cancel_from_another_task_ends_a_waiting_iteration(
    client: AsyncClient, llm: FakeLlm, hanging_profile: str
) -> None:
    stream = client.ask(PROJECT, "Where is the cart?", hanging_profile)
    reader = asyncio.create_task(collect(stream))
    await until_llm_asked(llm)
    await asyncio.sleep(0)  # the reader is now waiting for the answer
    stream.cancel()

    events = await reader
    assert all(not event.HasField("done") for event in events)
    assert stream.cancelled


async def test_cancelling_the_reading_task_is_not_swallowed(
    client: AsyncClient, llm: FakeLlm, hanging_profile: str
) -> None:
    stream = client.ask(PROJECT, "Where is the cart?", hanging_profile)
    reader = asyncio.create_task(collect(stream))
    await until_llm_asked(llm)
    await asyncio.sleep(0)
    reader.cancel()

    with pytest.raises(asyncio.CancelledError):
        await reader
    assert not stream.cancelled


async def test_closing_the_client_fails_an_open_stream_as_cancelled(
    qa: IndexedProject, llm: FakeLlm, hanging_profile: str
) -> None:
    other = AsyncClient(*address_and_token(qa))
    stream = other.ask(PROJECT, "Where is the cart?", hanging_profile)
    reader = asyncio.create_task(collect(stream))
    await until_llm_asked(llm)
    await asyncio.sleep(0)
    await other.close()

    with pytest.raises(ClientError) as closed:
        await reader
    assert closed.value.code == grpc.StatusCode.CANCELLED


async def collect(stream: AsyncChatStream) -> list[chat_pb2.ChatEvent]:
    return [event async for event in stream]


# ------------------------------------------------------------------ same answers, sync
def sync_answers(address: str, token: str) -> dict[str, Any]:
    with Client(address, token) as qa:
        return {
            "projects": sorted(p.slug for p in qa.list_projects(page_size=1)),
            "symbols": [(s.name, s.path) for s in qa.find_symbol(PROJECT, "Cart", limit=5)],
            "member": qa.list_members(PROJECT).__next__().role,
        }


async def test_the_sync_client_gives_the_same_answers(
    client: AsyncClient, qa: IndexedProject
) -> None:
    expected = await asyncio.to_thread(sync_answers, *address_and_token(qa))

    projects = sorted([p.slug async for p in client.list_projects(page_size=1)])
    symbols = await client.find_symbol(PROJECT, "Cart", limit=5)
    members = [m async for m in client.list_members(PROJECT)]
    assert projects == expected["projects"]
    assert [(s.name, s.path) for s in symbols] == expected["symbols"]
    assert members[0].role == expected["member"] == common_pb2.PROJECT_ROLE_MEMBER
