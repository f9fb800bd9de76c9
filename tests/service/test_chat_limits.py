"""ChatService on a fresh server per test (SQLite and MongoDB): limits, LLM resolution,
visibility and paging; what goes on the wire to the LLM, memory folds, failures mid-answer.
Nothing here is ingested, so no test needs the embedding model: retrieval finds nothing and
the turn goes on with the tools alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from projectqa.v1 import admin_pb2, chat_pb2, chat_pb2_grpc, common_pb2
from tests.fakes.llm_server import FakeLlm, Reply, ToolCall

from .conftest import RunningServer
from .helpers import Code, bearer_interceptors, rpc_error

PROJECT = "alpha"


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with FakeLlm() as llm:
        yield llm


@pytest.fixture
async def chat_stub() -> AsyncIterator[Callable[[RunningServer, str], Any]]:
    channels: list[grpc.aio.Channel] = []

    def stub(server: RunningServer, token: str) -> chat_pb2_grpc.ChatServiceStub:
        channel = grpc.aio.insecure_channel(server.address, interceptors=bearer_interceptors(token))
        channels.append(channel)
        return chat_pb2_grpc.ChatServiceStub(channel)

    yield stub
    for channel in channels:
        await channel.close()


async def setup(
    start_server: Callable[..., Awaitable[RunningServer]],
    connect: Callable[..., Any],
    chat_stub: Callable[[RunningServer, str], Any],
    **settings: Any,
) -> tuple[RunningServer, Any, Any]:
    server = await start_server(**settings)
    admin = connect(server.admin_token, server.address)
    await admin.CreateProject(admin_pb2.CreateProjectRequest(slug=PROJECT, name="Alpha"))
    return server, admin, chat_stub(server, server.admin_token)


async def fake_profile(admin: Any, fake: FakeLlm, name: str = "fake", **fields: Any) -> str:
    request = admin_pb2.CreateLlmProfileRequest(
        project=fields.pop("project", PROJECT),
        name=name,
        provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
        base_url=fake.base_url,
        model=fields.pop("model", "fake-model"),
        api_key="sk-profile",
        **fields,
    )
    return (await admin.CreateLlmProfile(request)).profile.id


async def turn(chat: Any, chat_id: str, text: str = "How does it work?") -> list[Any]:
    request = chat_pb2.SendMessageRequest(chat_id=chat_id, content=text)
    return [event async for event in chat.SendMessage(request)]


async def test_a_turn_past_its_time_limit_fails_and_is_stored(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_turn_timeout_s=1)
    profile_id = await fake_profile(admin, fake, timeout_seconds=30)
    fake.script(Reply(text="too late", hang_s=3))
    created = await chat.CreateChat(
        chat_pb2.CreateChatRequest(project=PROJECT, llm_profile_id=profile_id)
    )
    events = await turn(chat, created.chat.id)
    assert events[-1].error.reason == "limit_exceeded"
    assert "PROJECTQA_CHAT_TURN_TIMEOUT_S" in events[-1].error.message
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=created.chat.id))
    assert got.messages[-1].role == chat_pb2.MESSAGE_ROLE_SYSTEM


async def test_a_turn_past_its_token_limit_fails(start_server, connect, chat_stub, fake):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_max_turn_tokens=1000)
    await fake_profile(admin, fake, is_default=True)
    fake.script(Reply(tool_calls=[("project_metadata", {})], usage=(5000, 20)))
    created = await chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT))
    events = await turn(chat, created.chat.id)
    assert events[-1].error.reason == "limit_exceeded"
    assert "5020 tokens" in events[-1].error.message
    assert len(fake.requests) == 1


async def test_the_token_limit_counts_estimated_usage_when_none_is_reported(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_max_turn_tokens=1000)
    await fake_profile(admin, fake, is_default=True)
    # As llama.cpp servers stream: no usage chunk, even when asked for one.
    fake.script(Reply(tool_calls=[("project_metadata", {})], stream_usage=False))
    created = await chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT))
    events = await turn(chat, created.chat.id)
    assert events[-1].error.reason == "limit_exceeded"
    assert "estimated" in events[-1].error.message
    assert len(fake.requests) == 1
    usage = [e.usage for e in events if e.HasField("usage")][-1]
    assert usage.prompt_tokens > 1000  # instructions and tool specs, counted here


async def test_a_project_never_indexed_still_gets_answers(start_server, connect, chat_stub, fake):
    _, admin, chat = await setup(start_server, connect, chat_stub)
    await fake_profile(admin, fake, is_default=True)
    fake.script(Reply(text="Nothing is indexed yet."))
    created = await chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT))
    events = await turn(chat, created.chat.id)
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    assert "No indexed source matched" in fake.requests[0].body["messages"][-1]["content"]


async def test_extractive_mode_asks_when_nothing_is_indexed(start_server, connect, chat_stub):
    _, _, chat = await setup(start_server, connect, chat_stub)
    ask = chat_pb2.AskRequest(project=PROJECT, question="Where is the cart total computed?")
    events = [event async for event in chat.Ask(ask)]
    assert events[0].turn_started.model == "extractive"
    assert "cart total computed" in events[-2].clarifying_question.question
    assert events[-1].done.status == chat_pb2.TURN_STATUS_CLARIFYING


async def test_llm_resolution_chat_then_project_then_global_then_environment(
    start_server, connect, chat_stub, fake, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-environment")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    _, admin, chat = await setup(start_server, connect, chat_stub, llm_model="env-model")

    async def model_used(profile_id: str = "") -> tuple[str, str]:
        ask = chat_pb2.AskRequest(
            project=PROJECT, question="which model?", llm_profile_id=profile_id
        )
        events = [event async for event in chat.Ask(ask)]
        return events[0].turn_started.model, fake.requests[-1].authorization

    assert await model_used() == ("env-model", "Bearer sk-environment")
    await fake_profile(admin, fake, "global", project="", model="global-model", is_default=True)
    assert (await model_used())[0] == "global-model"
    await fake_profile(admin, fake, "project", model="project-model", is_default=True)
    assert await model_used() == ("project-model", "Bearer sk-profile")
    chosen = await fake_profile(admin, fake, "chosen", model="chosen-model")
    assert (await model_used(chosen))[0] == "chosen-model"
    ask = chat_pb2.AskRequest(project=PROJECT, question="which model?", extractive=True)
    events = [e async for e in chat.Ask(ask)]
    assert events[0].turn_started.model == "extractive"


async def test_chats_are_private_and_go_with_their_project(start_server, connect, chat_stub):
    server, admin, _ = await setup(start_server, connect, chat_stub)
    await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))
    issued = await admin.CreateToken(admin_pb2.CreateTokenRequest(user="bob"))
    member = common_pb2.PROJECT_ROLE_MEMBER
    await admin.AddMember(admin_pb2.AddMemberRequest(project=PROJECT, user="bob", role=member))
    bobs = chat_stub(server, issued.secret)
    mine = (await bobs.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT))).chat
    listed = await bobs.ListChats(chat_pb2.ListChatsRequest())
    assert [c.id for c in listed.chats] == [mine.id]
    await admin.RemoveMember(admin_pb2.RemoveMemberRequest(project=PROJECT, user="bob"))
    await rpc_error(bobs.GetChat(chat_pb2.GetChatRequest(chat_id=mine.id)), Code.NOT_FOUND)
    assert not (await bobs.ListChats(chat_pb2.ListChatsRequest())).chats
    await admin.AddMember(admin_pb2.AddMemberRequest(project=PROJECT, user="bob", role=member))
    assert (await bobs.GetChat(chat_pb2.GetChatRequest(chat_id=mine.id))).chat.id == mine.id
    await admin.DeleteProject(admin_pb2.DeleteProjectRequest(project=PROJECT))
    await rpc_error(bobs.GetChat(chat_pb2.GetChatRequest(chat_id=mine.id)), Code.NOT_FOUND)


async def test_list_chats_pages_newest_first(start_server, connect, chat_stub):
    _, _, chat = await setup(start_server, connect, chat_stub)
    made = [
        (await chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT, title=f"c{n}"))).chat.id
        for n in range(5)
    ]
    seen, token = [], ""
    while True:
        page = await chat.ListChats(
            chat_pb2.ListChatsRequest(project=PROJECT, page_size=2, page_token=token)
        )
        seen += [c.id for c in page.chats]
        token = page.next_page_token
        if not token:
            break
    assert seen == made[::-1]
    await rpc_error(
        chat.ListChats(chat_pb2.ListChatsRequest(page_size=501)), Code.INVALID_ARGUMENT, "page_size"
    )
    await rpc_error(
        chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT, title="t" * 201)),
        Code.INVALID_ARGUMENT,
        "title",
    )


async def test_a_deadline_during_the_memory_fold_gives_the_turn_back(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    await fake_profile(admin, fake, is_default=True, timeout_seconds=30)
    created = await chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT))
    fake.script(Reply(text="word " * 600))  # long enough that the next turn folds memory
    await turn(chat, created.chat.id)
    fake.script(Reply(text="summary", hang_s=30))  # the fold hangs; the client gives up
    request = chat_pb2.SendMessageRequest(chat_id=created.chat.id, content="next?")
    seen: list[Any] = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for event in chat.SendMessage(request, timeout=3):
            seen.append(event)
    assert raised.value.code() == Code.DEADLINE_EXCEEDED
    # The turn began and said it was folding; the fold never ended.
    assert kinds(seen) == ["turn_started", "progress"]
    assert seen[1].progress.stage == "folding_memory" and not seen[1].progress.done
    assert await asyncio.to_thread(fake.wait_for_disconnect)  # its request was closed
    fake.script(Reply(text="the summary"), Reply(text="ok"))  # this turn folds, then answers
    events = await turn(chat, created.chat.id, "third")  # the chat is not held by a lease
    assert events[-1].done.answer == "ok"
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=created.chat.id))
    assert got.chat.turn_count == 3
    assert any("interrupted" in m.content for m in got.messages)


async def collect(call: Any) -> list[Any]:
    return [event async for event in call]


def kinds(events: list[Any]) -> list[str]:
    return [e.WhichOneof("event") for e in events]


def answer_of(events: list[Any]) -> str:
    return "".join(e.answer_delta.text for e in events if e.HasField("answer_delta"))


async def new_chat(chat: Any, **policy: int) -> str:
    request = chat_pb2.CreateChatRequest(project=PROJECT, tool_policy=policy)
    return (await chat.CreateChat(request)).chat.id


# ---------------------------------------------------------------- the wire to the LLM
def check_wire_messages(messages: list[dict[str, Any]]) -> None:
    """The messages as the strictest servers take them: content always a string
    (llama-cpp-python and Ollama refuse null), no field they do not know, tool-call arguments
    a JSON object (vLLM, Ollama and llama-server parse them), call ids unique, and the tool
    results right after their calls, in the calls' order (templates that show no ids pair
    them by position)."""
    waiting: list[str] = []
    for message in messages:
        assert isinstance(message.get("content"), str), message
        if message["role"] == "tool":
            assert set(message) == {"role", "content", "tool_call_id"}, message
            assert waiting and message["tool_call_id"] == waiting.pop(0), (message, waiting)
            continue
        assert not waiting, f"no result for calls {waiting}"
        if message["role"] == "assistant" and "tool_calls" in message:
            assert set(message) == {"role", "content", "tool_calls"}, message
            for call in message["tool_calls"]:
                assert set(call) == {"id", "type", "function"} and call["type"] == "function"
                assert set(call["function"]) == {"name", "arguments"}
                assert isinstance(json.loads(call["function"]["arguments"]), dict), call
                waiting.append(call["id"])
            assert all(waiting) and len(set(waiting)) == len(waiting), waiting
        else:
            assert message["role"] in ("system", "user", "assistant")
            assert set(message) == {"role", "content"}, message
    assert not waiting, f"no result for calls {waiting}"


async def test_a_tool_round_trip_sends_messages_every_server_accepts(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub)
    await fake_profile(admin, fake, is_default=True)
    fake.script(
        Reply(
            tool_calls=[
                ToolCall("project_metadata", {}, id="call_same"),
                ToolCall("project_metadata", "{broken json", id="call_same"),
            ]
        ),
        Reply(text="Alpha it is."),
    )
    events = await turn(chat, await new_chat(chat))
    assert events[-1].done.answer == "Alpha it is."
    messages = fake.requests[1].body["messages"]
    check_wire_messages(messages)
    calling = next(m for m in messages if m.get("tool_calls"))
    assert calling["content"] == ""  # not null: llama-cpp-python answers HTTP 500 to that
    assert json.loads(calling["tool_calls"][1]["function"]["arguments"]) == {
        "_unparseable": "{broken json"
    }


async def test_tool_results_follow_their_calls_in_order_after_an_approval(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub)
    await fake_profile(admin, fake, is_default=True)
    ask, deny = chat_pb2.TOOL_PERMISSION_ASK, chat_pb2.TOOL_PERMISSION_DENY
    chat_id = await new_chat(chat, project_metadata=ask, grep=deny)
    fake.script(
        Reply(tool_calls=[("project_metadata", {}), ("grep", {"pattern": "x"})]),
        Reply(text="Done."),
    )
    events = await turn(chat, chat_id)
    call = events[-2].approval_required.calls[0]
    approve = chat_pb2.ResolveToolCallsRequest(
        chat_id=chat_id, decisions=[chat_pb2.ToolCallDecision(tool_call_id=call.id, approve=True)]
    )
    resumed = [event async for event in chat.ResolveToolCalls(approve)]
    assert resumed[-1].done.answer == "Done."
    check_wire_messages(fake.requests[1].body["messages"])


def prompt_chars(body: dict[str, Any]) -> int:
    """What a request gives the model to read: its messages' text and the tools' specs."""
    text = sum(len(m["content"]) for m in body["messages"])
    calls = [c["function"] for m in body["messages"] for c in m.get("tool_calls", ())]
    return (
        text
        + sum(len(c["name"] + c["arguments"]) for c in calls)
        + len(json.dumps(body.get("tools", [])))
    )


async def numbers_chat(
    start_server: Any, connect: Any, chat_stub: Any, fake: FakeLlm, folder: Path, context: int
) -> Any:
    """A chat stub of a server with ``context`` tokens of chat context, the ``numbers`` tool
    and the fake as the project's default LLM."""
    _, admin, chat = await setup(
        start_server, connect, chat_stub, chat_context_tokens=context, plugins=["local"],
        local_roots=[folder],
    )  # fmt: skip
    await numbers_tool(admin, folder)
    await fake_profile(admin, fake, is_default=True)
    return chat


async def numbers_tool(admin: Any, folder: Path) -> None:
    """A script tool ``numbers`` printing 1 to 5000 (about 24,000 characters), and a local
    connector whose folder it runs in."""
    code = folder / "code"
    code.mkdir()
    config = struct_pb2.Struct()
    config.update({"path": str(code)})
    await admin.CreateConnector(
        admin_pb2.CreateConnectorRequest(project=PROJECT, type="local", name="code", config=config)
    )
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "properties": {}})
    tool = admin_pb2.CustomTool(
        name="numbers", description="Prints numbers", command=["seq", "1", "5000"],
        arguments_schema=schema, timeout_seconds=30, enabled=True,
    )  # fmt: skip
    await admin.CreateCustomTool(admin_pb2.CreateCustomToolRequest(project=PROJECT, tool=tool))


async def test_a_big_tool_result_is_cut_to_fit_the_context(
    start_server, connect, chat_stub, fake, tmp_path: Path
):
    context = 3000
    chat = await numbers_chat(start_server, connect, chat_stub, fake, tmp_path, context)
    fake.script(Reply(tool_calls=[("numbers", {})]), Reply(text="Many."))
    events = await turn(chat, await new_chat(chat), "Which numbers are there?")
    assert events[-1].done.answer == "Many."
    result = next(e.tool_result for e in events if e.HasField("tool_result"))
    assert not result.is_error, result.summary
    body = fake.requests[1].body
    content = next(m["content"] for m in body["messages"] if m["role"] == "tool")
    assert "cut to fit the context" in content and "4999" not in content
    assert content.startswith('{"') and "\\n1000\\n" in content
    assert prompt_chars(body) <= 4 * context  # about four characters a token


async def test_with_no_room_for_tool_results_the_model_answers_without_tools(
    start_server, connect, chat_stub, fake, tmp_path: Path, caplog
):
    chat = await numbers_chat(start_server, connect, chat_stub, fake, tmp_path, 1000)
    # Instructions and tool specs alone take ~1,350 of the 1,000 tokens: a result would be
    # cut to nothing, and a model offered tools would call them until max_steps.
    fake.handler = lambda body: (
        Reply(tool_calls=[("numbers", {})]) if body.get("tools") else Reply(text="Many.")
    )
    events = await turn(chat, await new_chat(chat), "Which numbers are there?")
    assert events[-1].done.answer == "Many."
    assert len(fake.requests) == 1 and "tools" not in fake.requests[0].body
    assert "no room for tool results" in caplog.text


async def test_a_tool_result_takes_room_from_the_oldest_history(
    start_server, connect, chat_stub, fake, tmp_path: Path
):
    chat = await numbers_chat(start_server, connect, chat_stub, fake, tmp_path, 3000)
    chat_id = await new_chat(chat)
    for n in ("first", "second"):  # about 630 tokens each: the history fits, nothing folds
        fake.script(Reply(text=f"{n} answer " + "word " * 500))
        await turn(chat, chat_id, f"{n} question")
    fake.script(Reply(tool_calls=[("numbers", {})]), Reply(text="Many."))
    events = await turn(chat, chat_id, "Which numbers are there?")
    assert events[-1].done.answer == "Many."
    body = fake.requests[-1].body
    assert "first answer" not in json.dumps(body["messages"])  # the oldest exchange went
    content = next(m["content"] for m in body["messages"] if m["role"] == "tool")
    assert len(content) >= 4 * 3000 * 0.4 - 300  # its share of the context, and the note
    assert prompt_chars(body) <= 4 * 3000


@pytest.mark.parametrize(
    ("context", "advice"),
    [
        (8000, "(PROJECTQA_CHAT_CONTEXT_TOKENS): set it at most about 1365"),
        (1000, "so what it cannot cut (instructions, tool specs, the message itself) is too"),
    ],
)
async def test_a_context_overflow_is_reported_as_such(
    start_server, connect, chat_stub, fake, context: int, advice: str
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=context)
    await fake_profile(admin, fake, is_default=True)
    fake.script(
        Reply(
            status=400,
            error_message="This model's maximum context length is 2048 tokens. However, you "
            "requested 2523 tokens (2011 in the messages, 512 in the completion). Please reduce "
            "the length of the messages or completion.",
        )
    )
    chat_id = await new_chat(chat)
    events = await turn(chat, chat_id)
    error = events[-1].error
    assert error.reason == "context_overflow"
    assert "2011" in error.message and "2048" in error.message
    assert advice in error.message
    assert len(fake.requests) == 1  # not retried: the same prompt would not fit either
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert "context_overflow" in got.messages[-1].content


# ------------------------------------------------------------------ failed answers
async def test_an_answer_cut_mid_stream_is_not_stored_as_the_answer(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub)
    await fake_profile(admin, fake, is_default=True)
    fake.script(Reply(text="```python\nprint('partial')\n```\nand then some more words", cut=True))
    chat_id = await new_chat(chat)
    events = await turn(chat, chat_id)
    assert events[-1].error.reason == "llm_bad_response"
    streamed = answer_of(events)
    assert streamed.startswith("```")
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert [m.role for m in got.messages] == [
        chat_pb2.MESSAGE_ROLE_USER,
        chat_pb2.MESSAGE_ROLE_SYSTEM,
    ]
    assert f"{len(streamed)} characters of the answer had been streamed" in got.messages[-1].content


async def test_a_cancelled_answer_is_not_stored_either(start_server, connect, chat_stub, fake):
    _, admin, chat = await setup(start_server, connect, chat_stub)
    await fake_profile(admin, fake, is_default=True)
    fake.script(Reply(text="word " * 200, token_delay_s=0.05))
    chat_id = await new_chat(chat)
    call = chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat_id, content="go"))
    received = ""
    async for event in call:
        received += event.answer_delta.text
        if len(received) >= 15:
            call.cancel()
            break
    for _ in range(200):  # the server stores the interruption right after the cancel
        got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
        if got.chat.turn_count:
            break
        await asyncio.sleep(0.025)
    assert [m.role for m in got.messages] == [
        chat_pb2.MESSAGE_ROLE_USER,
        chat_pb2.MESSAGE_ROLE_SYSTEM,
    ]
    note = got.messages[-1].content
    assert "interrupted" in note and "characters of the answer had been streamed" in note
    streamed = int(note.split(" characters of the answer")[0].rsplit(" ", 1)[-1])
    assert streamed >= len(received)


# -------------------------------------------------------------------------- memory
CUT_SUMMARY = '```json\n{\n  "name": "ask_clar'


async def long_first_turn(admin: Any, chat: Any, fake: FakeLlm, **profile: Any) -> str:
    """A chat whose next turn folds memory (its first answer fills the 1,000-token context)."""
    await fake_profile(admin, fake, is_default=True, **profile)
    chat_id = await new_chat(chat)
    fake.script(Reply(text="word " * 600))
    await turn(chat, chat_id, "first question")
    return chat_id


async def test_a_cut_memory_summary_is_retried_with_a_larger_budget(
    start_server, connect, chat_stub, fake, caplog
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    chat_id = await long_first_turn(admin, chat, fake)
    fake.script(
        Reply(text=CUT_SUMMARY, finish_reason="length"),
        Reply(text="SUMMARY: a first question."),
        Reply(text="ok"),
    )
    events = await turn(chat, chat_id, "second question")
    assert kinds(events)[:3] == ["turn_started", "progress", "progress"]
    assert events[-1].done.answer == "ok"
    begun, ended = events[1].progress, events[2].progress
    assert begun.stage == ended.stage == "folding_memory" and ended.done and not begun.done
    assert "1 earlier turn" in begun.message and "summarized by the LLM" in ended.message
    cut, retried = fake.requests[1].body, fake.requests[2].body
    assert not cut.get("stream") and not retried.get("stream")
    assert retried["max_tokens"] > cut["max_tokens"]
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert got.memory_summary == "SUMMARY: a first question."
    assert "cut at its token limit (max_tokens 150); asking again" in caplog.text


async def test_a_summary_cut_twice_keeps_the_memory_and_condenses_instead(
    start_server, connect, chat_stub, fake, caplog
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    chat_id = await long_first_turn(admin, chat, fake)
    fake.script(Reply(text="EARLIER SUMMARY"), Reply(text="word " * 600))
    await turn(chat, chat_id, "second question")
    fake.script(
        Reply(text=CUT_SUMMARY, finish_reason="length"),
        Reply(text="", finish_reason="stop"),
        Reply(text="ok"),
    )
    events = await turn(chat, chat_id, "third question")
    assert kinds(events)[0] == "turn_started" and events[-1].done.answer == "ok"
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert "ask_clar" not in got.memory_summary
    lines = got.memory_summary.splitlines()
    assert lines[0] == "EARLIER SUMMARY"
    assert lines[1].startswith("- Q: second question → A: word word")
    assert "memory summary by the LLM was empty (max_tokens 300); condensing instead" in caplog.text


async def test_a_hanging_fold_starts_the_turn_first_and_is_closed_at_its_timeout(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    chat_id = await long_first_turn(admin, chat, fake, timeout_seconds=1)
    # Every summary request hangs (retries too); the streamed answer does not.
    fake.handler = lambda body: Reply(text="ok") if body.get("stream") else Reply(hang_s=30)
    request = chat_pb2.SendMessageRequest(chat_id=chat_id, content="second question")
    call = chat.SendMessage(request)
    first = await call.read()
    assert first.WhichOneof("event") == "turn_started"  # before the fold ends
    events = [first, *[event async for event in call]]
    assert events[-1].done.answer == "ok"
    # In the stream's order: the fold began, then ended at its bound, then the answer.
    assert kinds(events)[:4] == ["turn_started", "progress", "progress", "answer_delta"]
    assert "took over 1 s" in events[2].progress.message and events[2].progress.done
    assert await asyncio.to_thread(fake.wait_for_disconnect)  # the fold's request was closed
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert got.memory_summary.startswith("- Q: first question → A: word word")


async def test_the_turn_start_and_fold_progress_arrive_while_the_fold_is_open(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    chat_id = await long_first_turn(admin, chat, fake, timeout_seconds=60)
    fake.script(Reply(hang_s=60))  # the fold request: held open until the client goes
    call = chat.SendMessage(chat_pb2.SendMessageRequest(chat_id=chat_id, content="second"))
    started, progress = await call.read(), await call.read()
    assert kinds([started, progress]) == ["turn_started", "progress"]
    for _ in range(500):  # bounded: the fold's request reaches the fake
        if fake.request_count == 2:
            break
        await asyncio.sleep(0.01)
    assert fake.request_count == 2 and fake.disconnects == 0  # the fold is still open
    call.cancel()
    assert await asyncio.to_thread(fake.wait_for_disconnect)  # cancelling closed it


async def test_each_fold_attempt_has_its_own_time_bound(
    start_server, connect, chat_stub, fake, caplog
):
    """A slow cut summary leaves its retry a whole request's time (the profile's 6 s; the two
    attempts together take longer, and each keeps 2.5 s of margin for a busy machine)."""
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    chat_id = await long_first_turn(admin, chat, fake, timeout_seconds=6)
    fake.script(
        Reply(text=CUT_SUMMARY, finish_reason="length", first_token_delay_s=3.5),
        Reply(text="SUMMARY: a first question.", first_token_delay_s=3.5),
        Reply(text="ok"),
    )
    events = await turn(chat, chat_id, "second question")
    assert events[-1].done.answer == "ok", caplog.text
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert got.memory_summary == "SUMMARY: a first question."


async def test_a_cut_summary_is_not_retried_when_the_profile_caps_the_tokens(
    start_server, connect, chat_stub, fake, caplog
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    chat_id = await long_first_turn(admin, chat, fake, max_output_tokens=150)
    fake.script(Reply(text=CUT_SUMMARY, finish_reason="length"), Reply(text="ok"))
    events = await turn(chat, chat_id, "second question")
    assert events[-1].done.answer == "ok"
    assert fake.requests[2].stream  # no second summary request: the answer came next
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=chat_id))
    assert got.memory_summary.startswith("- Q: first question → A: word word")
    assert "max_output_tokens 150 allows no more; condensing instead" in caplog.text
