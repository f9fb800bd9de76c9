"""Typed calls of the ChatService, shared by :class:`~projectqa.client.Client` and
:class:`~projectqa.client.AsyncClient`.

Chats are created, read, listed and deleted with unary calls. A turn
(:meth:`ChatCalls.send_message`, :meth:`ChatCalls.ask`,
:meth:`ChatCalls.resolve_tool_calls`) is a server stream of ChatEvents that
ends with exactly one ``done`` or ``error`` event, or after
``approval_required``; it has no deadline unless one is given, and the caller
can cancel it at any time (the server then stores the turn as interrupted).
The sync client returns a :class:`ChatStream`, the ``AsyncClient`` an
:class:`AsyncChatStream` (``async for``, ``cancel()``, ``async with``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from projectqa.client.calls import AsyncServerStream, ServerStream, StreamKind, StubCalls, nothing
from projectqa.v1 import chat_pb2, chat_pb2_grpc

PermissionName = Literal["auto", "ask", "deny", "default"]

PERMISSIONS: dict[str, chat_pb2.ToolPermission.ValueType] = {
    "auto": chat_pb2.TOOL_PERMISSION_AUTO,
    "ask": chat_pb2.TOOL_PERMISSION_ASK,
    "deny": chat_pb2.TOOL_PERMISSION_DENY,
    # In a policy change, "unspecified" restores the tool's default.
    "default": chat_pb2.TOOL_PERMISSION_UNSPECIFIED,
}
PERMISSION_NAMES: dict[int, str] = {number: name for name, number in PERMISSIONS.items()}


def tool_permission(value: PermissionName | int) -> chat_pb2.ToolPermission.ValueType:
    """The enum number of "auto", "ask", "deny" or "default"; numbers pass through."""
    if isinstance(value, int):
        return chat_pb2.ToolPermission.ValueType(value)
    try:
        return PERMISSIONS[value.lower()]
    except KeyError:
        raise ValueError(
            f"tool permission must be one of {', '.join(PERMISSIONS)}, not {value!r}"
        ) from None


def permission_name(number: int) -> str:
    """The name of a ToolPermission number ("auto", "ask", "deny", "default")."""
    return PERMISSION_NAMES.get(number, str(number))


def _permissions(policy: Mapping[str, PermissionName | int] | None) -> dict[str, Any]:
    return {name: tool_permission(value) for name, value in (policy or {}).items()}


class ChatStream(ServerStream[chat_pb2.ChatEvent]):
    """The events of one streamed turn; iteration ends with the stream.

    ``cancel()`` (or leaving a ``with`` block) ends the stream from the client side; the
    server stores what the turn said so far as interrupted.
    """


class AsyncChatStream(AsyncServerStream[chat_pb2.ChatEvent]):
    """:class:`ChatStream` for ``async for``; ``cancel()`` or ``async with`` end it."""


CHAT_STREAM = StreamKind(ChatStream, AsyncChatStream)


class ChatCalls(StubCalls):
    """ChatService calls; mixed into a client with ``chat`` and the call primitives."""

    chat: chat_pb2_grpc.ChatServiceStub

    def create_chat(
        self,
        project: str,
        title: str = "",
        llm_profile_id: str = "",
        tool_policy: Mapping[str, PermissionName | int] | None = None,
    ) -> chat_pb2.Chat:
        """Starts an empty chat of the caller in ``project`` (id or slug).

        :param title: up to 200 characters; "" takes it from the first question.
        :param llm_profile_id: the project's or a global profile; "" resolves at each turn.
        :param tool_policy: initial settings by tool name: "auto", "ask", "deny", "default".
        """
        request = chat_pb2.CreateChatRequest(
            project=project,
            title=title,
            llm_profile_id=llm_profile_id,
            tool_policy=_permissions(tool_policy),
        )
        return self._call(self.chat.CreateChat, request, lambda r: r.chat)

    def get_chat(self, chat_id: str) -> chat_pb2.GetChatResponse:
        """The chat with its messages, memory summary, pending questions and calls."""
        return self._call(self.chat.GetChat, chat_pb2.GetChatRequest(chat_id=chat_id))

    def list_chats(
        self, project: str = "", page_size: int = 0, page_token: str = ""
    ) -> chat_pb2.ListChatsResponse:
        """One page of the caller's chats (in ``project`` if given), newest first."""
        request = chat_pb2.ListChatsRequest(
            project=project, page_size=page_size, page_token=page_token
        )
        return self._call(self.chat.ListChats, request)

    def iter_chats(self, project: str = "", *, page_size: int = 0) -> Iterator[chat_pb2.Chat]:
        """Every chat of the caller (in ``project`` if given), pages fetched lazily."""
        request = chat_pb2.ListChatsRequest(project=project, page_size=page_size)
        return self._pages(self.chat.ListChats, request, "chats")

    def delete_chat(self, chat_id: str) -> None:
        """Deletes the chat and all of its messages."""
        request = chat_pb2.DeleteChatRequest(chat_id=chat_id)
        return self._call(self.chat.DeleteChat, request, nothing)

    def set_tool_policy(
        self, chat_id: str, tools: Mapping[str, PermissionName | int]
    ) -> chat_pb2.ToolPolicy:
        """Changes the settings of the tools named; "default" restores a tool's default.

        Returns the chat's policy after the change (``effective`` included).
        """
        request = chat_pb2.SetToolPolicyRequest(chat_id=chat_id, tools=_permissions(tools))
        return self._call(self.chat.SetToolPolicy, request, lambda r: r.tool_policy)

    def send_message(
        self, chat_id: str, content: str, *, timeout: float | None = None
    ) -> ChatStream:
        """Adds a user message to the chat and streams the assistant's turn."""
        request = chat_pb2.SendMessageRequest(chat_id=chat_id, content=content)
        return self._stream(CHAT_STREAM, self.chat.SendMessage, request, timeout)

    def ask(
        self,
        project: str,
        question: str,
        llm_profile_id: str = "",
        extractive: bool = False,
        *,
        timeout: float | None = None,
    ) -> ChatStream:
        """Answers one question about ``project`` without a chat; nothing is stored.

        :param llm_profile_id: profile to use; "" resolves project → global →
            environment → extractive.
        :param extractive: answer from the retrieved passages even when an LLM is configured.
        """
        request = chat_pb2.AskRequest(
            project=project,
            question=question,
            llm_profile_id=llm_profile_id,
            extractive=extractive,
        )
        return self._stream(CHAT_STREAM, self.chat.Ask, request, timeout)

    def resolve_tool_calls(
        self, chat_id: str, decisions: Mapping[str, bool], *, timeout: float | None = None
    ) -> ChatStream:
        """Approves (True) or denies (False) each pending call by id; streams the rest."""
        request = chat_pb2.ResolveToolCallsRequest(
            chat_id=chat_id,
            decisions=[
                chat_pb2.ToolCallDecision(tool_call_id=call_id, approve=approve)
                for call_id, approve in decisions.items()
            ],
        )
        return self._stream(CHAT_STREAM, self.chat.ResolveToolCalls, request, timeout)


__all__ = [
    "CHAT_STREAM",
    "PERMISSIONS",
    "AsyncChatStream",
    "ChatCalls",
    "ChatStream",
    "PermissionName",
    "permission_name",
    "tool_permission",
]
