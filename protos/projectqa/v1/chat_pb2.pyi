import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from projectqa.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_ROLE_UNSPECIFIED: _ClassVar[MessageRole]
    MESSAGE_ROLE_USER: _ClassVar[MessageRole]
    MESSAGE_ROLE_ASSISTANT: _ClassVar[MessageRole]
    MESSAGE_ROLE_TOOL: _ClassVar[MessageRole]
    MESSAGE_ROLE_SYSTEM: _ClassVar[MessageRole]

class TurnStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_STATUS_UNSPECIFIED: _ClassVar[TurnStatus]
    TURN_STATUS_COMPLETE: _ClassVar[TurnStatus]
    TURN_STATUS_PAUSED: _ClassVar[TurnStatus]
    TURN_STATUS_INTERRUPTED: _ClassVar[TurnStatus]
    TURN_STATUS_FAILED: _ClassVar[TurnStatus]
    TURN_STATUS_CLARIFYING: _ClassVar[TurnStatus]

class ToolPermission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_PERMISSION_UNSPECIFIED: _ClassVar[ToolPermission]
    TOOL_PERMISSION_AUTO: _ClassVar[ToolPermission]
    TOOL_PERMISSION_ASK: _ClassVar[ToolPermission]
    TOOL_PERMISSION_DENY: _ClassVar[ToolPermission]
MESSAGE_ROLE_UNSPECIFIED: MessageRole
MESSAGE_ROLE_USER: MessageRole
MESSAGE_ROLE_ASSISTANT: MessageRole
MESSAGE_ROLE_TOOL: MessageRole
MESSAGE_ROLE_SYSTEM: MessageRole
TURN_STATUS_UNSPECIFIED: TurnStatus
TURN_STATUS_COMPLETE: TurnStatus
TURN_STATUS_PAUSED: TurnStatus
TURN_STATUS_INTERRUPTED: TurnStatus
TURN_STATUS_FAILED: TurnStatus
TURN_STATUS_CLARIFYING: TurnStatus
TOOL_PERMISSION_UNSPECIFIED: ToolPermission
TOOL_PERMISSION_AUTO: ToolPermission
TOOL_PERMISSION_ASK: ToolPermission
TOOL_PERMISSION_DENY: ToolPermission

class ToolPolicy(_message.Message):
    __slots__ = ("tools", "effective")
    class ToolsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ToolPermission
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ToolPermission, str]] = ...) -> None: ...
    class EffectiveEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ToolPermission
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ToolPermission, str]] = ...) -> None: ...
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.ScalarMap[str, ToolPermission]
    effective: _containers.ScalarMap[str, ToolPermission]
    def __init__(self, tools: _Optional[_Mapping[str, ToolPermission]] = ..., effective: _Optional[_Mapping[str, ToolPermission]] = ...) -> None: ...

class ChatCitation(_message.Message):
    __slots__ = ("citation", "verified", "marker")
    CITATION_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    citation: _common_pb2.Citation
    verified: bool
    marker: int
    def __init__(self, citation: _Optional[_Union[_common_pb2.Citation, _Mapping]] = ..., verified: _Optional[bool] = ..., marker: _Optional[int] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TokenUsage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("id", "role", "content", "create_time", "citations", "tool_calls", "tool_call_id", "model", "usage", "turn_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    role: MessageRole
    content: str
    create_time: _timestamp_pb2.Timestamp
    citations: _containers.RepeatedCompositeFieldContainer[ChatCitation]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    tool_call_id: str
    model: str
    usage: TokenUsage
    turn_id: str
    def __init__(self, id: _Optional[str] = ..., role: _Optional[_Union[MessageRole, str]] = ..., content: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., citations: _Optional[_Iterable[_Union[ChatCitation, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., tool_call_id: _Optional[str] = ..., model: _Optional[str] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., turn_id: _Optional[str] = ...) -> None: ...

class Chat(_message.Message):
    __slots__ = ("id", "project_id", "title", "llm_profile_id", "tool_policy", "create_time", "update_time", "turn_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LLM_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TURN_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    title: str
    llm_profile_id: str
    tool_policy: ToolPolicy
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    turn_count: int
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., title: _Optional[str] = ..., llm_profile_id: _Optional[str] = ..., tool_policy: _Optional[_Union[ToolPolicy, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., turn_count: _Optional[int] = ...) -> None: ...

class CreateChatRequest(_message.Message):
    __slots__ = ("project", "title", "llm_profile_id", "tool_policy")
    class ToolPolicyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ToolPermission
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ToolPermission, str]] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LLM_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_POLICY_FIELD_NUMBER: _ClassVar[int]
    project: str
    title: str
    llm_profile_id: str
    tool_policy: _containers.ScalarMap[str, ToolPermission]
    def __init__(self, project: _Optional[str] = ..., title: _Optional[str] = ..., llm_profile_id: _Optional[str] = ..., tool_policy: _Optional[_Mapping[str, ToolPermission]] = ...) -> None: ...

class CreateChatResponse(_message.Message):
    __slots__ = ("chat",)
    CHAT_FIELD_NUMBER: _ClassVar[int]
    chat: Chat
    def __init__(self, chat: _Optional[_Union[Chat, _Mapping]] = ...) -> None: ...

class GetChatRequest(_message.Message):
    __slots__ = ("chat_id",)
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    def __init__(self, chat_id: _Optional[str] = ...) -> None: ...

class GetChatResponse(_message.Message):
    __slots__ = ("chat", "messages", "memory_summary", "pending_questions", "pending_tool_calls")
    CHAT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PENDING_QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    PENDING_TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    chat: Chat
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    memory_summary: str
    pending_questions: _containers.RepeatedScalarFieldContainer[str]
    pending_tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    def __init__(self, chat: _Optional[_Union[Chat, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., memory_summary: _Optional[str] = ..., pending_questions: _Optional[_Iterable[str]] = ..., pending_tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ...) -> None: ...

class ListChatsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChatsResponse(_message.Message):
    __slots__ = ("chats", "next_page_token")
    CHATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chats: _containers.RepeatedCompositeFieldContainer[Chat]
    next_page_token: str
    def __init__(self, chats: _Optional[_Iterable[_Union[Chat, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteChatRequest(_message.Message):
    __slots__ = ("chat_id",)
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    def __init__(self, chat_id: _Optional[str] = ...) -> None: ...

class DeleteChatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("chat_id", "content")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    content: str
    def __init__(self, chat_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("project", "question", "llm_profile_id", "extractive")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    LLM_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRACTIVE_FIELD_NUMBER: _ClassVar[int]
    project: str
    question: str
    llm_profile_id: str
    extractive: bool
    def __init__(self, project: _Optional[str] = ..., question: _Optional[str] = ..., llm_profile_id: _Optional[str] = ..., extractive: _Optional[bool] = ...) -> None: ...

class ToolCallDecision(_message.Message):
    __slots__ = ("tool_call_id", "approve")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    approve: bool
    def __init__(self, tool_call_id: _Optional[str] = ..., approve: _Optional[bool] = ...) -> None: ...

class ResolveToolCallsRequest(_message.Message):
    __slots__ = ("chat_id", "decisions")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[ToolCallDecision]
    def __init__(self, chat_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[ToolCallDecision, _Mapping]]] = ...) -> None: ...

class SetToolPolicyRequest(_message.Message):
    __slots__ = ("chat_id", "tools")
    class ToolsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ToolPermission
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ToolPermission, str]] = ...) -> None: ...
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    tools: _containers.ScalarMap[str, ToolPermission]
    def __init__(self, chat_id: _Optional[str] = ..., tools: _Optional[_Mapping[str, ToolPermission]] = ...) -> None: ...

class SetToolPolicyResponse(_message.Message):
    __slots__ = ("tool_policy",)
    TOOL_POLICY_FIELD_NUMBER: _ClassVar[int]
    tool_policy: ToolPolicy
    def __init__(self, tool_policy: _Optional[_Union[ToolPolicy, _Mapping]] = ...) -> None: ...

class TurnStarted(_message.Message):
    __slots__ = ("turn_id", "user_message_id", "model", "llm_profile")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LLM_PROFILE_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    user_message_id: str
    model: str
    llm_profile: str
    def __init__(self, turn_id: _Optional[str] = ..., user_message_id: _Optional[str] = ..., model: _Optional[str] = ..., llm_profile: _Optional[str] = ...) -> None: ...

class AnswerDelta(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ToolCallStarted(_message.Message):
    __slots__ = ("call",)
    CALL_FIELD_NUMBER: _ClassVar[int]
    call: ToolCall
    def __init__(self, call: _Optional[_Union[ToolCall, _Mapping]] = ...) -> None: ...

class ToolCallResult(_message.Message):
    __slots__ = ("tool_call_id", "name", "summary", "is_error", "duration_ms")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    name: str
    summary: str
    is_error: bool
    duration_ms: float
    def __init__(self, tool_call_id: _Optional[str] = ..., name: _Optional[str] = ..., summary: _Optional[str] = ..., is_error: _Optional[bool] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class ApprovalRequired(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    def __init__(self, calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ...) -> None: ...

class ClarifyingQuestion(_message.Message):
    __slots__ = ("question",)
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    question: str
    def __init__(self, question: _Optional[str] = ...) -> None: ...

class TurnDone(_message.Message):
    __slots__ = ("message_id", "status", "answer")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    status: TurnStatus
    answer: str
    def __init__(self, message_id: _Optional[str] = ..., status: _Optional[_Union[TurnStatus, str]] = ..., answer: _Optional[str] = ...) -> None: ...

class ChatError(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ChatEvent(_message.Message):
    __slots__ = ("sequence", "turn_started", "answer_delta", "tool_call_started", "tool_result", "approval_required", "citation", "clarifying_question", "usage", "done", "error")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TURN_STARTED_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DELTA_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_STARTED_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CITATION_FIELD_NUMBER: _ClassVar[int]
    CLARIFYING_QUESTION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    turn_started: TurnStarted
    answer_delta: AnswerDelta
    tool_call_started: ToolCallStarted
    tool_result: ToolCallResult
    approval_required: ApprovalRequired
    citation: ChatCitation
    clarifying_question: ClarifyingQuestion
    usage: TokenUsage
    done: TurnDone
    error: ChatError
    def __init__(self, sequence: _Optional[int] = ..., turn_started: _Optional[_Union[TurnStarted, _Mapping]] = ..., answer_delta: _Optional[_Union[AnswerDelta, _Mapping]] = ..., tool_call_started: _Optional[_Union[ToolCallStarted, _Mapping]] = ..., tool_result: _Optional[_Union[ToolCallResult, _Mapping]] = ..., approval_required: _Optional[_Union[ApprovalRequired, _Mapping]] = ..., citation: _Optional[_Union[ChatCitation, _Mapping]] = ..., clarifying_question: _Optional[_Union[ClarifyingQuestion, _Mapping]] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., done: _Optional[_Union[TurnDone, _Mapping]] = ..., error: _Optional[_Union[ChatError, _Mapping]] = ...) -> None: ...
