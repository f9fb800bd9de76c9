"""Asks answered by an LLM (the fake OpenAI-compatible server): streaming and cancellation."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from projectqa.v1 import admin_pb2
from tests.fakes.llm_server import FakeLlm, Reply
from tests.service.retrieval_fixtures import PROJECT, IndexedProject

from .conftest import Bridge, connection_options, open_bridge

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUEST_CANCELLED = -32800
ANSWER = "The discount is applied by apply_discount [1], which rounds down to whole cents."


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlm]:
    with FakeLlm() as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(qa: IndexedProject, llm: FakeLlm) -> AsyncIterator[Bridge]:
    """A bridge on a project whose default LLM profile is the fake."""
    await qa.admin.admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            project=PROJECT,
            name="fake",
            provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
            base_url=llm.base_url,
            model="fake-model",
            api_key="sk-test-key",
            timeout_seconds=30,
            is_default=True,
        )
    )
    async with open_bridge(qa.shop, options=connection_options(qa)) as started:
        await started.wait_connected()
        yield started


@pytest.fixture
def fake(llm: FakeLlm) -> FakeLlm:
    llm.reset()
    return llm


def start_ask(bridge: Bridge, arguments: dict[str, Any]) -> tuple[str, asyncio.Future[Any]]:
    """Sends an ask without waiting; returns its message id and the future of its response."""
    msg_id = uuid.uuid4().hex
    params = types.ExecuteCommandParams(command="projectqa.ask", arguments=[arguments])
    future = bridge.client.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id
    )
    return msg_id, asyncio.wrap_future(future)


def cancel(bridge: Bridge, msg_id: str) -> None:
    bridge.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))


async def until(condition, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_the_answer_streams_as_chunks_before_the_response(
    bridge: Bridge, fake: FakeLlm
) -> None:
    fake.script(Reply(text=ANSWER, token_delay_s=0.01))
    bridge.chunks.clear()
    result = await bridge.command(
        "projectqa.ask", {"question": "How is the discount applied?", "askId": "llm-1"}
    )
    streamed = [c["text"] for c in bridge.chunks if c["askId"] == "llm-1"]
    assert len(streamed) > 1  # pieces, not one lump
    assert "".join(streamed) == ANSWER
    assert result["answer"].startswith(ANSWER)
    marked = [c for c in result["citations"] if c["marker"] == "[1]"]
    assert marked and marked[0]["verified"] is True and marked[0]["location"]


async def test_a_slow_ask_never_blocks_hover_or_symbols(bridge: Bridge, fake: FakeLlm) -> None:
    # The LLM answers once the symbols are back, not after a fixed delay: on a loaded machine
    # the symbols may take longer than any delay chosen here.
    symbols_back = threading.Event()

    def answer_after_the_symbols(body: dict[str, Any]) -> Reply:
        symbols_back.wait(60)
        return Reply(text=ANSWER)

    fake.handler = answer_after_the_symbols
    _, answer = start_ask(bridge, {"question": "What does the cart do?", "askId": "slow"})
    await until(lambda: fake.request_count >= 1)
    try:
        query = types.WorkspaceSymbolParams(query="Cart")
        symbols = await bridge.client.workspace_symbol_async(query)
        assert symbols and not answer.done()
    finally:
        symbols_back.set()
    result = await answer
    assert result["status"] == "completed"


async def test_cancel_during_the_answer_closes_the_llm_stream(
    bridge: Bridge, fake: FakeLlm
) -> None:
    fake.script(Reply(text="word " * 2000, token_delay_s=0.01))
    bridge.chunks.clear()
    msg_id, answer = start_ask(bridge, {"question": "Explain the cart", "askId": "cut"})
    await until(lambda: any(c["askId"] == "cut" for c in bridge.chunks))
    cancel(bridge, msg_id)
    with pytest.raises(JsonRpcException) as raised:
        await asyncio.wait_for(answer, 20)
    assert raised.value.code == REQUEST_CANCELLED
    assert await asyncio.to_thread(fake.wait_for_disconnect, 1, 20.0)


async def test_cancel_before_the_server_answers(bridge: Bridge, fake: FakeLlm) -> None:
    fake.script(Reply(text=ANSWER, first_token_delay_s=30.0))
    msg_id, answer = start_ask(bridge, {"question": "Explain the cart", "askId": "early"})
    cancel(bridge, msg_id)
    with pytest.raises(JsonRpcException) as raised:
        await asyncio.wait_for(answer, 20)
    assert raised.value.code == REQUEST_CANCELLED
    assert not [c for c in bridge.chunks if c["askId"] == "early"]
    assert (await bridge.status())["connected"] is True


async def test_an_llm_failure_is_a_request_failed_error(bridge: Bridge, fake: FakeLlm) -> None:
    fake.script(Reply(status=500), Reply(status=500), Reply(status=500), Reply(status=500))
    with pytest.raises(JsonRpcException) as raised:
        await bridge.command("projectqa.ask", {"question": "Explain the cart"})
    assert raised.value.code == -32803
    assert raised.value.message.startswith("the server could not answer")  # editors prefix it


async def test_extractive_overrides_the_llm(bridge: Bridge, fake: FakeLlm) -> None:
    result = await bridge.command(
        "projectqa.ask", {"question": "How is the discount applied?", "extractive": True}
    )
    assert fake.request_count == 0
    assert any(c["label"].startswith("shop/pricing.py:") for c in result["citations"])
