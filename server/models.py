"""Typed records that flow between the store, the domain and the transports.

Plain frozen dataclasses: the store persists them, the domain decides with
them, servicers turn them into protobuf. Nothing here imports generated code.
"""

from __future__ import annotations

import secrets
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
    """A creation-ordered id such as ``prj_0189f3a2c4d5e6f7a8b9c0d1``.

    48 bits of milliseconds then 48 random bits, hex: ids sort by creation
    time, which keyset pagination relies on.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


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
