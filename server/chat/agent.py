"""The agent: one turn, from retrieval to a cited answer.

Retrieval comes first, so even a one-step answer is grounded. Then either the
LLM iterates — answering, or calling tools under the chat's policy — within
the limits on steps, tokens and time, or, with no LLM, the extractive
answerer assembles an answer from the best passages. Answers are checked
against the turn's evidence ledger (what it retrieved, opened, grepped): the
citations it can verify are marked so, the others flagged.

A turn whose tool call needs approval stops with PAUSED and a ``TurnState``
that holds everything needed to go on (JSON, stored with the turn), so any
server can resume it. What each request holds, and how it fits the endpoint's
context, is ``transcript``'s part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument
from ..llm.client import LlmEndpoint, LlmError, StreamEnd, TextDelta, ToolCallDone, client_for
from ..models import Project, ToolPermission, TurnStatus, new_id
from ..retrieval.ops import RetrievalOps
from ..retrieval.query import MAX_QUERY_CHARS, SearchMode, SearchQuery
from ..threads import BlockingRunner
from ..tools.ops import ToolEntry, ToolsOps, check_arguments
from . import events as ev
from .evidence import EvidenceLedger
from .extractive import extractive_answer
from .policy import CLARIFY_TOOL
from .prompt import CLARIFY_SCHEMA, system_message, user_message
from .records import ChatCitation, Message, MessageRole, ToolCallRequest, Usage
from .summaries import summarize_result
from .transcript import (
    TOOL_RESULT_CHARS,
    add_result,
    assistant_calls,
    cut,
    fit_tool_results,
    fitted_head,
    replayable,
    tool_requests,
)

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
RETRIEVAL_TOP_K = 8
EVIDENCE_SHARE = 0.35  # of the context budget, for the retrieved passages
ANSWER_CHUNK_CHARS = 80  # extractive answers stream in pieces of about this size
MAX_CALLS_PER_STEP = 8  # tool calls one LLM reply may make; more are refused
MAX_ANSWER_CHARS = 100_000  # an answer is cut here (a model that never stops)
MIN_TOOL_ROOM_TOKENS = 200  # below this left for tool results, a step offers no tools

Emit = Callable[[ev.ChatEvent], Awaitable[None]]
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True, slots=True)
class TurnLimits:
    max_steps: int  # LLM calls per turn
    max_tokens: int  # prompt + completion tokens per turn
    timeout_s: float  # wall time of one run (a start, or a resumption)


@dataclass(frozen=True, slots=True)
class TurnInput:
    """Everything a turn is answered from, besides its state."""

    project: Project
    question: str
    history: list[dict[str, Any]]  # earlier exchanges that fit, as chat messages
    memory_summary: str
    pending_questions: list[str]  # the assistant's questions this message answers
    catalog: list[ToolEntry]
    permissions: dict[str, ToolPermission]
    may_run_side_effects: bool  # the caller is a project admin
    can_pause: bool  # False for Ask: nobody could approve a call


@dataclass(slots=True)
class TurnState:
    """A turn in progress; JSON-able so a paused turn resumes on any server."""

    ledger: EvidenceLedger = field(default_factory=EvidenceLedger)
    transcript: list[dict[str, Any]] = field(default_factory=list)  # LLM messages of this turn
    messages: list[Message] = field(default_factory=list)  # assistant/tool messages to store
    answer: str = ""  # every text delta streamed so far
    usage: Usage = field(default_factory=Usage)
    usage_estimated: bool = False  # some of ``usage`` was counted here (none reported)
    steps: int = 0
    pending: list[ToolCallRequest] = field(default_factory=list)
    final_from: int = 0  # where in ``answer`` the text after the last tool calls starts

    @property
    def final_text(self) -> str:
        """The answer proper: what the model said after its last tool calls."""
        return self.answer[self.final_from :]

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger.to_json(),
            "transcript": self.transcript,
            "messages": [m.to_json() for m in self.messages],
            "answer": self.answer,
            "usage": self.usage.to_json(),
            "usage_estimated": self.usage_estimated,
            "steps": self.steps,
            "pending": [c.to_json() for c in self.pending],
            "final_from": self.final_from,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TurnState:
        return cls(
            ledger=EvidenceLedger.from_json(data["ledger"]),
            transcript=[replayable(m) for m in data["transcript"]],
            messages=[Message.from_json(m) for m in data["messages"]],
            answer=str(data["answer"]),
            usage=Usage.from_json(data["usage"]),
            usage_estimated=bool(data.get("usage_estimated", False)),
            steps=int(data["steps"]),
            pending=[ToolCallRequest.from_json(c) for c in data["pending"]],
            final_from=int(data.get("final_from", 0)),
        )


@dataclass(slots=True)
class TurnOutcome:
    status: TurnStatus
    model: str
    citations: list[ChatCitation] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    error: ev.TurnError | None = None


class Agent:
    def __init__(
        self,
        retrieval: RetrievalOps,
        tools: ToolsOps,
        run_blocking: BlockingRunner,
        limits: TurnLimits,
        embed: Embed | None = None,
    ) -> None:
        self._retrieval = retrieval
        self._tools = tools
        self._rb = run_blocking
        self._limits = limits
        self._embed = embed

    async def start(
        self, turn: TurnInput, endpoint: LlmEndpoint | None, state: TurnState, emit: Emit
    ) -> TurnOutcome:
        """Answer a new question; ``state`` fills as the turn goes (the caller reads
        it when the turn is interrupted)."""
        model = endpoint.model if endpoint else EXTRACTIVE
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                await self._retrieve(turn, state)
                if endpoint is None:
                    return await self._extractive(turn, state, emit)
                budget = int(endpoint.context_tokens * 4 * EVIDENCE_SHARE)
                sources = state.ledger.prompt_block(budget)
                state.transcript.append(
                    user_message(turn.question, sources, turn.pending_questions)
                )
                return await self._loop(turn, endpoint, state, emit)
        except TimeoutError:
            return _failed(model, "limit_exceeded", self._too_long())
        except LlmError as exc:
            return _failed(model, exc.reason, _explained(exc, endpoint))

    async def resume(
        self,
        turn: TurnInput,
        endpoint: LlmEndpoint | None,
        state: TurnState,
        approved: dict[str, bool],
        emit: Emit,
    ) -> TurnOutcome:
        """Go on with a paused turn once each pending call is approved or denied."""
        model = endpoint.model if endpoint else EXTRACTIVE
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                pending, state.pending = state.pending, []
                for call in pending:
                    # The policy and the caller's role are checked again: either may have
                    # changed while the turn waited.
                    refusal = _refusal(turn, call) if approved[call.id] else "the user denied it"
                    if refusal:
                        await self._refuse(call, refusal, state, emit)
                    else:
                        await self._run_call(turn, call, state, emit)
                if endpoint is None:  # the chat's profile went away meanwhile
                    return await self._extractive(turn, state, emit)
                return await self._loop(turn, endpoint, state, emit)
        except TimeoutError:
            return _failed(model, "limit_exceeded", self._too_long())
        except LlmError as exc:
            return _failed(model, exc.reason, _explained(exc, endpoint))

    # ------------------------------------------------------------ retrieval
    async def _retrieve(self, turn: TurnInput, state: TurnState) -> None:
        query = SearchQuery.checked(retrieval_text(turn), SearchMode.HYBRID, RETRIEVAL_TOP_K)
        try:
            found = await self._rb(self._retrieval.search_project, turn.project, query)
        except FailedPrecondition as exc:  # never indexed: the tools may still help
            log.info("chat turn without retrieval in %s: %s", turn.project.slug, exc)
            return
        state.ledger.add_hits(found.hits)

    async def _extractive(self, turn: TurnInput, state: TurnState, emit: Emit) -> TurnOutcome:
        evidence = state.ledger.items()
        answer = await self._rb(extractive_answer, turn.question, evidence, self._embed)
        if answer.clarifying_question:
            await emit(ev.ClarifyingQuestion(answer.clarifying_question))
            return TurnOutcome(
                TurnStatus.CLARIFYING, EXTRACTIVE, questions=[answer.clarifying_question]
            )
        for piece in _pieces(answer.text, ANSWER_CHUNK_CHARS):
            state.answer += piece
            await emit(ev.AnswerDelta(piece))
        # The excerpts' own citations: quoted prose may contain references of its own.
        return await self._answered(EXTRACTIVE, state, emit, answer.citations())

    # ---------------------------------------------------------------- LLM
    async def _loop(
        self, turn: TurnInput, endpoint: LlmEndpoint, state: TurnState, emit: Emit
    ) -> TurnOutcome:
        client = client_for(endpoint)
        tools = self._tool_specs(turn)
        system = system_message(turn.project, turn.memory_summary)
        while True:
            spent = state.usage.prompt_tokens + state.usage.completion_tokens
            if state.steps >= self._limits.max_steps or spent >= self._limits.max_tokens:
                return _failed(endpoint.model, "limit_exceeded", self._exhausted(state))
            last = state.steps + 1 >= self._limits.max_steps
            # The last step may not call tools, so the turn ends with an answer.
            offered = None if last else tools
            text, calls = "", []
            head, room = fitted_head(
                system, turn.history, state.transcript, offered, endpoint.context_tokens
            )
            if offered and room < MIN_TOOL_ROOM_TOKENS:
                # A result cut to (almost) nothing tells the model nothing, and it would call
                # tools again until max_steps: this step must answer from what it has.
                log.warning("chat step offers no tools: no room for tool results (%d tokens left "
                         "of PROJECTQA_CHAT_CONTEXT_TOKENS=%d after instructions, history and "
                         "tool specs)", room, endpoint.context_tokens)  # fmt: skip
                offered = None
                head, room = fitted_head(
                    system, turn.history, state.transcript, None, endpoint.context_tokens
                )
            fit_tool_results(state.transcript, room)
            # aclosing: a cancelled turn closes the HTTP response at once, not at GC.
            async with contextlib.aclosing(
                client.stream([*head, *state.transcript], offered)
            ) as stream:
                async for item in stream:
                    if isinstance(item, TextDelta):
                        text += item.text
                        state.answer += item.text
                        await emit(ev.AnswerDelta(item.text))
                        if len(state.answer) > MAX_ANSWER_CHARS:  # a model that never stops
                            break
                    elif isinstance(item, ToolCallDone):
                        calls.append(item)
                    elif isinstance(item, StreamEnd):
                        state.usage += item.usage
                        state.usage_estimated |= item.usage_estimated
            state.steps += 1
            await emit(ev.UsageReport(state.usage))
            if not calls:
                return await self._answered(endpoint.model, state, emit)
            requests = tool_requests(calls, state.transcript)
            state.final_from = len(state.answer)
            state.transcript.append(assistant_calls(text, requests))
            state.messages.append(
                Message(new_id("msg"), MessageRole.ASSISTANT, text, tool_calls=tuple(requests),
                        model=endpoint.model)
            )  # fmt: skip
            clarifying = next((r for r in requests if r.name == CLARIFY_TOOL), None)
            if clarifying is not None:
                return await self._clarify(endpoint.model, clarifying, requests, state, emit)
            for index, request in enumerate(requests):
                if index < MAX_CALLS_PER_STEP:
                    await self._dispatch(turn, request, state, emit)
                else:
                    why = f"at most {MAX_CALLS_PER_STEP} tool calls per reply; call it again"
                    await self._refuse(request, why, state, emit)
            if state.pending:
                await emit(ev.ApprovalRequired(tuple(state.pending)))
                return TurnOutcome(TurnStatus.PAUSED, endpoint.model)

    def _tool_specs(self, turn: TurnInput) -> list[dict[str, Any]]:
        offered = [
            e
            for e in turn.catalog
            if turn.permissions.get(e.name) is not ToolPermission.DENY
            and (turn.can_pause or turn.permissions.get(e.name) is not ToolPermission.ASK)
            and e.name != CLARIFY_TOOL
        ]
        specs = [_function(e.name, e.description, e.arguments_schema) for e in offered]
        if turn.can_pause:  # Ask has no next message to take the answer
            specs.append(_function(CLARIFY_TOOL, "Ask the user a clarifying question "
                                   "instead of answering.", CLARIFY_SCHEMA))  # fmt: skip
        return specs

    async def _dispatch(
        self, turn: TurnInput, request: ToolCallRequest, state: TurnState, emit: Emit
    ) -> None:
        """Run, queue for approval, or refuse one call: never run what policy denies."""
        refusal = _refusal(turn, request)
        if refusal:
            await self._refuse(request, refusal, state, emit)
        elif turn.permissions[request.name] is ToolPermission.ASK:
            state.pending.append(request)
        else:
            await self._run_call(turn, request, state, emit)

    async def _run_call(
        self, turn: TurnInput, request: ToolCallRequest, state: TurnState, emit: Emit
    ) -> None:
        entry = _entry(turn.catalog, request.name)
        if entry is None:  # gone from the catalog while the turn was paused
            await self._refuse(request, "the tool is no longer available", state, emit)
            return
        await emit(ev.ToolCallStarted(request))
        try:
            check_arguments(entry.arguments_schema, request.arguments)
        except (InvalidArgument, FailedPrecondition) as exc:
            await self._report(request, f"error: {exc}", True, 0.0, state, emit)
            return
        result = await self._tools.run(turn.project, entry, request.arguments)
        if result.is_error:
            content = f"error: {result.error}"
        else:
            seen = state.ledger.add_tool_result(request.name, request.arguments, result.value)
            content = cut(
                json.dumps(result.value, ensure_ascii=False, default=str), TOOL_RESULT_CHARS
            )
            numbered = [e for e in seen if e.marker]
            if numbered:  # so the model can cite what it opened by number, too
                state.ledger.mark_shown(numbered)
                listed = ", ".join(f"[{e.marker}] {e.citation.label}" for e in numbered)
                content = f"Sources in this result: {listed}\n{content}"
        summary = summarize_result(request.name, result)
        await self._report(
            request, content, result.is_error, result.duration_ms, state, emit, summary
        )

    async def _refuse(
        self, request: ToolCallRequest, why: str, state: TurnState, emit: Emit
    ) -> None:
        await self._report(request, f"refused: {why}", True, 0.0, state, emit)

    async def _report(
        self,
        request: ToolCallRequest,
        content: str,
        is_error: bool,
        duration_ms: float,
        state: TurnState,
        emit: Emit,
        summary: str = "",
    ) -> None:
        """Give the model the call's result and the user its summary."""
        summary = summary or content
        add_result(state.transcript, request.id, content)
        state.messages.append(
            Message(new_id("msg"), MessageRole.TOOL, summary, tool_call_id=request.id)
        )
        await emit(ev.ToolCallResult(request.id, request.name, summary, is_error, duration_ms))

    async def _clarify(
        self,
        model: str,
        clarifying: ToolCallRequest,
        requests: Sequence[ToolCallRequest],
        state: TurnState,
        emit: Emit,
    ) -> TurnOutcome:
        question = str(clarifying.arguments.get("question") or "").strip()
        if not question:
            question = "Could you say more precisely what you would like to know?"
        for request in requests:  # the conversation goes on with the user's reply instead
            note = "asked" if request is clarifying else "skipped: a question was asked first"
            add_result(state.transcript, request.id, note)
        await emit(ev.ClarifyingQuestion(question))
        return TurnOutcome(TurnStatus.CLARIFYING, model, questions=[question])

    async def _answered(
        self,
        model: str,
        state: TurnState,
        emit: Emit,
        citations: list[ChatCitation] | None = None,
    ) -> TurnOutcome:
        if citations is None:
            citations = state.ledger.verify(state.answer)
        for citation in citations:
            await emit(ev.CitationFound(citation))
        return TurnOutcome(TurnStatus.COMPLETE, model, citations=citations)

    def _too_long(self) -> str:
        limit = self._limits.timeout_s
        return f"the turn took longer than {limit:g} s (PROJECTQA_CHAT_TURN_TIMEOUT_S)"

    def _exhausted(self, state: TurnState) -> str:
        tokens = state.usage.prompt_tokens + state.usage.completion_tokens
        counted = " (estimated here: the server reported no usage)" if state.usage_estimated else ""
        return (
            f"the turn used {state.steps} LLM calls and {tokens} tokens{counted} without an "
            f"answer (limits: {self._limits.max_steps} calls, {self._limits.max_tokens} tokens)"
        )


def _refusal(turn: TurnInput, request: ToolCallRequest) -> str:
    """Why ``request`` may not run (or be asked for); "" when it may."""
    entry = _entry(turn.catalog, request.name)
    permission = turn.permissions.get(request.name, ToolPermission.DENY)
    if entry is None or request.name == CLARIFY_TOOL:
        return f"unknown tool; the tools are: {', '.join(e.name for e in turn.catalog)}"
    if "_unparseable" in request.arguments:
        return "the arguments are not a JSON object of plain values; send them again"
    if permission is ToolPermission.DENY:
        return "this chat's tool policy denies this tool"
    if entry.side_effects and not turn.may_run_side_effects:
        return "this tool needs a project admin"
    if permission is ToolPermission.ASK and not turn.can_pause:
        return "this tool needs approval, which Ask cannot give"
    return ""


def _failed(model: str, reason: str, message: str) -> TurnOutcome:
    return TurnOutcome(TurnStatus.FAILED, model, error=ev.TurnError(reason, message))


def _explained(exc: LlmError, endpoint: LlmEndpoint | None) -> str:
    """The failure for people; an overflow says which setting to lower, and how far."""
    if exc.reason != "context_overflow" or endpoint is None:
        return str(exc)
    # The prompt is budgeted with an estimate (4 characters a token: code and JSON take
    # more tokens), and the answer needs room too: two thirds of the model's context.
    fitting = 2 * exc.context_tokens // 3 if exc.context_tokens else 0
    budget = f"this server fits prompts into {endpoint.context_tokens} tokens"
    if fitting and endpoint.context_tokens <= fitting:  # the budget is not the cause
        cannot_cut = "instructions, tool specs, the message itself"
        return f"{exc}; {budget}, so what it cannot cut ({cannot_cut}) is too long for this model"
    room = f"at most about {fitting}" if fitting else "lower"
    return f"{exc}; {budget} (PROJECTQA_CHAT_CONTEXT_TOKENS): set it {room}"


def _entry(catalog: list[ToolEntry], name: str) -> ToolEntry | None:
    return next((e for e in catalog if e.name == name), None)


def _function(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


def _pieces(text: str, size: int) -> list[str]:
    """``text`` in pieces of about ``size`` characters, cut after a space or newline."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            end = cut + 1 if cut > start else end
        pieces.append(text[start:end])
        start = end
    return pieces


def retrieval_text(turn: TurnInput) -> str:
    """What a turn retrieves on: the whole question, as Search takes it (a pasted report's
    title at its start names the code as much as its traceback), after the assistant's
    pending question it answers, as much of that as fits in the limit."""
    pending = " ".join(turn.pending_questions[-1:])
    room = MAX_QUERY_CHARS - len(turn.question) - 1
    return f"{pending[:room]} {turn.question}" if pending and room > 0 else turn.question
