"""Chat operations: the domain behind ChatService.

A chat is its owner's alone: anyone else, or an owner no longer in the
project, gets NOT_FOUND. A turn is stored RUNNING (with the user message and a
lease) before the agent starts, so two turns of one chat cannot run at once
on any number of servers, and replaced whole when it ends, pauses or is
interrupted: a turn is never half-written.

``TurnStarted`` is the first event of every turn: a memory fold the turn needs
runs after it, between two ``TurnProgress`` events (see ``memory``). An answer
that fails or is cancelled midway is never stored as the assistant's answer:
the turn's note says how many characters of it had been streamed (the client
has them; the chat's history and memory do not take a fragment as an answer).
"""

from __future__ import annotations

import asyncio
import builtins  # `list` in annotations after a method named list means the method
import dataclasses
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..access import Access
from ..auth import Principal
from ..errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ..llm.client import LlmEndpoint, client_for
from ..llm.resolve import ProfileResolver
from ..models import (
    Chat,
    ChatTurn,
    Project,
    ProjectRole,
    ToolPermission,
    TurnStatus,
    new_id,
    utcnow,
)
from ..paging import page_of, page_request
from ..store import Store
from ..threads import BlockingRunner
from ..tools.ops import ToolEntry, ToolsOps
from ..validation import optional_text
from . import events as ev
from .agent import EXTRACTIVE, Agent, Emit, TurnInput, TurnOutcome, TurnState
from .memory import fold, turns_to_fold
from .policy import changed_policy, effective_policy
from .prompt import fitted_history, one_line
from .records import Message, MessageRole, ToolCallRequest

log = logging.getLogger(__name__)

MAX_TITLE = 200
TITLE_CHARS = 80  # of the first question, when a chat is given no title
# Each memory summary request (a cut one is asked for once more) may take this long, or
# one request's timeout if shorter; then its request is closed and the turns condensed.
FOLD_TIMEOUT_S = 60.0
FOLD_ATTEMPTS = 2
FOLDING = "folding_memory"  # the TurnProgress stage
# Beyond the turn timeout (and a memory fold), before a RUNNING turn is taken as stale.
LEASE_GRACE = timedelta(seconds=60 + FOLD_ATTEMPTS * FOLD_TIMEOUT_S)
QUEUE_EVENTS = 64  # events buffered between the agent and a slow client
HISTORY_STATUSES = (TurnStatus.COMPLETE, TurnStatus.CLARIFYING)


@dataclass(frozen=True, slots=True)
class ChatView:
    chat: Chat
    effective_policy: dict[str, ToolPermission]


@dataclass(frozen=True, slots=True)
class ChatDetails:
    view: ChatView
    messages: list[Message]
    pending_questions: list[str]
    pending_calls: list[ToolCallRequest]


@dataclass(frozen=True, slots=True)
class _Claim:
    """A turn this server stored RUNNING, and how to give it back if it cannot go on."""

    turn: ChatTurn
    approved: dict[str, bool] | None = None  # the decisions, when resuming a paused turn
    state: TurnState = field(default_factory=TurnState)
    paused: ChatTurn | None = None  # the turn as it was, when resuming

    def given_back(self, exc: BaseException) -> ChatTurn:
        """Paused again when it was resumed, else ended (interrupted or failed)."""
        return self.paused or _unstarted(self.turn, exc)


@dataclass(frozen=True, slots=True)
class _Context:
    """What a turn reads from the store before it runs."""

    chat: Chat
    project: Project
    endpoint: LlmEndpoint | None
    turns: list[ChatTurn]
    catalog: list[ToolEntry]
    is_admin: bool


@dataclass(frozen=True, slots=True)
class _Turn:
    """A turn about to run: where, with what, and how its end is stored."""

    project: Project
    chat: Chat | None  # None for Ask
    record: ChatTurn | None  # the stored RUNNING turn; None for Ask
    input: TurnInput
    endpoint: LlmEndpoint | None
    folding: builtins.list[ChatTurn] = field(default_factory=builtins.list)  # into memory first


class ChatOps:
    def __init__(
        self,
        store: Store,
        access: Access,
        tools: ToolsOps,
        agent: Agent,
        resolver: ProfileResolver,
        run_blocking: BlockingRunner,
        *,
        max_message_chars: int,
        turn_timeout_s: float,
        context_tokens: int,
    ) -> None:
        self._store = store
        self._access = access
        self._tools = tools
        self._agent = agent
        self._resolver = resolver
        self._rb = run_blocking
        self._max_message_chars = max_message_chars
        self._lease = timedelta(seconds=turn_timeout_s) + LEASE_GRACE
        self._context_tokens = context_tokens
        self._undoing: set[asyncio.Future[Any]] = set()  # claims given back after a cancel

    # ------------------------------------------------------------- records
    async def create(
        self,
        principal: Principal,
        project_ref: str,
        title: str,
        profile_id: str,
        policy: dict[str, ToolPermission | None],
    ) -> ChatView:
        return await self._rb(self._create, principal, project_ref, title, profile_id, policy)

    def _create(
        self,
        principal: Principal,
        project_ref: str,
        title: str,
        profile_id: str,
        policy: dict[str, ToolPermission | None],
    ) -> ChatView:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        if len(title) > MAX_TITLE:
            raise InvalidArgument("title", f"must be at most {MAX_TITLE} characters")
        if profile_id:
            self._check_profile(project, profile_id)
        catalog = self._tools.catalog(project)
        now = utcnow()
        chat = Chat(
            id=new_id("chat"), project_id=project.id, user_id=principal.user.id,
            title=" ".join(title.split()), llm_profile_id=profile_id,
            tool_policy=changed_policy({}, policy, catalog, "tool_policy"), memory_summary="",
            memory_through=0, turn_count=0, created_at=now, updated_at=now,
        )  # fmt: skip
        self._store.create_chat(chat)
        return ChatView(chat, effective_policy(catalog, chat.tool_policy))

    async def get(self, principal: Principal, chat_id: str) -> ChatDetails:
        return await self._rb(self._get, principal, chat_id)

    def _get(self, principal: Principal, chat_id: str) -> ChatDetails:
        chat, project = self._own_chat(principal, chat_id)
        turns = self._store.list_turns(chat.id)
        last = turns[-1] if turns else None
        return ChatDetails(
            view=ChatView(chat, effective_policy(self._tools.catalog(project), chat.tool_policy)),
            messages=[Message.from_json(m) for turn in turns for m in turn.messages],
            pending_questions=_questions_of(last),
            pending_calls=_pending_of(last),
        )

    async def list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[list[ChatView], str]:
        return await self._rb(self._list, principal, project_ref, page_size, page_token)

    def _list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[builtins.list[ChatView], str]:
        project = (
            self._access.project(principal, project_ref, ProjectRole.MEMBER)
            if project_ref
            else None
        )
        listing = f"chats:{principal.user.id}:{project.id if project else ''}"
        request = page_request(listing, page_size, page_token)
        chats = self._store.list_chats(principal.user.id, project.id if project else None, request)
        page, token = page_of(listing, chats, request, key=lambda c: c.id)
        views: builtins.list[ChatView] = []
        catalogs: dict[str, builtins.list[ToolEntry] | None] = {}
        for chat in page:
            if chat.project_id not in catalogs:
                visible = self._visible_project(principal, chat.project_id)
                catalogs[chat.project_id] = self._tools.catalog(visible) if visible else None
            catalog = catalogs[chat.project_id]
            if catalog is not None:  # left the project: chats hidden
                views.append(ChatView(chat, effective_policy(catalog, chat.tool_policy)))
        return views, token

    async def delete(self, principal: Principal, chat_id: str) -> None:
        await self._rb(self._delete, principal, chat_id)

    def _delete(self, principal: Principal, chat_id: str) -> None:
        chat, _ = self._own_chat(principal, chat_id)
        self._store.delete_chat(chat.id)

    async def set_policy(
        self, principal: Principal, chat_id: str, changes: dict[str, ToolPermission | None]
    ) -> ChatView:
        return await self._rb(self._set_policy, principal, chat_id, changes)

    def _set_policy(
        self, principal: Principal, chat_id: str, changes: dict[str, ToolPermission | None]
    ) -> ChatView:
        chat, project = self._own_chat(principal, chat_id)
        if not changes:
            raise InvalidArgument("tools", "must name at least one tool")
        catalog = self._tools.catalog(project)
        chat = dataclasses.replace(chat, tool_policy=changed_policy(chat.tool_policy, changes,
                                                                    catalog))  # fmt: skip
        if not self._store.update_chat(chat, ("tool_policy",)):
            raise NotFound(f"chat {chat_id!r} not found")
        return ChatView(chat, effective_policy(catalog, chat.tool_policy))

    # --------------------------------------------------------------- turns
    async def send(
        self, principal: Principal, chat_id: str, content: str
    ) -> AsyncGenerator[ev.ChatEvent, None]:
        """Checks, then the stream (errors before it starts are the RPC's status)."""
        content = self._message(content, "content")
        claim, prepared = await self._start(principal, self._begin, chat_id, content)
        return self._stream(prepared, claim.state, resume=None)

    async def ask(
        self, principal: Principal, project_ref: str, question: str, profile_id: str,
        extractive: bool,
    ) -> AsyncGenerator[ev.ChatEvent, None]:  # fmt: skip
        question = self._message(question, "question")
        turn = await self._rb(
            self._one_shot, principal, project_ref, question, profile_id, extractive
        )
        return self._stream(turn, TurnState(), None)

    def _one_shot(
        self, principal: Principal, project_ref: str, question: str, profile_id: str,
        extractive: bool,
    ) -> _Turn:  # fmt: skip
        """An Ask: no chat, no history, and nobody to approve a call."""
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        if profile_id:
            self._check_profile(project, profile_id)
        endpoint = None if extractive else self._endpoint(project, profile_id)
        catalog = self._tools.catalog(project)
        turn_input = TurnInput(
            project=project, question=question, history=[], memory_summary="",
            pending_questions=[], catalog=catalog, permissions=effective_policy(catalog, {}),
            may_run_side_effects=self._access.is_admin(principal, project.id), can_pause=False,
        )  # fmt: skip
        return _Turn(project, None, None, turn_input, endpoint)

    async def resolve(
        self, principal: Principal, chat_id: str, decisions: builtins.list[tuple[str, bool]]
    ) -> AsyncGenerator[ev.ChatEvent, None]:
        claim, prepared = await self._start(principal, self._claim, chat_id, decisions)
        return self._stream(prepared, claim.state, resume=claim.approved)

    async def _start(
        self, principal: Principal, claim: Callable[..., _Claim], *args: Any
    ) -> tuple[_Claim, _Turn]:
        """Store a RUNNING turn with ``claim`` (on the store threads) and prepare it.

        A turn that cannot start — the RPC was cancelled meanwhile, or preparing
        failed — is given back at once (ended, or paused again), so it never holds
        the chat until its lease ends. A cancelled claim still lands in its thread,
        so it is given back when it has."""
        future = asyncio.ensure_future(self._rb(claim, principal, *args))
        try:
            claimed: _Claim = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._give_back_later)
            raise
        try:
            return claimed, await self._prepare(principal, claimed.turn)
        except BaseException as exc:
            await asyncio.shield(self._give_back(claimed.given_back(exc)))
            raise

    async def _give_back(self, turn: ChatTurn) -> None:
        await self._rb(self._store.replace_turn, turn, TurnStatus.RUNNING)

    def _give_back_later(self, claim: asyncio.Future[_Claim]) -> None:
        """A claim whose RPC was cancelled while it was being stored."""
        if claim.cancelled() or claim.exception() is not None:
            return  # nothing was stored
        turn = claim.result().given_back(asyncio.CancelledError())
        task = asyncio.ensure_future(self._give_back(turn))
        self._undoing.add(task)
        task.add_done_callback(self._undoing.discard)

    def _begin(self, principal: Principal, chat_id: str, content: str) -> _Claim:
        """Store the new RUNNING turn with the user's message (the chat's lock)."""
        chat, _ = self._own_chat(principal, chat_id)
        last = self._store.last_turn(chat.id)
        if last is not None and last.status is TurnStatus.PAUSED:
            calls = ", ".join(f"{c['id']} ({c['name']})" for c in last.pending_calls)
            raise FailedPrecondition(
                f"chat {chat.id!r} is waiting for approval of tool calls {calls}: "
                "approve or deny them with ResolveToolCalls first"
            )
        if last is not None and last.status is TurnStatus.RUNNING:
            self._expire(last)
        now = utcnow()
        message = Message(new_id("msg"), MessageRole.USER, content, created_at=now)
        turn = ChatTurn(
            id=new_id("turn"), chat_id=chat.id, project_id=chat.project_id,
            seq=(last.seq if last else 0) + 1, status=TurnStatus.RUNNING,
            messages=[message.to_json()], pending_calls=[], questions=[], state={}, error="",
            lease_until=now + self._lease, created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            self._store.create_turn(turn)
        except AlreadyExists:
            raise FailedPrecondition(f"another turn of chat {chat.id!r} started first") from None
        return _Claim(turn)

    def _expire(self, running: ChatTurn) -> None:
        """A RUNNING turn blocks new ones until its lease ends (its server may have died)."""
        now = utcnow()
        if running.lease_until is not None and running.lease_until > now:
            raise FailedPrecondition(
                f"chat {running.chat_id!r} is still answering turn {running.id!r}; "
                "wait for it to end (or cancel it) before sending another message"
            )
        gone = dataclasses.replace(
            running, status=TurnStatus.INTERRUPTED, lease_until=None, updated_at=now,
            error="the server answering this turn stopped before it ended",
        )  # fmt: skip
        self._store.replace_turn(gone, TurnStatus.RUNNING)

    def _claim(
        self, principal: Principal, chat_id: str, decisions: builtins.list[tuple[str, bool]]
    ) -> _Claim:
        """Take the paused turn for this server, once: a second resolver finds it gone."""
        chat, _ = self._own_chat(principal, chat_id)
        if not decisions:
            raise InvalidArgument("decisions", "must decide every pending tool call")
        last = self._store.last_turn(chat.id)
        pending = {c["id"]: c["name"] for c in last.pending_calls} if last else {}
        if last is None or last.status is not TurnStatus.PAUSED:
            pending = {}
        approved: dict[str, bool] = {}
        for index, (call_id, approve) in enumerate(decisions):
            if not call_id:
                raise InvalidArgument(f"decisions[{index}].tool_call_id", "must not be empty")
            if call_id in approved:
                raise InvalidArgument(f"decisions[{index}].tool_call_id", f"{call_id!r} twice")
            approved[call_id] = approve
        stray = [call_id for call_id in approved if call_id not in pending]
        if stray:
            waiting = ", ".join(pending) or "none"
            raise FailedPrecondition(
                f"tool calls {', '.join(stray)} are not pending in chat {chat.id!r} (never "
                f"requested, or already resolved); pending: {waiting}"
            )
        missing = [f"{i} ({n})" for i, n in pending.items() if i not in approved]
        if missing:
            missed = ", ".join(missing)
            raise InvalidArgument("decisions", f"no decision for pending calls {missed}")
        assert last is not None
        state = TurnState.from_json(last.state)
        now = utcnow()
        running = dataclasses.replace(
            last, status=TurnStatus.RUNNING, pending_calls=[], lease_until=now + self._lease,
            updated_at=now,
        )  # fmt: skip
        if not self._store.replace_turn(running, TurnStatus.PAUSED):
            raise FailedPrecondition(f"the tool calls of turn {last.id!r} were already resolved")
        return _Claim(running, approved, state, paused=last)

    async def _prepare(self, principal: Principal, turn: ChatTurn) -> _Turn:
        """What the agent needs for a stored turn: the turns to fold into memory (folded once
        the turn has started), the history that fits, the policy."""
        found = await self._rb(self._context, principal, turn)
        chat, endpoint, turns = found.chat, found.endpoint, found.turns
        earlier = [t for t in turns if t.seq < turn.seq]
        previous = earlier[-1] if earlier else None
        history_turns = [t for t in earlier if t.status in HISTORY_STATUSES]
        folding = turns_to_fold(history_turns, endpoint.context_tokens) if endpoint else []
        history_turns = history_turns[len(folding) :]  # the oldest are folded
        turn_input = TurnInput(
            project=found.project,
            question=Message.from_json(turn.messages[0]).content,
            history=fitted_history(history_turns, endpoint.context_tokens // 2) if endpoint else [],
            memory_summary=chat.memory_summary,
            pending_questions=_questions_of(previous),
            catalog=found.catalog,
            permissions=effective_policy(found.catalog, chat.tool_policy),
            may_run_side_effects=found.is_admin,
            can_pause=True,
        )
        return _Turn(found.project, chat, turn, turn_input, endpoint, folding)

    def _context(self, principal: Principal, turn: ChatTurn) -> _Context:
        """Everything a turn reads from the store, in one trip to the store threads (with
        hundreds of turns at once, each trip waits in line)."""
        chat, project = self._own_chat(principal, turn.chat_id)
        return _Context(
            chat=chat,
            project=project,
            endpoint=self._endpoint(project, chat.llm_profile_id),
            # Folded turns are in the memory summary; the previous turn never is.
            turns=self._store.list_turns(chat.id, chat.memory_through),
            catalog=self._tools.catalog(project),
            is_admin=self._access.is_admin(principal, project.id),
        )

    async def _remember(self, turn: _Turn, emit: Emit) -> TurnInput:
        """The turn's input with its older turns folded into the chat's memory (stored),
        saying so to the client as it begins and as it ends."""
        if not turn.folding or turn.chat is None or turn.endpoint is None:
            return turn.input
        chat, endpoint = turn.chat, turn.endpoint
        count = len(turn.folding)
        plural = "s" if count != 1 else ""
        begun = f"Summarizing {count} earlier turn{plural} into the chat's memory…"
        await emit(ev.TurnProgress(FOLDING, begun))
        # Each request is bounded: at the bound it is cancelled, which closes its
        # connection (a one-request-at-a-time server is free for the answer).
        attempt_s = min(FOLD_TIMEOUT_S, endpoint.timeout_s)
        folded = await fold(chat.memory_summary, turn.folding, endpoint.context_tokens,
                            client_for(endpoint), attempt_s)  # fmt: skip
        chat = dataclasses.replace(
            chat, memory_summary=folded.summary, memory_through=folded.through
        )
        await self._rb(self._store.update_chat, chat, ("memory_summary", "memory_through"))
        await emit(ev.TurnProgress(FOLDING, folded.how, done=True))
        return dataclasses.replace(turn.input, memory_summary=folded.summary)

    # ------------------------------------------------------------ streaming
    async def _stream(
        self, turn: _Turn, state: TurnState, resume: dict[str, bool] | None
    ) -> AsyncGenerator[ev.ChatEvent, None]:
        """Run the agent in its own task and relay its events; store how the turn ended.

        The agent runs apart from the RPC so a client that cancels (or whose
        deadline passes) stops it at once: its LLM request closes, its running
        tool is cancelled, and the turn is stored as interrupted."""
        endpoint = turn.endpoint
        queue: asyncio.Queue[ev.ChatEvent | TurnOutcome] = asyncio.Queue(QUEUE_EVENTS)

        async def work() -> None:
            try:
                turn_input = await self._remember(turn, queue.put)
                if resume is None:
                    outcome = await self._agent.start(turn_input, endpoint, state, queue.put)
                else:
                    outcome = await self._agent.resume(
                        turn_input, endpoint, state, resume, queue.put
                    )
            except Exception:
                log.exception("chat turn failed in project %s", turn.project.slug)
                model = endpoint.model if endpoint else EXTRACTIVE
                error = ev.TurnError("internal", "the turn failed; see the server log")
                outcome = TurnOutcome(TurnStatus.FAILED, model, error=error)
            await queue.put(outcome)

        task: asyncio.Task[None] | None = None
        try:
            yield ev.TurnStarted(
                turn_id=turn.record.id if turn.record else new_id("turn"),
                user_message_id=turn.record.messages[0]["id"]
                if turn.record and resume is None
                else "",
                model=endpoint.model if endpoint else EXTRACTIVE,
                llm_profile=endpoint.name if endpoint and endpoint.profile_id else "",
            )
            task = asyncio.create_task(work())
            held: ev.ChatEvent | TurnOutcome | None = None
            while not isinstance(item := held or await queue.get(), TurnOutcome):
                item, held = _merged_text(item, queue)
                yield item
            message_id = await self._finish(turn, state, item)
        except BaseException:  # cancelled, deadline passed, or the client went away
            if task is not None:
                task.cancel()
            await asyncio.shield(self._interrupted(turn, state, task))
            raise
        if item.error is not None:
            yield item.error
        else:
            yield ev.TurnDone(message_id, item.status, state.final_text)

    async def _finish(self, turn: _Turn, state: TurnState, outcome: TurnOutcome) -> str:
        if turn.record is None:  # Ask stores nothing
            return ""
        final = Message(
            new_id("msg"), MessageRole.ASSISTANT,
            "\n".join(outcome.questions) if outcome.questions else state.final_text,
            citations=tuple(outcome.citations), model=outcome.model, usage=state.usage,
        )  # fmt: skip
        messages = [*state.messages]
        if outcome.status in (TurnStatus.COMPLETE, TurnStatus.CLARIFYING):
            messages.append(final)
        if outcome.error is not None:
            error = outcome.error
            why = error.message.rstrip(".")
            messages.append(_note(f"The turn failed ({error.reason}): {why}.{_unkept(state)}"))
        record = _ended(
            turn.record,
            outcome.status,
            messages,
            outcome.error.message if outcome.error else "",
            pending=state.pending,
            questions=outcome.questions,
            state=state.to_json() if outcome.status is TurnStatus.PAUSED else {},
        )
        await self._store_end(turn, record)
        return final.id if final in messages else ""

    async def _interrupted(
        self, turn: _Turn, state: TurnState, task: asyncio.Task[None] | None
    ) -> None:
        if task is not None:
            await asyncio.wait([task], timeout=1.0)  # the agent's cancellation has landed
        if turn.record is None:
            return
        note = _note(
            "The turn was interrupted: the client cancelled or its deadline passed."
            + _unkept(state)
        )
        messages = [*state.messages, note]
        record = _ended(turn.record, TurnStatus.INTERRUPTED, messages, "interrupted by the client")
        try:
            await self._store_end(turn, record)
        except Exception:  # the client is gone; the log is the only place left to say it
            log.exception("could not store the interrupted turn %s", turn.record.id)

    async def _store_end(self, turn: _Turn, record: ChatTurn) -> None:
        await self._rb(self._end, turn, record)

    def _end(self, turn: _Turn, record: ChatTurn) -> None:
        assert turn.chat is not None
        if not self._store.replace_turn(record, TurnStatus.RUNNING):
            log.warning("turn %s was taken over before it ended; its end is dropped", record.id)
            return
        question = Message.from_json(record.messages[0]).content
        ended = dataclasses.replace(
            turn.chat, turn_count=record.seq, updated_at=record.updated_at,
            title=turn.chat.title or one_line(question, TITLE_CHARS),
        )  # fmt: skip
        fields = ("turn_count", "updated_at") + (() if turn.chat.title else ("title",))
        self._store.update_chat(ended, fields)

    # ------------------------------------------------------------- helpers

    def _own_chat(self, principal: Principal, chat_id: str) -> tuple[Chat, Project]:
        if not chat_id:
            raise InvalidArgument("chat_id", "must not be empty")
        chat = self._store.get_chat(chat_id)
        if chat is not None and chat.user_id == principal.user.id:
            project = self._visible_project(principal, chat.project_id)
            if project is not None:
                return chat, project
        raise NotFound(f"chat {chat_id!r} not found")

    def _visible_project(self, principal: Principal, project_id: str) -> Project | None:
        try:
            return self._access.project(principal, project_id, ProjectRole.MEMBER)
        except NotFound:
            return None

    def _check_profile(self, project: Project, profile_id: str) -> None:
        profile = self._store.get_llm_profile(profile_id)
        if profile is None or profile.project_id not in (None, project.id):
            raise NotFound(f"LLM profile {profile_id!r} not found in project {project.slug!r}")

    def _endpoint(self, project: Project, profile_id: str) -> LlmEndpoint | None:
        return self._resolver.resolve(project.id, profile_id)

    def _message(self, text: str, field: str) -> str:
        """A user's message: multi-line text, not blank, within the size limit."""
        text = optional_text(field, text, self._max_message_chars).strip()
        if not text:
            raise InvalidArgument(field, "must not be empty or only whitespace")
        return text


def _merged_text(
    item: ev.ChatEvent, queue: asyncio.Queue[ev.ChatEvent | TurnOutcome]
) -> tuple[ev.ChatEvent, ev.ChatEvent | TurnOutcome | None]:
    """``item``, joined with the answer text already waiting behind it, and the first
    waiting event that is not text (to send next). Text that piled up while the client
    was slow goes out as one event: fewer, larger messages when the server is busiest."""
    if not isinstance(item, ev.AnswerDelta):
        return item, None
    text = [item.text]
    while not queue.empty():
        waiting = queue.get_nowait()
        if not isinstance(waiting, ev.AnswerDelta):
            return ev.AnswerDelta("".join(text)), waiting
        text.append(waiting.text)
    return (ev.AnswerDelta("".join(text)) if len(text) > 1 else item), None


def _questions_of(turn: ChatTurn | None) -> list[str]:
    if turn is None or turn.status is not TurnStatus.CLARIFYING:
        return []
    return [str(q) for q in turn.questions]


def _pending_of(turn: ChatTurn | None) -> list[ToolCallRequest]:
    if turn is None or turn.status is not TurnStatus.PAUSED:
        return []
    return [ToolCallRequest.from_json(c) for c in turn.pending_calls]


def _unstarted(turn: ChatTurn, exc: BaseException) -> ChatTurn:
    """``turn`` ended before its first event: the client left, or something failed."""
    if isinstance(exc, asyncio.CancelledError):
        status, why = TurnStatus.INTERRUPTED, "The turn was interrupted before it started."
    else:
        log.error("chat turn %s could not start", turn.id, exc_info=exc)
        status, why = TurnStatus.FAILED, "The turn could not start; see the server log."
    return _ended(turn, status, [_note(why)], why)


def _ended(
    record: ChatTurn,
    status: TurnStatus,
    messages: list[Message],
    error: str = "",
    *,
    pending: list[ToolCallRequest] | None = None,
    questions: list[str] | None = None,
    state: dict[str, Any] | None = None,
) -> ChatTurn:
    """``record`` (stored RUNNING with the user's message) as it ended: ``messages`` after
    the user's, and no lease."""
    return dataclasses.replace(
        record,
        status=status,
        messages=[record.messages[0], *(m.to_json() for m in messages)],
        pending_calls=[c.to_json() for c in pending or ()],
        questions=list(questions or ()),
        state=state or {},
        error=error,
        lease_until=None,
        updated_at=utcnow(),
    )


def _note(text: str) -> Message:
    return Message(new_id("msg"), MessageRole.SYSTEM, text)


def _unkept(state: TurnState) -> str:
    """What a turn that ended midway says of the answer it had begun (not stored as one)."""
    streamed = len(state.final_text)
    if not streamed:
        return ""
    return (
        f" {streamed} characters of the answer had been streamed; they are not kept as the "
        "assistant's answer."
    )
