"""Typed views of what a chat turn stores as JSON (messages, tool calls, citations).

``ChatTurn`` keeps these as plain JSON so both store backends persist a turn
as one record; the domain reads and writes them only through this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..models import utcnow
from ..retrieval.citations import Citation


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens an LLM reported (prompt sent, completion generated)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return cls(int(data.get("prompt_tokens", 0)), int(data.get("completion_tokens", 0)))


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """A tool call as the assistant asked for it."""

    id: str
    name: str
    arguments: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolCallRequest:
        return cls(str(data["id"]), str(data["name"]), dict(data.get("arguments") or {}))


@dataclass(frozen=True, slots=True)
class ChatCitation:
    """A source an answer cites; ``verified`` when the turn really retrieved or opened it."""

    citation: Citation
    verified: bool
    marker: int = 0  # the "[n]" the answer uses; 0 when cited by path

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self.citation),
            "verified": self.verified,
            "marker": self.marker,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatCitation:
        names = [f.name for f in dataclasses.fields(Citation)]
        citation = Citation(**{name: data[name] for name in names})
        return cls(citation, bool(data.get("verified")), int(data.get("marker", 0)))


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a chat, as GetChat shows it."""

    id: str
    role: MessageRole
    content: str
    created_at: datetime = field(default_factory=utcnow)
    citations: tuple[ChatCitation, ...] = ()
    tool_calls: tuple[ToolCallRequest, ...] = ()
    tool_call_id: str = ""
    model: str = ""
    usage: Usage = Usage()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "content": self.content,
            "created_at": self.created_at.isoformat(timespec="milliseconds"),
            "citations": [c.to_json() for c in self.citations],
            "tool_calls": [c.to_json() for c in self.tool_calls],
            "tool_call_id": self.tool_call_id,
            "model": self.model,
            "usage": self.usage.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        return cls(
            id=str(data["id"]),
            role=MessageRole(data["role"]),
            content=str(data.get("content", "")),
            created_at=datetime.fromisoformat(data["created_at"]),
            citations=tuple(ChatCitation.from_json(c) for c in data.get("citations", ())),
            tool_calls=tuple(ToolCallRequest.from_json(c) for c in data.get("tool_calls", ())),
            tool_call_id=str(data.get("tool_call_id", "")),
            model=str(data.get("model", "")),
            usage=Usage.from_json(data.get("usage")),
        )
