"""Typed records that flow between the store, the domain and the transports.

Plain frozen dataclasses: the store persists them, the domain decides with
them, servicers turn them into protobuf. Nothing here imports generated code.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (what every backend can store)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id(prefix: str) -> str:
    """A creation-ordered id such as ``prj_0189f3a2c4d5000a7c1e9b2f``.

    48 bits of milliseconds, a 16-bit sequence that orders ids made in the
    same millisecond by this process, then 32 random bits: ids sort by
    creation, which keyset pagination relies on.
    """
    global _last_ms, _sequence
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _sequence = ms, 0
        elif _sequence < 0xFFFF:
            _sequence += 1
        else:  # 65536 ids in one millisecond: borrow the next one
            _last_ms, _sequence = _last_ms + 1, 0
        ms, sequence = _last_ms, _sequence
    return f"{prefix}_{ms:012x}{sequence:04x}{secrets.token_hex(4)}"


_id_lock = threading.Lock()
_last_ms = 0
_sequence = 0


class ProjectRole(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    display_name: str
    global_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    user_id: str
    secret_hash: str
    description: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    slug: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    project_id: str
    user_id: str
    role: ProjectRole
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Connector:
    id: str
    project_id: str
    type: str
    name: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class LlmProvider(StrEnum):
    OPENAI = "openai"
    OLLAMA = "ollama"
    OPENAI_COMPATIBLE = "openai_compatible"


@dataclass(frozen=True, slots=True)
class LlmProfile:
    id: str
    project_id: str | None  # None: a global profile
    name: str
    provider: LlmProvider
    base_url: str
    model: str
    api_key: str
    temperature: float
    max_output_tokens: int
    timeout_seconds: int
    is_default: bool
    created_at: datetime
    updated_at: datetime
    # also take tool calls the model writes as text after some prose (llm/textual_calls.py)
    tool_calls_in_text: bool = False


@dataclass(frozen=True, slots=True)
class FeatureFlagValue:
    project_id: str | None  # None: the global value
    key: str
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ToolSetting:
    project_id: str
    tool: str
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CustomTool:
    """A script tool a project admin defined: argv run in a checkout, never via a shell.

    ``command`` items that are exactly ``{name}`` become the argument (arrays
    expand to several items, missing optional ones drop the item); ``{name}``
    inside a longer item is replaced by the argument's text.
    """

    id: str
    project_id: str
    name: str  # unique per project
    description: str
    command: list[str]
    arguments_schema: dict[str, Any]
    timeout_seconds: int
    max_output_bytes: int
    side_effects: bool
    connector: str  # connector id whose checkout is the working directory; '' = first
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Keyset page: items whose sort key is greater than ``after``, at most ``limit``."""

    limit: int
    after: str | None = None


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_after: str | None = None  # sort key to continue from; None on the last page


# ------------------------------------------------------------------ ingestion
class RunMode(StrEnum):
    FULL = "full"  # read every document; documents not seen are deleted at the end
    INCREMENTAL = "incremental"  # only what changed since the last successful run


class RunTrigger(StrEnum):
    MANUAL = "manual"  # StartIngestion / `projectqa ingest`
    WEBHOOK = "webhook"  # a verified push/issue/page event
    RESUME = "resume"  # continues a run the server lost (crash, kill -9)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class IngestionRun:
    """One pass of one connector, with what it did. ``updated_at`` is its heartbeat."""

    id: str
    project_id: str
    connector_id: str
    mode: RunMode
    trigger: RunTrigger
    status: RunStatus
    phase: str  # queued, reading, embedding, publishing, done (see ingestion/pipeline.py)
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner: str = ""  # the worker running it ('' while queued)
    scan_id: str = ""  # the run whose full scan this one continues (itself unless resumed)
    cursor: dict[str, Any] = field(default_factory=dict)  # last checkpoint reached
    revision: str = ""  # source revision indexed (a commit sha), when the source has one
    documents_seen: int = 0
    documents_changed: int = 0
    documents_unchanged: int = 0
    documents_deleted: int = 0
    documents_failed: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0  # embedded by this run (embedding-cache misses)
    chunks_cached: int = 0  # vectors found in the embedding cache
    # Chunks written (by this run, or before it without vectors) still waiting for theirs.
    chunks_pending_embedding: int = 0
    warnings: list[dict[str, str]] = field(default_factory=list)  # first few {key, message}
    warning_count: int = 0
    error: str = ""
    cancel_requested: bool = False
    # Leases (see ingestion/worker.py). Every write of the record by a worker compares
    # and sets ``lease_seq``: a worker that lost its run can no longer write it.
    lease_seq: int = 0
    attempts: int = 0  # how many times a worker took the run (more than 1: resumed)
    takeovers: int = 0  # of those, how many after its worker stopped renewing the lease
    model: str = ""  # the embedding model the run must use (a worker with another refuses)
    documents_total: int = 0  # the source's estimate of documents to read, 0 when unknown
    checkpoint_counts: dict[str, int] = field(default_factory=dict)  # counters at the cursor
    rerun_requested: bool = False  # a webhook came during the run: run again after it
    # How the run chunks files (ingestion/prepare.py CHUNK_FORMAT); 1 for runs stored
    # before it was recorded. An incremental run after one of an older format is full.
    chunk_format: int = 1


@dataclass(frozen=True, slots=True)
class RunFence:
    """Documents written for a run only while ``owner`` still runs it (see Store)."""

    run_id: str
    owner: str


@dataclass(frozen=True, slots=True)
class Document:
    """A source document as last ingested; unique by (connector_id, key)."""

    id: str
    project_id: str
    connector_id: str
    key: str
    kind: str  # sources.DocumentKind value
    title: str
    path: str
    url: str
    version: str
    content_hash: str  # sha256 of what was chunked; unchanged hash means nothing to redo
    language: str
    metadata: dict[str, Any]
    scan_id: str  # the full scan that last saw it (full runs delete documents not seen)
    chunk_count: int
    updated_at: datetime
    line_count: int = 0  # lines of the text (files: for per-language line counts)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document with the citation that resolves to it.

    Lines are 1-based and inclusive; records (issues, tickets, pages) cite
    their key and url with the lines of the record's rendered text.
    ``embed_hash`` keys the vector in the embedding cache.
    """

    id: str
    project_id: str
    connector_id: str
    document_id: str
    document_key: str
    kind: str  # the document's kind
    path: str
    url: str
    title: str
    ordinal: int  # position within its document
    start_line: int
    end_line: int
    symbol: str  # qualified name (``Session.request``) or heading path; '' for plain windows
    symbol_kind: str  # function, method, class, section, record, lines, …
    language: str
    text: str
    embed_hash: str
    # What the chunk imports and calls ("import:pkg.mod", "call:request"), found at
    # ingestion; the index's file graph is built from them. () for chunks written before.
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Symbol:
    """A definition found at ingestion (function, class, method, …) with its exact lines.

    Unlike chunks, symbols nest: a class and each of its methods are all listed.
    ``id`` is ``<document id>:<ordinal>`` so a document's symbols sort together.
    """

    id: str
    project_id: str
    connector_id: str
    document_id: str
    path: str
    name: str  # qualified: ``Session.request``
    kind: str  # function, method, class, struct, interface, enum, trait, impl, type, module
    start_line: int  # 1-based, doc comments included
    end_line: int  # inclusive
    language: str


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """One document to upsert with everything derived from it."""

    document: Document
    chunks: list[Chunk]
    symbols: list[Symbol] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChunkVector:
    """A chunk id and its embedding (float32, little-endian bytes)."""

    chunk_id: str
    vector: bytes


# ----------------------------------------------------------------------- chat
class ToolPermission(StrEnum):
    AUTO = "auto"  # runs without asking
    ASK = "ask"  # pauses the turn until the user approves or denies
    DENY = "deny"  # never runs; the model is told it was refused


class TurnStatus(StrEnum):
    RUNNING = "running"  # being answered; ``lease_until`` bounds how long
    COMPLETE = "complete"
    PAUSED = "paused"  # waiting for ResolveToolCalls; ``state`` holds the rest of the turn
    INTERRUPTED = "interrupted"  # cancelled, deadline passed, or its server vanished
    FAILED = "failed"  # the LLM or a limit failed it
    CLARIFYING = "clarifying"  # ended with questions the next message answers


@dataclass(frozen=True, slots=True)
class Chat:
    """A user's conversation about one project (visible to that user only)."""

    id: str
    project_id: str
    user_id: str
    title: str
    llm_profile_id: str  # '' resolves per turn: project → global → environment → extractive
    tool_policy: dict[str, Any]  # tool name → ToolPermission value (explicit settings only)
    memory_summary: str  # older turns folded to fit the model's context
    memory_through: int  # turns with ``seq`` up to this are in the summary
    turn_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One user message and everything the assistant did to answer it.

    Stored whole, so a turn is never half-written: created RUNNING with the
    user message when it starts, replaced when it ends (or pauses). The
    message, call and state shapes are JSON written by ``server/chat/records.py``.
    """

    id: str
    chat_id: str
    project_id: str
    seq: int  # 1, 2, … within the chat; unique, so two turns cannot start at once
    status: TurnStatus
    messages: list[Any]  # JSON messages, oldest first
    pending_calls: list[Any]  # JSON tool calls awaiting approval (PAUSED)
    questions: list[Any]  # clarifying questions asked (CLARIFYING)
    state: dict[str, Any]  # what a paused turn needs to go on (transcript, evidence, usage)
    error: str  # why a FAILED or INTERRUPTED turn ended
    lease_until: datetime | None  # a RUNNING turn past this is taken as interrupted
    created_at: datetime
    updated_at: datetime
