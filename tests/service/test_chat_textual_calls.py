"""Tool calls a model writes as text (``<tool_call>{…}</tool_call>``) go through the chat's
tool policy like structured ones: ASK pauses the turn for approval, DENY (not offered)
leaves the text as the answer and runs nothing, AUTO runs the tool and returns its result.
A real server per test and the fake LLM over HTTP; nothing is ingested."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from projectqa.v1 import chat_pb2
from tests.fakes.llm_server import FakeLlm, Reply

from . import test_chat_limits
from .conftest import RunningServer
from .test_chat import answer_of, kinds
from .test_chat_limits import PROJECT, fake_profile, setup
from .test_chat_limits import turn as send_turn

chat_stub, fake = test_chat_limits.chat_stub, test_chat_limits.fake  # their fixtures

TOOL = "project_metadata"  # a built-in tool that needs nothing indexed
WRITTEN_CALL = f'<tool_call>\n{{"name": "{TOOL}", "arguments": {{}}}}\n</tool_call>'
AUTO, ASK, DENY = (
    chat_pb2.TOOL_PERMISSION_AUTO,
    chat_pb2.TOOL_PERMISSION_ASK,
    chat_pb2.TOOL_PERMISSION_DENY,
)


@pytest.fixture
async def chat_with(
    start_server: Callable[..., Awaitable[RunningServer]],
    connect: Callable[..., Any],
    chat_stub: Callable[[RunningServer, str], Any],
    fake: FakeLlm,
) -> Callable[[int], Awaitable[tuple[Any, str]]]:
    """A chat stub and a new chat whose policy for ``TOOL`` is the given permission."""
    _, admin, chat = await setup(start_server, connect, chat_stub)
    await fake_profile(admin, fake, is_default=True)

    async def create(permission: int) -> tuple[Any, str]:
        request = chat_pb2.CreateChatRequest(project=PROJECT, tool_policy={TOOL: permission})
        return chat, (await chat.CreateChat(request)).chat.id

    return create


async def turn(chat: Any, chat_id: str) -> list[Any]:
    return await send_turn(chat, chat_id, "What is this project?")


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
