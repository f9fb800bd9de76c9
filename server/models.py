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
class PageRequest:
    """Keyset page: items whose sort key is greater than ``after``, at most ``limit``."""

    limit: int
    after: str | None = None


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_after: str | None = None  # sort key to continue from; None on the last page
