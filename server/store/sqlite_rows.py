"""Conversion between records and SQLite rows.

Timestamps are ISO-8601 UTC text with milliseconds (fixed width, so text order
is time order); dicts are JSON text; scoped records use ``''`` for the global
scope because SQL ``UNIQUE`` treats NULLs as distinct.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from ..models import (
    Connector,
    FeatureFlagValue,
    LlmProfile,
    LlmProvider,
    Membership,
    Project,
    ProjectRole,
    Token,
    ToolSetting,
    User,
)

GLOBAL_SCOPE = ""

Params = dict[str, Any]


def scope_of(project_id: str | None) -> str:
    return GLOBAL_SCOPE if project_id is None else project_id


def project_of(scope: str) -> str | None:
    return None if scope == GLOBAL_SCOPE else scope


def time_to_text(value: datetime) -> str:
    # A naive datetime is taken as UTC, as pymongo does, so both backends agree.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def time_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def optional_time_to_text(value: datetime | None) -> str | None:
    return None if value is None else time_to_text(value)


def optional_time_from_text(text: str | None) -> datetime | None:
    return None if text is None else time_from_text(text)


def dict_to_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------ records
def user_params(user: User) -> Params:
    return {
        "id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "global_admin": int(user.global_admin),
        "created_at": time_to_text(user.created_at),
    }


def user_from(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        display_name=row["display_name"],
        global_admin=bool(row["global_admin"]),
        created_at=time_from_text(row["created_at"]),
    )


def token_params(token: Token) -> Params:
    return {
        "id": token.id,
        "user_id": token.user_id,
        "secret_hash": token.secret_hash,
        "description": token.description,
        "created_at": time_to_text(token.created_at),
        "expires_at": optional_time_to_text(token.expires_at),
        "revoked_at": optional_time_to_text(token.revoked_at),
    }


def token_from(row: sqlite3.Row) -> Token:
    return Token(
        id=row["id"],
        user_id=row["user_id"],
        secret_hash=row["secret_hash"],
        description=row["description"],
        created_at=time_from_text(row["created_at"]),
        expires_at=optional_time_from_text(row["expires_at"]),
        revoked_at=optional_time_from_text(row["revoked_at"]),
    )


def project_params(project: Project) -> Params:
    return {
        "id": project.id,
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "created_at": time_to_text(project.created_at),
        "updated_at": time_to_text(project.updated_at),
    }


def project_from(row: sqlite3.Row) -> Project:
    return Project(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        created_at=time_from_text(row["created_at"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def membership_params(membership: Membership) -> Params:
    return {
        "project_id": membership.project_id,
        "user_id": membership.user_id,
        "role": str(membership.role),
        "updated_at": time_to_text(membership.updated_at),
    }


def membership_from(row: sqlite3.Row) -> Membership:
    return Membership(
        project_id=row["project_id"],
        user_id=row["user_id"],
        role=ProjectRole(row["role"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def connector_params(connector: Connector) -> Params:
    return {
        "id": connector.id,
        "project_id": connector.project_id,
        "type": connector.type,
        "name": connector.name,
        "config": dict_to_json(connector.config),
        "secrets": dict_to_json(connector.secrets),
        "created_at": time_to_text(connector.created_at),
        "updated_at": time_to_text(connector.updated_at),
    }


def connector_from(row: sqlite3.Row) -> Connector:
    return Connector(
        id=row["id"],
        project_id=row["project_id"],
        type=row["type"],
        name=row["name"],
        config=json.loads(row["config"]),
        secrets=json.loads(row["secrets"]),
        created_at=time_from_text(row["created_at"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def profile_params(profile: LlmProfile) -> Params:
    return {
        "id": profile.id,
        "scope": scope_of(profile.project_id),
        "name": profile.name,
        "provider": str(profile.provider),
        "base_url": profile.base_url,
        "model": profile.model,
        "api_key": profile.api_key,
        "temperature": float(profile.temperature),
        "max_output_tokens": profile.max_output_tokens,
        "timeout_seconds": profile.timeout_seconds,
        "is_default": int(profile.is_default),
        "created_at": time_to_text(profile.created_at),
        "updated_at": time_to_text(profile.updated_at),
    }


def profile_from(row: sqlite3.Row) -> LlmProfile:
    return LlmProfile(
        id=row["id"],
        project_id=project_of(row["scope"]),
        name=row["name"],
        provider=LlmProvider(row["provider"]),
        base_url=row["base_url"],
        model=row["model"],
        api_key=row["api_key"],
        temperature=row["temperature"],
        max_output_tokens=row["max_output_tokens"],
        timeout_seconds=row["timeout_seconds"],
        is_default=bool(row["is_default"]),
        created_at=time_from_text(row["created_at"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def flag_params(flag: FeatureFlagValue) -> Params:
    return {
        "scope": scope_of(flag.project_id),
        "key": flag.key,
        "enabled": int(flag.enabled),
        "updated_at": time_to_text(flag.updated_at),
    }


def flag_from(row: sqlite3.Row) -> FeatureFlagValue:
    return FeatureFlagValue(
        project_id=project_of(row["scope"]),
        key=row["key"],
        enabled=bool(row["enabled"]),
        updated_at=time_from_text(row["updated_at"]),
    )


def tool_setting_params(setting: ToolSetting) -> Params:
    return {
        "project_id": setting.project_id,
        "tool": setting.tool,
        "enabled": int(setting.enabled),
        "updated_at": time_to_text(setting.updated_at),
    }


def tool_setting_from(row: sqlite3.Row) -> ToolSetting:
    return ToolSetting(
        project_id=row["project_id"],
        tool=row["tool"],
        enabled=bool(row["enabled"]),
        updated_at=time_from_text(row["updated_at"]),
    )
