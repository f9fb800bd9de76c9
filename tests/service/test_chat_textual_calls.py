"""Tool calls a model writes as text (``<tool_call>{…}</tool_call>``) go through the chat's
tool policy like structured ones: ASK pauses the turn for approval, DENY (not offered)
leaves the text as the answer and runs nothing, AUTO runs the tool and returns its result.
A real server per test and the fake LLM over HTTP; nothing is ingested."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from projectqa.v1 import admin_pb2, chat_pb2, chat_pb2_grpc
from tests.fakes.llm_server import FakeLlm, Reply

from .conftest import RunningServer
from .helpers import bearer_interceptors

PROJECT = "alpha"
TOOL = "project_metadata"  # a built-in tool that needs nothing indexed
WRITTEN_CALL = f'<tool_call>\n{{"name": "{TOOL}", "arguments": {{}}}}\n</tool_call>'
AUTO, ASK, DENY = (
    chat_pb2.TOOL_PERMISSION_AUTO,
    chat_pb2.TOOL_PERMISSION_ASK,
    chat_pb2.TOOL_PERMISSION_DENY,
)


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with FakeLlm() as llm:
        yield llm


@pytest.fixture
async def chat_with(
    start_server: Callable[..., Awaitable[RunningServer]],
    connect: Callable[..., Any],
    fake: FakeLlm,
) -> AsyncIterator[Callable[[int], Awaitable[tuple[Any, str]]]]:
    """A chat stub and a new chat whose policy for ``TOOL`` is the given permission."""
    server = await start_server()
    admin = connect(server.admin_token, server.address)
    await admin.CreateProject(admin_pb2.CreateProjectRequest(slug=PROJECT, name="Alpha"))
    await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            project=PROJECT,
            name="fake",
            provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
            base_url=fake.base_url,
            model="fake-model",
            api_key="sk-profile",
            is_default=True,
        )
    )
    channel = grpc.aio.insecure_channel(
        server.address, interceptors=bearer_interceptors(server.admin_token)
    )
    chat = chat_pb2_grpc.ChatServiceStub(channel)

    async def create(permission: int) -> tuple[Any, str]:
        request = chat_pb2.CreateChatRequest(project=PROJECT, tool_policy={TOOL: permission})
        return chat, (await chat.CreateChat(request)).chat.id

    yield create
    await channel.close()


async def turn(chat: Any, chat_id: str) -> list[Any]:
    request = chat_pb2.SendMessageRequest(chat_id=chat_id, content="What is this project?")
    return [event async for event in chat.SendMessage(request)]


def kinds(events: list[Any]) -> list[str]:
    return [e.WhichOneof("event") for e in events]


def answer_of(events: list[Any]) -> str:
    return "".join(e.answer_delta.text for e in events if e.HasField("answer_delta"))


def offered(fake: FakeLlm, request: int = 0) -> set[str]:
    return {tool["function"]["name"] for tool in fake.requests[request].body.get("tools", [])}


async def test_a_call_written_as_text_to_an_ask_tool_waits_for_approval(chat_with, fake):
    fake.script(Reply(text=WRITTEN_CALL, token_delay_s=0.001), Reply(text="It is Alpha."))
    chat, chat_id = await chat_with(ASK)
    events = await turn(chat, chat_id)
    assert kinds(events)[-2:] == ["approval_required", "done"], kinds(events)
    assert events[-1].done.status == chat_pb2.TURN_STATUS_PAUSED
    assert [c.name for c in events[-2].approval_required.calls] == [TOOL]
    assert answer_of(events) == ""  # the call was never shown as the answer
    assert "tool_call_started" not in kinds(events) and len(fake.requests) == 1


async def test_a_call_written_as_text_to_a_denied_tool_stays_text(chat_with, fake):
    fake.script(Reply(text=WRITTEN_CALL), Reply(text="unexpected second request"))
    chat, chat_id = await chat_with(DENY)
    events = await turn(chat, chat_id)
    assert TOOL not in offered(fake)
    assert answer_of(events) == WRITTEN_CALL
    assert not {"tool_call_started", "tool_result", "approval_required"} & set(kinds(events))
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    assert len(fake.requests) == 1


async def test_a_call_written_as_text_to_an_auto_tool_runs_and_its_result_goes_back(
    chat_with, fake
):
    fake.script(Reply(text=WRITTEN_CALL, token_delay_s=0.001), Reply(text="It is Alpha."))
    chat, chat_id = await chat_with(AUTO)
    events = await turn(chat, chat_id)
    assert TOOL in offered(fake)
    assert kinds(events).count("tool_call_started") == 1
    result = next(e.tool_result for e in events if e.HasField("tool_result"))
    assert result.name == TOOL and not result.is_error
    assert answer_of(events) == "It is Alpha."
    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    messages = fake.requests[1].body["messages"]
    call = next(m for m in messages if m.get("tool_calls"))["tool_calls"][0]
    assert call["function"]["name"] == TOOL and json.loads(call["function"]["arguments"]) == {}
    (returned,) = [m for m in messages if m["role"] == "tool"]
    assert returned["tool_call_id"] == call["id"] and PROJECT in returned["content"]
