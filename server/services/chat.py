"""ChatService servicer: proto in, domain call, proto out (streams numbered from 1)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from projectqa.v1 import chat_pb2 as pb
from projectqa.v1 import chat_pb2_grpc

from ..chat import events as ev
from ..chat.ops import ChatOps
from ..interceptors import current_principal
from . import Context
from . import convert_chat as convert


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, ops: ChatOps) -> None:
        self._ops = ops

    async def CreateChat(
        self, request: pb.CreateChatRequest, context: Context
    ) -> pb.CreateChatResponse:
        view = await self._ops.create(
            current_principal(),
            request.project,
            request.title,
            request.llm_profile_id,
            convert.policy_changes(request.tool_policy, "tool_policy"),
        )
        return pb.CreateChatResponse(chat=convert.chat(view))

    async def GetChat(self, request: pb.GetChatRequest, context: Context) -> pb.GetChatResponse:
        details = await self._ops.get(current_principal(), request.chat_id)
        return convert.get_chat_response(details)

    async def ListChats(
        self, request: pb.ListChatsRequest, context: Context
    ) -> pb.ListChatsResponse:
        views, token = await self._ops.list(
            current_principal(), request.project, request.page_size, request.page_token
        )
        return pb.ListChatsResponse(chats=map(convert.chat, views), next_page_token=token)

    async def DeleteChat(
        self, request: pb.DeleteChatRequest, context: Context
    ) -> pb.DeleteChatResponse:
        await self._ops.delete(current_principal(), request.chat_id)
        return pb.DeleteChatResponse()

    async def SetToolPolicy(
        self, request: pb.SetToolPolicyRequest, context: Context
    ) -> pb.SetToolPolicyResponse:
        changes = convert.policy_changes(request.tools, "tools")
        view = await self._ops.set_policy(current_principal(), request.chat_id, changes)
        return pb.SetToolPolicyResponse(tool_policy=convert.tool_policy(view))

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: Context
    ) -> AsyncIterator[pb.ChatEvent]:
        stream = await self._ops.send(current_principal(), request.chat_id, request.content)
        async for event in _numbered(stream):
            yield event

    async def Ask(self, request: pb.AskRequest, context: Context) -> AsyncIterator[pb.ChatEvent]:
        stream = await self._ops.ask(
            current_principal(),
            request.project,
            request.question,
            request.llm_profile_id,
            request.extractive,
        )
        async for event in _numbered(stream):
            yield event

    async def ResolveToolCalls(
        self, request: pb.ResolveToolCallsRequest, context: Context
    ) -> AsyncIterator[pb.ChatEvent]:
        decisions = [(d.tool_call_id, d.approve) for d in request.decisions]
        stream = await self._ops.resolve(current_principal(), request.chat_id, decisions)
        async for event in _numbered(stream):
            yield event


async def _numbered(
    stream: AsyncGenerator[ev.ChatEvent, None],
) -> AsyncIterator[pb.ChatEvent]:
    """The turn's events numbered from 1. The domain stream is closed as soon as this one
    ends, however it ends, so the turn is stored and its agent stopped at once (not when
    the garbage collector finds the generator)."""
    sequence = 0
    async with contextlib.aclosing(stream):
        async for item in stream:
            sequence += 1
            yield convert.event(item, sequence)
