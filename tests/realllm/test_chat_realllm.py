"""Chat end to end against a real OpenAI-compatible server (llama-cpp-python + SmolLM2-135M).

The real gRPC server, a real ingested project and the generated stubs, as in
tests/service/test_chat.py; only the LLM is real instead of the fake. A 135M
model answers badly, so the tests steer it (temperature 0, "reply exactly
…") and check the protocol, never the prose: a streamed answer whose citation
is verified, a tool call written as text that goes round trip through an
approval (both ways) and back to the server, a cancel that closes the peer's
request, and a prompt over the model's context reported as such.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from projectqa.server.tools import builtins
from projectqa.v1 import admin_pb2, chat_pb2
from tests.service.retrieval_fixtures import PROJECT, IndexedProject, indexed_project
from tests.service.test_chat import answer_of, check_stream, events_of, kinds, new_chat, send
from tests.waiting import eventually

from .peer import Peer

pytestmark = [
    pytest.mark.realllm,
    pytest.mark.model,
    pytest.mark.asyncio(loop_scope="module"),
]

# The server's budget, well inside the peer's 2,048 tokens: a 135M model copies what it is
# asked to only when the retrieved sources around the request stay short. The tool tests'
# chats deny the built-in tools, so the one tool they offer fits the budget too.
CONTEXT_TOKENS = 1000
BUILTINS_DENIED = {name: chat_pb2.TOOL_PERMISSION_DENY for name in builtins.BUILTINS}
ANSWER_TOKENS = 40  # short answers keep a CPU-bound model quick
SMALL_N_CTX = 512  # a peer the turn's prompt cannot fit
DEPLOY = '<tool_call>{"name": "probe_deploy", "arguments": {"target": "staging"}}</tool_call>'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(
    llm_peer: Peer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[IndexedProject]:
    """The project, served with chat limits that fit the peer (the peer first: without it,
    the tier skips before paying for an ingestion)."""
    async with indexed_project(
        tmp_path_factory, chat_max_steps=3, chat_context_tokens=CONTEXT_TOKENS
    ) as indexed:
        request = admin_pb2.SetProjectToolEnabledRequest(
            project=PROJECT, tool="probe_deploy", enabled=True
        )
        await indexed.admin.admin.SetProjectToolEnabled(request)
        yield indexed


@pytest.fixture(scope="module")
def peer_profile(qa: IndexedProject) -> Callable[..., Awaitable[str]]:
    """``await peer_profile(peer, max_output_tokens)``: the id of an OPENAI_COMPATIBLE profile
    for ``peer`` with greedy decoding (so the steering holds), made once per module."""
    made: dict[tuple[int, int], str] = {}

    async def profile_id(peer: Peer, max_output_tokens: int = ANSWER_TOKENS) -> str:
        key = (peer.port, max_output_tokens)
        if key not in made:
            request = admin_pb2.CreateLlmProfileRequest(
                project=PROJECT,
                name=f"peer-{peer.port}-{max_output_tokens}",
                provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
                base_url=peer.base_url,
                model=peer.model_id,
                temperature=0,
                max_output_tokens=max_output_tokens,
                timeout_seconds=120,  # a busy machine; a real hang still ends the turn
            )
            made[key] = (await qa.admin.admin.CreateLlmProfile(request)).profile.id
        return made[key]

    return profile_id


def completion_statuses(peer: Peer) -> list[str]:
    """The HTTP status of every chat completion the peer answered, from its access log."""
    return re.findall(r'"POST /v1/chat/completions HTTP/1\.1" (\d{3})', peer.log_text())


# --------------------------------------------------------------------------- answers
async def test_a_streamed_answer_cites_a_retrieved_source(qa, llm_peer, peer_profile):
    chat = await new_chat(qa, await peer_profile(llm_peer))
    # A 135M model copies a source's label after "[1]" far more reliably than it repeats a
    # sentence: the sentence steer broke when stemming moved which passages come first.
    events = await send(qa, chat.id, "Reply exactly: See [1].")
    assert events[0].turn_started.model == llm_peer.model_id
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE, events[-1]
    assert kinds(events).count("answer_delta") > 1, answer_of(events)  # streamed, token by token
    citations = [e.citation for e in events if e.HasField("citation")]
    assert any(c.verified and c.marker == 1 for c in citations), (answer_of(events), citations)
    usage = [e.usage for e in events if e.HasField("usage")]
    assert usage and usage[-1].prompt_tokens > 0 and usage[-1].completion_tokens > 0


# ----------------------------------------------------------------------------- tools
async def paused_on_a_textual_call(qa: IndexedProject, profile_id: str) -> tuple[str, str]:
    """A turn whose model wrote a tool call as text (llama-cpp-python cannot stream
    structured calls): it must pause for approval, the call never shown as answer text.
    Returns the chat and the call's id."""
    chat = await new_chat(qa, profile_id, **BUILTINS_DENIED)
    events = await send(qa, chat.id, f"Reply exactly: {DEPLOY}")
    assert "<tool_call>" not in answer_of(events)
    assert kinds(events)[-2:] == ["approval_required", "done"], (kinds(events), events[-1])
    assert events[-1].done.status == chat_pb2.TURN_STATUS_PAUSED
    call = events[-2].approval_required.calls[0]
    assert call.name == "probe_deploy" and dict(call.arguments) == {"target": "staging"}
    return chat.id, call.id


async def resolve(qa: IndexedProject, chat_id: str, call_id: str, approve: bool):
    decision = chat_pb2.ToolCallDecision(tool_call_id=call_id, approve=approve)
    request = chat_pb2.ResolveToolCallsRequest(chat_id=chat_id, decisions=[decision])
    events = await events_of(qa.admin.chat.ResolveToolCalls(request))
    check_stream(events)
    return events


def assert_the_peer_took_the_tool_result(events: list, peer: Peer, answered_before: int) -> None:
    """The model was called again with the tool's result, and the real server accepted it
    (llama-cpp-python refused an assistant message with ``"content": null`` with HTTP 500)."""
    assert events[-1].HasField("done"), events[-1]
    after = completion_statuses(peer)[answered_before:]
    assert after and set(after) == {"200"}, after


async def test_an_approved_textual_tool_call_runs_and_its_result_reaches_the_peer(
    qa, tool_peer, peer_profile
):
    chat_id, call_id = await paused_on_a_textual_call(qa, await peer_profile(tool_peer))
    answered = len(completion_statuses(tool_peer))
    resumed = await resolve(qa, chat_id, call_id, approve=True)
    assert kinds(resumed)[1:3] == ["tool_call_started", "tool_result"], kinds(resumed)
    result = resumed[2].tool_result
    assert result.name == "probe_deploy" and not result.is_error, result
    assert_the_peer_took_the_tool_result(resumed, tool_peer, answered)
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert chat_pb2.MESSAGE_ROLE_TOOL in [m.role for m in got.messages]


async def test_a_denied_textual_tool_call_is_reported_to_the_peer(qa, tool_peer, peer_profile):
    chat_id, call_id = await paused_on_a_textual_call(qa, await peer_profile(tool_peer))
    answered = len(completion_statuses(tool_peer))
    resumed = await resolve(qa, chat_id, call_id, approve=False)
    assert "tool_call_started" not in kinds(resumed)
    result = next(e.tool_result for e in resumed if e.HasField("tool_result"))
    assert result.is_error and "denied" in result.summary
    assert_the_peer_took_the_tool_result(resumed, tool_peer, answered)


# ------------------------------------------------------------------------ cancelling
async def test_a_cancel_mid_answer_closes_the_peers_request(qa, llm_peer, peer_profile):
    chat = await new_chat(qa, await peer_profile(llm_peer, max_output_tokens=300))
    disconnects = llm_peer.log_text().count("Disconnected from client")
    ask = "Count from 1 to 300, one number per line."
    call = qa.admin.chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat.id, content=ask))
    async for event in call:
        if event.HasField("answer_delta"):
            call.cancel()  # mid-answer: hundreds of tokens are still to come
            break
    # llama-cpp-python notices a closed connection after its next token and says so:
    # without the close, it would generate the other tokens to a socket nobody reads.
    assert await eventually(
        lambda: llm_peer.log_text().count("Disconnected from client") > disconnects
    ), llm_peer.log_text()[-2000:]
    events = await send(qa, chat.id, "Reply exactly: Done [1].")  # the peer serves the next
    assert events[-1].HasField("done"), events[-1]
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert any("interrupted" in m.content for m in got.messages)


# -------------------------------------------------------------------------- overflow
async def test_a_prompt_over_the_models_context_is_a_context_overflow(qa, llm_peers, peer_profile):
    small = llm_peers(SMALL_N_CTX)
    chat = await new_chat(qa, await peer_profile(small))
    question = "Explain how the cart, its prices and its discounts work together. " * 12
    events = await send(qa, chat.id, question)
    error = events[-1].error
    assert error.reason == "context_overflow", events[-1]
    numbers = [int(n) for n in re.findall(r"\d+", error.message.replace(",", ""))]
    assert SMALL_N_CTX in numbers, error.message  # the peer's context, as the peer said it
    assert any(n > SMALL_N_CTX for n in numbers), error.message  # and the prompt's size
