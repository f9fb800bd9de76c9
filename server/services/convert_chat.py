"""Chat records and events -> protobuf messages (and the enums that come in)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from projectqa.v1 import chat_pb2 as pb

from .. import models
from ..chat import events as ev
from ..chat.ops import ChatDetails, ChatView
from ..chat.records import ChatCitation, Message, MessageRole, ToolCallRequest, Usage
from ..errors import InvalidArgument
from ..models import ToolPermission, TurnStatus
from .convert import struct, timestamp
from .convert_retrieval import citation

PERMISSION_TO_PB = {
    ToolPermission.AUTO: pb.TOOL_PERMISSION_AUTO,
    ToolPermission.ASK: pb.TOOL_PERMISSION_ASK,
    ToolPermission.DENY: pb.TOOL_PERMISSION_DENY,
}
PERMISSION_FROM_PB = {v: k for k, v in PERMISSION_TO_PB.items()}
ROLE_TO_PB = {
    MessageRole.USER: pb.MESSAGE_ROLE_USER,
    MessageRole.ASSISTANT: pb.MESSAGE_ROLE_ASSISTANT,
    MessageRole.TOOL: pb.MESSAGE_ROLE_TOOL,
    MessageRole.SYSTEM: pb.MESSAGE_ROLE_SYSTEM,
}
STATUS_TO_PB = {
    TurnStatus.COMPLETE: pb.TURN_STATUS_COMPLETE,
    TurnStatus.PAUSED: pb.TURN_STATUS_PAUSED,
    TurnStatus.INTERRUPTED: pb.TURN_STATUS_INTERRUPTED,
    TurnStatus.FAILED: pb.TURN_STATUS_FAILED,
    TurnStatus.CLARIFYING: pb.TURN_STATUS_CLARIFYING,
}


def policy_changes(
    values: Mapping[str, pb.ToolPermission.ValueType], field: str
) -> dict[str, ToolPermission | None]:
    """Requested settings by tool name; UNSPECIFIED restores the default (None)."""
    changes: dict[str, ToolPermission | None] = {}
    for name, value in values.items():
        if value == pb.TOOL_PERMISSION_UNSPECIFIED:
            changes[name] = None
        elif value in PERMISSION_FROM_PB:
            changes[name] = PERMISSION_FROM_PB[value]
        else:
            raise InvalidArgument(f"{field}.{name}", f"unknown tool permission {value}")
    return changes


def tool_policy(view: ChatView) -> pb.ToolPolicy:
    explicit = view.chat.tool_policy.items()
    return pb.ToolPolicy(
        tools={name: PERMISSION_TO_PB[ToolPermission(v)] for name, v in explicit},
        effective={name: PERMISSION_TO_PB[p] for name, p in view.effective_policy.items()},
    )


def chat(view: ChatView) -> pb.Chat:
    c: models.Chat = view.chat
    return pb.Chat(
        id=c.id,
        project_id=c.project_id,
        title=c.title,
        llm_profile_id=c.llm_profile_id,
        tool_policy=tool_policy(view),
        create_time=timestamp(c.created_at),
        update_time=timestamp(c.updated_at),
        turn_count=c.turn_count,
    )


def get_chat_response(details: ChatDetails) -> pb.GetChatResponse:
    return pb.GetChatResponse(
        chat=chat(details.view),
        messages=map(message, details.messages),
        memory_summary=details.view.chat.memory_summary,
        pending_questions=details.pending_questions,
        pending_tool_calls=map(tool_call, details.pending_calls),
    )


def message(m: Message) -> pb.ChatMessage:
    return pb.ChatMessage(
        id=m.id,
        role=ROLE_TO_PB[m.role],
        content=m.content,
        create_time=timestamp(m.created_at),
        citations=map(chat_citation, m.citations),
        tool_calls=map(tool_call, m.tool_calls),
        tool_call_id=m.tool_call_id,
        model=m.model,
        usage=usage(m.usage),
    )


def tool_call(call: ToolCallRequest) -> pb.ToolCall:
    try:
        arguments = struct(call.arguments)
    except (ValueError, TypeError, OverflowError, RecursionError):  # beyond what Struct holds
        text = json.dumps(call.arguments, default=str)[:200]
        arguments = struct({"_unrepresentable": text})
    return pb.ToolCall(id=call.id, name=call.name, arguments=arguments)


def chat_citation(c: ChatCitation) -> pb.ChatCitation:
    return pb.ChatCitation(citation=citation(c.citation), verified=c.verified, marker=c.marker)


def usage(u: Usage) -> pb.TokenUsage:
    return pb.TokenUsage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens)


def event(item: ev.ChatEvent, sequence: int) -> pb.ChatEvent:
    """One domain event as the ChatEvent at ``sequence`` of its stream."""
    out = pb.ChatEvent(sequence=sequence)
    match item:
        case ev.TurnStarted():
            out.turn_started.CopyFrom(
                pb.TurnStarted(
                    turn_id=item.turn_id,
                    user_message_id=item.user_message_id,
                    model=item.model,
                    llm_profile=item.llm_profile,
                )
            )
        case ev.TurnProgress():
            out.progress.CopyFrom(
                pb.TurnProgress(stage=item.stage, message=item.message, done=item.done)
            )
        case ev.AnswerDelta():
            out.answer_delta.text = item.text
        case ev.ToolCallStarted():
            out.tool_call_started.call.CopyFrom(tool_call(item.call))
        case ev.ToolCallResult():
            out.tool_result.CopyFrom(
                pb.ToolCallResult(
                    tool_call_id=item.tool_call_id,
                    name=item.name,
                    summary=item.summary,
                    is_error=item.is_error,
                    duration_ms=item.duration_ms,
                )
            )
        case ev.ApprovalRequired():
            out.approval_required.calls.extend(map(tool_call, item.calls))
        case ev.CitationFound():
            out.citation.CopyFrom(chat_citation(item.citation))
        case ev.ClarifyingQuestion():
            out.clarifying_question.question = item.question
        case ev.UsageReport():
            out.usage.CopyFrom(usage(item.usage))
        case ev.TurnDone():
            status = STATUS_TO_PB[item.status]
            out.done.CopyFrom(
                pb.TurnDone(message_id=item.message_id, status=status, answer=item.answer)
            )
        case ev.TurnError():
            out.error.CopyFrom(pb.ChatError(reason=item.reason, message=item.message))
    return out
