"""ChatService on a fresh server per test (SQLite and MongoDB): limits, LLM resolution,
visibility and paging. Nothing here is ingested, so no test needs the embedding model:
retrieval finds nothing and the turn goes on with the tools alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from projectqa.v1 import admin_pb2, chat_pb2, chat_pb2_grpc, common_pb2
from tests.fakes.llm_server import FakeLlm, Reply

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


async def test_a_deadline_before_the_first_event_gives_the_turn_back(
    start_server, connect, chat_stub, fake
):
    _, admin, chat = await setup(start_server, connect, chat_stub, chat_context_tokens=1000)
    await fake_profile(admin, fake, is_default=True, timeout_seconds=30)
    created = await chat.CreateChat(chat_pb2.CreateChatRequest(project=PROJECT))
    fake.script(Reply(text="word " * 600))  # long enough that the next turn folds memory
    await turn(chat, created.chat.id)
    fake.script(Reply(text="summary", hang_s=4))  # the fold hangs; the client gives up
    request = chat_pb2.SendMessageRequest(chat_id=created.chat.id, content="next?")
    await rpc_error(collect(chat.SendMessage(request, timeout=1)), Code.DEADLINE_EXCEEDED)
    fake.script(Reply(text="the summary"), Reply(text="ok"))  # this turn folds, then answers
    events = await turn(chat, created.chat.id, "third")  # the chat is not held by a lease
    assert events[-1].done.answer == "ok"
    got = await chat.GetChat(chat_pb2.GetChatRequest(chat_id=created.chat.id))
    assert got.chat.turn_count == 3
    assert any("interrupted before it started" in m.content for m in got.messages)


async def collect(call: Any) -> list[Any]:
    return [event async for event in call]
