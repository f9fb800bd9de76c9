"""ChatService end to end: a real server, a real ingested project, an LLM faked over HTTP.

The fake (tests/fakes/llm_server.py) speaks the OpenAI chat completions wire
format — SSE chunks, tool-call deltas, usage, error bodies — and each test
scripts its replies. Extractive answers use the real embedding model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import struct_pb2

from projectqa.v1 import admin_pb2, chat_pb2
from tests.fakes.llm_server import FakeLlm, Reply
from tests.waiting import eventually

from .helpers import Code, rpc_error
from .retrieval_fixtures import (
    CART_PY,
    PROJECT,
    SECRET_TEXT,
    IndexedProject,
    definition_lines,
    indexed_project,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

MAX_STEPS = 4
AUTO, ASK, DENY = (
    chat_pb2.TOOL_PERMISSION_AUTO,
    chat_pb2.TOOL_PERMISSION_ASK,
    chat_pb2.TOOL_PERMISSION_DENY,
)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlm]:
    with FakeLlm() as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(
        tmp_path_factory, chat_max_steps=MAX_STEPS, chat_max_message_chars=2000
    ) as indexed:
        request = admin_pb2.SetProjectToolEnabledRequest(
            project=PROJECT, tool="probe_deploy", enabled=True
        )
        await indexed.admin.admin.SetProjectToolEnabled(request)
        yield indexed


@pytest.fixture
def fake(llm: FakeLlm) -> FakeLlm:
    """The module's fake LLM, with no replies queued and no requests remembered."""
    llm.reset()
    return llm


async def profile(qa: IndexedProject, base_url: str, timeout: int = 10, name: str = "") -> str:
    request = admin_pb2.CreateLlmProfileRequest(
        project=PROJECT,
        name=name or f"fake-{base_url.rsplit(':', 1)[-1].replace('/', '')}-{timeout}",
        provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
        base_url=base_url,
        model="fake-model",
        api_key="sk-test-key",
        timeout_seconds=timeout,
    )
    try:
        return (await qa.admin.admin.CreateLlmProfile(request)).profile.id
    except grpc.aio.AioRpcError:  # made by an earlier test of this module
        listed = await qa.admin.admin.ListLlmProfiles(
            admin_pb2.ListLlmProfilesRequest(project=PROJECT)
        )
        return next(p.id for p in listed.profiles if p.name == request.name)


async def new_chat(qa: IndexedProject, profile_id: str = "", caller: Any = None, **policy: int):
    caller = caller or qa.admin
    request = chat_pb2.CreateChatRequest(
        project=PROJECT, llm_profile_id=profile_id, tool_policy=policy
    )
    return (await caller.chat.CreateChat(request)).chat


async def events_of(call: Any) -> list[chat_pb2.ChatEvent]:
    return [event async for event in call]


def kinds(events: list[chat_pb2.ChatEvent]) -> list[str]:
    return [e.WhichOneof("event") for e in events]


def answer_of(events: list[chat_pb2.ChatEvent]) -> str:
    return "".join(e.answer_delta.text for e in events if e.HasField("answer_delta"))


def check_stream(events: list[chat_pb2.ChatEvent]) -> None:
    """Every stream starts with turn_started, numbers its events and ends once."""
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert kinds(events)[0] == "turn_started"
    ends = [k for k in kinds(events) if k in ("done", "error")]
    assert len(ends) == 1 and kinds(events)[-1] == ends[0], kinds(events)


async def send(qa: IndexedProject, chat_id: str, text: str, caller: Any = None):
    caller = caller or qa.admin
    events = await events_of(
        caller.chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat_id, content=text))
    )
    check_stream(events)
    return events


# ------------------------------------------------------------------------ extractive
async def test_ask_answers_extractively_with_citations_of_the_real_lines(qa: IndexedProject):
    request = chat_pb2.AskRequest(project=PROJECT, question="How do I add an item to the cart?")
    events = await events_of(qa.member.chat.Ask(request))
    check_stream(events)
    assert events[0].turn_started.model == "extractive"
    done = events[-1].done
    assert done.status == chat_pb2.TURN_STATUS_COMPLETE
    assert answer_of(events) == done.answer and done.answer
    citations = [e.citation for e in events if e.HasField("citation")]
    assert citations and all(c.verified for c in citations)
    first, last = definition_lines(CART_PY, "Cart.add_item")
    cart = [c.citation for c in citations if c.citation.path == "shop/cart.py"]
    assert any(c.start_line <= last and c.end_line >= first for c in cart), citations
    assert f"`{cart[0].label}`" in done.answer or cart[0].label in done.answer


async def test_a_chat_keeps_its_turns_and_lists_for_its_owner_only(qa: IndexedProject):
    chat = await new_chat(qa, caller=qa.member)
    events = await send(qa, chat.id, "How is a price parsed?", caller=qa.member)
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    got = await qa.member.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    roles = [m.role for m in got.messages]
    assert roles == [chat_pb2.MESSAGE_ROLE_USER, chat_pb2.MESSAGE_ROLE_ASSISTANT]
    assert got.messages[1].id == events[-1].done.message_id
    assert got.messages[1].citations and got.messages[1].model == "extractive"
    assert got.chat.title == "How is a price parsed?" and got.chat.turn_count == 1
    listed = await qa.member.chat.ListChats(chat_pb2.ListChatsRequest(project=PROJECT))
    assert chat.id in [c.id for c in listed.chats]
    others = await qa.admin.chat.ListChats(chat_pb2.ListChatsRequest())
    assert chat.id not in [c.id for c in others.chats]
    for caller in (qa.admin, qa.outsider):  # someone else's chat is not there at all
        await rpc_error(
            caller.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id)), Code.NOT_FOUND, chat.id
        )
    await qa.member.chat.DeleteChat(chat_pb2.DeleteChatRequest(chat_id=chat.id))
    await rpc_error(
        qa.member.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id)), Code.NOT_FOUND
    )


# --------------------------------------------------------------------------- the LLM
async def test_a_streamed_llm_answer_cites_the_retrieved_sources(qa, fake):
    # Paced like a real model, so the relay keeps up and each token is its own event
    # (text that piles up behind a slow client is merged).
    fake.script(
        Reply(text="Call `Cart.add_item` with the SKU and a quantity [1].", token_delay_s=0.02)
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "How do I add an item to the cart?")
    assert events[0].turn_started.model == "fake-model"
    assert answer_of(events) == "Call `Cart.add_item` with the SKU and a quantity [1]."
    assert len([k for k in kinds(events) if k == "answer_delta"]) > 3  # really streamed
    citation = next(e.citation for e in events if e.HasField("citation"))
    assert citation.verified and citation.marker == 1
    assert any(e.usage.completion_tokens > 0 for e in events if e.HasField("usage"))
    sent = fake.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    body = sent.body
    assert body["model"] == "fake-model" and body["stream"] is True
    offered = {t["function"]["name"] for t in body["tools"]}
    assert {"search", "grep", "open_file", "find_symbol", "ask_clarifying_question"} <= offered
    assert "probe_deploy" in offered  # side effects: offered, but the chat asks first
    assert "[1] shop/" in body["messages"][-1]["content"]  # retrieved before the LLM ran


async def test_the_agent_uses_tools_then_answers_citing_what_it_opened(qa, fake):
    fake.script(
        Reply(
            tool_calls=[("open_file", {"path": "shop/pricing.py", "start_line": 1, "end_line": 30})]
        ),
        Reply(tool_calls=[("grep", {"pattern": "def parse_price"})]),
        Reply(text="`parse_price` is at `shop/pricing.py:1-8`; also see `shop/nowhere.py:3`."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "Where is parse_price?")
    assert kinds(events).count("tool_call_started") == 2
    results = [e.tool_result for e in events if e.HasField("tool_result")]
    assert [r.name for r in results] == ["open_file", "grep"]
    assert not any(r.is_error for r in results)
    assert "shop/pricing.py:1-" in results[0].summary and "match" in results[1].summary
    citations = {e.citation.citation.path: e.citation for e in events if e.HasField("citation")}
    assert citations["shop/pricing.py"].verified
    assert not citations["shop/nowhere.py"].verified  # never seen: flagged
    tool_messages = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert "def parse_price" in tool_messages[0]["content"]
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert [m.role for m in got.messages].count(chat_pb2.MESSAGE_ROLE_TOOL) == 2


async def test_a_call_needing_approval_pauses_and_resumes_when_approved(qa, fake):
    fake.script(
        Reply(tool_calls=[("probe_deploy", {"target": "staging"})]),
        Reply(text="Deployed to staging."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "Deploy to staging please")
    assert kinds(events)[-2:] == ["approval_required", "done"]
    assert events[-1].done.status == chat_pb2.TURN_STATUS_PAUSED
    call = events[-2].approval_required.calls[0]
    assert call.name == "probe_deploy" and dict(call.arguments) == {"target": "staging"}
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert [c.id for c in got.pending_tool_calls] == [call.id]
    await rpc_error(
        events_of(
            qa.admin.chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat.id, content="hi"))
        ),
        Code.FAILED_PRECONDITION,
        call.id,
        "probe_deploy",
    )
    approve = chat_pb2.ResolveToolCallsRequest(
        chat_id=chat.id, decisions=[chat_pb2.ToolCallDecision(tool_call_id=call.id, approve=True)]
    )
    resumed = await events_of(qa.admin.chat.ResolveToolCalls(approve))
    check_stream(resumed)
    assert kinds(resumed)[1:3] == ["tool_call_started", "tool_result"]
    assert not resumed[2].tool_result.is_error
    assert answer_of(resumed) == "Deployed to staging."
    assert resumed[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    again = qa.admin.chat.ResolveToolCalls(approve)
    await rpc_error(events_of(again), Code.FAILED_PRECONDITION, call.id)
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert not got.pending_tool_calls and got.messages[-1].content == "Deployed to staging."


async def test_a_denied_approval_is_reported_to_the_model(qa, fake):
    fake.script(
        Reply(tool_calls=[("probe_deploy", {"target": "prod"})]),
        Reply(text="I did not deploy."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    call = (await send(qa, chat.id, "Deploy to prod"))[-2].approval_required.calls[0]
    deny = chat_pb2.ResolveToolCallsRequest(
        chat_id=chat.id, decisions=[chat_pb2.ToolCallDecision(tool_call_id=call.id)]
    )
    resumed = await events_of(qa.admin.chat.ResolveToolCalls(deny))
    result = next(e.tool_result for e in resumed if e.HasField("tool_result"))
    assert result.is_error and "denied" in result.summary
    assert "tool_call_started" not in kinds(resumed)
    tool_message = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"][-1]
    assert "denied" in tool_message["content"]


async def test_a_paused_turn_resumes_on_another_server(qa, fake, tmp_path):
    from projectqa.server.app import create_server
    from projectqa.server.config import Settings

    from .helpers import bearer_interceptors
    from .retrieval_fixtures import _caller  # the same stubs, on the second server

    fake.script(Reply(tool_calls=[("probe_deploy", {"target": "qa"})]), Reply(text="Done."))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    call = (await send(qa, chat.id, "Deploy to qa"))[-2].approval_required.calls[0]
    settings = Settings(
        data_dir=qa.server.settings.data_dir, listen_address="127.0.0.1:0", plugins=["local"]
    )
    other, port = await create_server(settings, extra_plugins=[("probe", qa.probe)])
    token = settings.admin_token_path.read_text(encoding="utf-8").strip()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", interceptors=bearer_interceptors(token)
    )
    try:
        approve = chat_pb2.ResolveToolCallsRequest(
            chat_id=chat.id,
            decisions=[chat_pb2.ToolCallDecision(tool_call_id=call.id, approve=True)],
        )
        resumed = await events_of(_caller(channel).chat.ResolveToolCalls(approve))
        check_stream(resumed)
        assert answer_of(resumed) == "Done."
    finally:
        await channel.close()
        await other.stop(0)


async def test_a_denied_tool_is_neither_offered_nor_run(qa, fake):
    fake.script(Reply(tool_calls=[("grep", {"pattern": "Cart"})]), Reply(text="No grep."))
    chat = await new_chat(qa, await profile(qa, fake.base_url), grep=DENY)
    assert chat.tool_policy.effective["grep"] == DENY
    assert chat.tool_policy.effective["probe_deploy"] == ASK
    assert chat.tool_policy.effective["open_file"] == AUTO
    events = await send(qa, chat.id, "grep for Cart")
    result = next(e.tool_result for e in events if e.HasField("tool_result"))
    assert result.is_error and "denies" in result.summary
    assert "tool_call_started" not in kinds(events)
    assert "grep" not in {t["function"]["name"] for t in fake.requests[0].body["tools"]}
    changed = await qa.admin.chat.SetToolPolicy(
        chat_pb2.SetToolPolicyRequest(chat_id=chat.id, tools={"grep": 0, "open_file": DENY})
    )
    assert changed.tool_policy.effective["grep"] == AUTO
    assert dict(changed.tool_policy.tools) == {"open_file": DENY}


async def test_an_unknown_tool_call_is_reported_never_run(qa, fake):
    fake.script(Reply(tool_calls=[("rm_rf", {"path": "/"})]), Reply(text="Sorry."))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "delete everything")
    result = next(e.tool_result for e in events if e.HasField("tool_result"))
    assert result.is_error and "unknown tool" in result.summary
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE


async def test_a_path_escape_through_open_file_is_refused(qa, fake):
    fake.script(
        Reply(
            tool_calls=[
                ("open_file", {"path": "../secret.txt"}),
                ("open_file", {"path": "shop/leak.txt"}),
            ]
        ),
        Reply(text="I could not open it."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "show me ../secret.txt")
    results = [e.tool_result for e in events if e.HasField("tool_result")]
    assert len(results) == 2 and all(r.is_error for r in results)
    sent = json.dumps(fake.requests[-1].body)
    assert SECRET_TEXT.strip() not in sent


async def test_ask_does_not_offer_tools_that_need_approval(qa, fake):
    fake.script(Reply(tool_calls=[("probe_deploy", {})]), Reply(text="Cannot."))
    profile_id = await profile(qa, fake.base_url)
    request = chat_pb2.AskRequest(project=PROJECT, question="deploy", llm_profile_id=profile_id)
    events = await events_of(qa.admin.chat.Ask(request))
    check_stream(events)
    offered = {t["function"]["name"] for t in fake.requests[0].body["tools"]}
    assert "probe_deploy" not in offered and "ask_clarifying_question" not in offered
    result = next(e.tool_result for e in events if e.HasField("tool_result"))
    assert result.is_error and "approval" in result.summary
    assert events[-1].done.message_id == ""  # nothing stored


async def test_the_last_step_must_answer(qa, fake):
    fake.script(
        *[Reply(tool_calls=[("find_symbol", {"name": "Cart"})])] * (MAX_STEPS - 1),
        Reply(text="Cart is a class."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "what is Cart?")
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    assert len(fake.requests) == MAX_STEPS
    assert "tools" not in fake.requests[-1].body


async def test_a_clarifying_question_is_stored_and_answered_by_the_next_message(qa, fake):
    fake.script(
        Reply(tool_calls=[("ask_clarifying_question", {"question": "Which cart, web or API?"})]),
        Reply(text="The web cart is `Cart` [1]."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "How does the cart work?")
    assert events[-2].clarifying_question.question == "Which cart, web or API?"
    assert events[-1].done.status == chat_pb2.TURN_STATUS_CLARIFYING
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert list(got.pending_questions) == ["Which cart, web or API?"]
    await send(qa, chat.id, "the web one")
    prompt = fake.requests[-1].body["messages"][-1]["content"]
    assert "Which cart, web or API?" in prompt and "the web one" in prompt
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert not got.pending_questions


# ------------------------------------------------------------------------- failures
async def test_an_llm_timeout_fails_the_turn_and_the_chat_stays_usable(qa, fake):
    fake.script(
        Reply(text="late", hang_s=4),
        Reply(text="late", hang_s=4),
        Reply(text="late", hang_s=4),
        Reply(text="Now it works."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url, timeout=1))
    events = await send(qa, chat.id, "slow question")
    assert events[-1].error.reason == "llm_timeout"
    assert "fake-model" in events[-1].error.message or fake.base_url in events[-1].error.message
    events = await send(qa, chat.id, "try again")
    assert answer_of(events) == "Now it works."
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert got.chat.turn_count == 2
    assert any(
        "llm_timeout" in m.content for m in got.messages if m.role == chat_pb2.MESSAGE_ROLE_SYSTEM
    )


async def test_a_429_is_retried(qa, fake):
    fake.script(
        Reply(status=429, error_message="slow down", headers={"retry-after-ms": "10"}),
        Reply(text="Fine now."),
    )
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "anything")
    assert answer_of(events) == "Fine now." and len(fake.requests) == 2


async def test_a_malformed_stream_is_a_clear_error(qa, fake):
    fake.script(Reply(text="half an answer and then garbage", malformed=True))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "anything")
    assert events[-1].error.reason == "llm_bad_response"


async def test_an_unreachable_endpoint_is_a_chat_error_event(qa):
    chat = await new_chat(qa, await profile(qa, "http://127.0.0.1:9/v1", timeout=2))
    events = await send(qa, chat.id, "anyone there?")
    assert events[-1].error.reason == "llm_unreachable"
    assert "sk-test-key" not in events[-1].error.message
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert got.chat.turn_count == 1


async def test_a_client_cancel_mid_answer_records_the_turn_as_interrupted(qa, fake):
    fake.script(Reply(text="word " * 200, token_delay_s=0.05), Reply(text="Next."))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    call = qa.admin.chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat.id, content="go"))
    deltas = 0
    async for event in call:
        deltas += event.HasField("answer_delta")
        if deltas == 3:
            call.cancel()
            break
    for _ in range(100):  # the server stores the interruption right after the cancel
        got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
        if got.chat.turn_count:
            break
        await asyncio.sleep(0.05)
    assert got.messages[-1].role == chat_pb2.MESSAGE_ROLE_SYSTEM
    assert "interrupted" in got.messages[-1].content
    assert await asyncio.to_thread(fake.wait_for_disconnect)  # the LLM request was closed
    assert answer_of(await send(qa, chat.id, "again")) == "Next."


NAP = "577.125"  # a sleep no other process runs, to find it by its arguments


def napping() -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            program, _, rest = cmdline.read_bytes().partition(b"\0")
            if program.endswith(b"sleep") and rest.startswith(NAP.encode() + b"\0"):
                return True
    return False


async def test_a_cancel_during_a_tool_call_stops_the_tool(qa, fake):
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "properties": {}})
    tool = admin_pb2.CustomTool(
        name="nap",
        description="Sleeps",
        command=["sleep", NAP],
        arguments_schema=schema,
        timeout_seconds=120,
        enabled=True,
    )
    await qa.admin.admin.CreateCustomTool(
        admin_pb2.CreateCustomToolRequest(project=PROJECT, tool=tool)
    )
    fake.script(Reply(tool_calls=[("nap", {})]))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    call = qa.admin.chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat.id, content="nap"))
    async for event in call:
        if event.HasField("tool_call_started"):
            break
    assert await eventually(napping)
    call.cancel()
    assert await eventually(lambda: not napping())  # its process group was killed
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert "interrupted" in got.messages[-1].content


# ------------------------------------------------------------------------- bad input
async def test_bad_messages_and_ids_are_refused(qa):
    chat = await new_chat(qa)
    bad = [
        (chat.id, "", Code.INVALID_ARGUMENT, "content"),
        (chat.id, "   \n ", Code.INVALID_ARGUMENT, "content"),
        (chat.id, "x" * 2001, Code.INVALID_ARGUMENT, "content"),
        ("chat_nope", "hello", Code.NOT_FOUND, "chat_nope"),
        ("", "hello", Code.INVALID_ARGUMENT, "chat_id"),
    ]
    for chat_id, content, code, fragment in bad:
        request = chat_pb2.SendMessageRequest(chat_id=chat_id, content=content)
        await rpc_error(events_of(qa.admin.chat.SendMessage(request)), code, fragment)
    await rpc_error(
        events_of(qa.admin.chat.Ask(chat_pb2.AskRequest(project=PROJECT, question=""))),
        Code.INVALID_ARGUMENT,
        "question",
    )
    nothing = chat_pb2.ResolveToolCallsRequest(
        chat_id=chat.id, decisions=[chat_pb2.ToolCallDecision(tool_call_id="call_x")]
    )
    await rpc_error(
        events_of(qa.admin.chat.ResolveToolCalls(nothing)), Code.FAILED_PRECONDITION, "call_x"
    )
    await rpc_error(
        qa.admin.chat.SetToolPolicy(
            chat_pb2.SetToolPolicyRequest(chat_id=chat.id, tools={"no_such_tool": AUTO})
        ),
        Code.INVALID_ARGUMENT,
        "tools.no_such_tool",
    )
    await rpc_error(
        qa.admin.chat.CreateChat(
            chat_pb2.CreateChatRequest(project=PROJECT, llm_profile_id="llm_missing")
        ),
        Code.NOT_FOUND,
        "llm_missing",
    )
    await rpc_error(
        qa.outsider.chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT)),
        Code.NOT_FOUND,
    )


# --------------------------------------------------------------------------- memory
async def test_long_history_is_folded_into_the_memory_summary(qa, fake):
    long_answer = "The cart keeps items by SKU. " * 200  # about 1,500 tokens a turn
    fake.script(*[Reply(text=long_answer)] * 3)
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    for n in range(3):
        await send(qa, chat.id, f"question {n} about the cart")
    fake.script(Reply(text="SUMMARY: three questions about the cart."), Reply(text="Short."))
    await send(qa, chat.id, "and the fourth?")
    summarize, answer = fake.requests[-2].body, fake.requests[-1].body
    assert not summarize.get("stream") and "question 0 about the cart" in json.dumps(summarize)
    system = answer["messages"][0]["content"]
    assert "SUMMARY: three questions about the cart." in system
    history = json.dumps(answer["messages"][1:-1])
    assert "question 0 about the cart" not in history  # folded, not repeated
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert got.memory_summary == "SUMMARY: three questions about the cart."
    assert len(got.messages) == 8  # folding keeps every message for people to read


async def test_a_call_approved_after_its_tool_was_denied_is_still_refused(qa, fake):
    fake.script(Reply(tool_calls=[("probe_deploy", {"target": "prod"})]), Reply(text="Ok."))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    call = (await send(qa, chat.id, "Deploy"))[-2].approval_required.calls[0]
    await qa.admin.chat.SetToolPolicy(
        chat_pb2.SetToolPolicyRequest(chat_id=chat.id, tools={"probe_deploy": DENY})
    )
    approve = chat_pb2.ResolveToolCallsRequest(
        chat_id=chat.id, decisions=[chat_pb2.ToolCallDecision(tool_call_id=call.id, approve=True)]
    )
    resumed = await events_of(qa.admin.chat.ResolveToolCalls(approve))
    assert "tool_call_started" not in kinds(resumed)
    result = next(e.tool_result for e in resumed if e.HasField("tool_result"))
    assert result.is_error and "denies" in result.summary


async def test_arguments_no_struct_can_hold_are_refused_and_the_chat_stays_readable(qa, fake):
    huge = '{"path": "shop/cart.py", "start_line": 1' + "0" * 400 + "}"
    fake.script(Reply(tool_calls=[("open_file", huge)]), Reply(text="Sorry."))
    chat = await new_chat(qa, await profile(qa, fake.base_url))
    events = await send(qa, chat.id, "open it")
    result = next(e.tool_result for e in events if e.HasField("tool_result"))
    assert result.is_error and "JSON object of plain values" in result.summary
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    got = await qa.admin.chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat.id))
    assert got.messages[1].tool_calls[0].name == "open_file"
