"""What a turn streams, in order; the servicer turns each into a ChatEvent."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import TurnStatus
from .records import ChatCitation, ToolCallRequest, Usage


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn_id: str
    user_message_id: str  # '' for Ask and for a resumed turn
    model: str  # or "extractive"
    llm_profile: str  # profile name; '' for the environment or extractive


@dataclass(frozen=True, slots=True)
class TurnProgress:
    """Work before the answer, sent as it begins and again (``done``) as it ends."""

    stage: str  # "folding_memory"
    message: str
    done: bool = False


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    call: ToolCallRequest


@dataclass(frozen=True, slots=True)
class ToolCallResult:
    tool_call_id: str
    name: str
    summary: str
    is_error: bool
    duration_ms: float


@dataclass(frozen=True, slots=True)
class ApprovalRequired:
    calls: tuple[ToolCallRequest, ...]


@dataclass(frozen=True, slots=True)
class CitationFound:
    citation: ChatCitation


@dataclass(frozen=True, slots=True)
class ClarifyingQuestion:
    question: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage


@dataclass(frozen=True, slots=True)
class TurnDone:
    message_id: str  # '' for Ask
    status: TurnStatus  # COMPLETE, PAUSED or CLARIFYING
    answer: str


@dataclass(frozen=True, slots=True)
class TurnError:
    # llm_unreachable | llm_timeout | llm_error | llm_bad_response | context_overflow |
    # limit_exceeded | internal
    reason: str
    message: str


ChatEvent = (
    TurnStarted
    | TurnProgress
    | AnswerDelta
    | ToolCallStarted
    | ToolCallResult
    | ApprovalRequired
    | CitationFound
    | ClarifyingQuestion
    | UsageReport
    | TurnDone
    | TurnError
)
