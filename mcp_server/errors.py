"""What an agent reads when a tool call fails.

A tool failure is an MCP tool result with ``isError`` set (so the model sees it and can
try again), never a crash of the server. Bad arguments name the field; gRPC statuses
become sentences a user can act on, and never say more than the server said.
"""

from __future__ import annotations

import grpc

from projectqa.client.errors import ClientError

MAX_MESSAGE_CHARS = 500


def bound(message: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to ``max_chars``: a server's error text is not the agent's to read whole."""
    return message if len(message) <= max_chars else message[: max_chars - 3] + "..."


class ToolFailure(Exception):
    """A tool call that failed in a way the caller can correct; ``str()`` is the message."""


class BadArgument(ToolFailure):
    """An argument the tool's schema refuses; the message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid argument '{field}': {problem}")
        self.field = field


def describe(error: ClientError, address: str) -> str:
    """The message of a failed RPC: what happened and what to do about it (bounded)."""
    return bound(_sentence(error, address))


def _sentence(error: ClientError, address: str) -> str:
    code, details = error.code, bound(error.details, 300)
    if code == grpc.StatusCode.NOT_FOUND:
        # The server answers a project the token may not see exactly as a missing one.
        return f"not found: {details} (or this token has no access to it)"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {details} (this token's role does not allow it)"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (
            f"the ProjectQA server refused the token: {details}. Give projectqa mcp a valid "
            "token (--token or PROJECTQA_TOKEN), or send 'Authorization: Bearer <token>' over HTTP"
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return f"invalid argument: {details}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return (
            f"the ProjectQA server at {address} is not reachable ({details}); "
            "start it with `projectqa serve` or check --address"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the ProjectQA server did not answer in time ({details}); try a narrower call"
    return f"{code.name}: {details}"
