"""Conversion between records and MongoDB documents.

The record id is ``_id``. Scoped documents carry ``scope``: the project id, or
``''`` for the global scope, so unique (scope, …) indexes treat globals alike.
Dicts are stored as JSON text: connector configs come from plugins and may use
keys MongoDB restricts (``.``, leading ``$``), and SQLite stores them the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

Doc = dict[str, Any]


def scope_of(project_id: str | None) -> str:
    return GLOBAL_SCOPE if project_id is None else project_id


def project_of(scope: str) -> str | None:
    return None if scope == GLOBAL_SCOPE else scope


def utc(value: datetime) -> datetime:
    # Clients without tz_aware=True (and mongomock) hand back naive UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------ records
def user_doc(user: User) -> Doc:
    return {
        "_id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "global_admin": user.global_admin,
        "created_at": utc(user.created_at),
    }


def user_from(doc: Mapping[str, Any]) -> User:
    return User(
        id=doc["_id"],
        name=doc["name"],
        display_name=doc["display_name"],
        global_admin=doc["global_admin"],
        created_at=utc(doc["created_at"]),
    )


def token_doc(token: Token) -> Doc:
    return {
        "_id": token.id,
        "user_id": token.user_id,
        "secret_hash": token.secret_hash,
        "description": token.description,
        "created_at": utc(token.created_at),
        "expires_at": optional_utc(token.expires_at),
        "revoked_at": optional_utc(token.revoked_at),
    }


def token_from(doc: Mapping[str, Any]) -> Token:
    return Token(
        id=doc["_id"],
        user_id=doc["user_id"],
        secret_hash=doc["secret_hash"],
        description=doc["description"],
        created_at=utc(doc["created_at"]),
        expires_at=optional_utc(doc.get("expires_at")),
        revoked_at=optional_utc(doc.get("revoked_at")),
    )


def project_doc(project: Project) -> Doc:
    return {
        "_id": project.id,
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "created_at": utc(project.created_at),
        "updated_at": utc(project.updated_at),
    }


def project_from(doc: Mapping[str, Any]) -> Project:
    return Project(
        id=doc["_id"],
        slug=doc["slug"],
        name=doc["name"],
        description=doc["description"],
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
    )


def membership_from(doc: Mapping[str, Any]) -> Membership:
    return Membership(
        project_id=doc["project_id"],
        user_id=doc["user_id"],
        role=ProjectRole(doc["role"]),
        updated_at=utc(doc["updated_at"]),
    )


def connector_doc(connector: Connector) -> Doc:
    return {
        "_id": connector.id,
        "project_id": connector.project_id,
        "type": connector.type,
        "name": connector.name,
        "config": _json(connector.config),
        "secrets": _json(connector.secrets),
        "created_at": utc(connector.created_at),
        "updated_at": utc(connector.updated_at),
    }


def connector_from(doc: Mapping[str, Any]) -> Connector:
    return Connector(
        id=doc["_id"],
        project_id=doc["project_id"],
        type=doc["type"],
        name=doc["name"],
        config=json.loads(doc["config"]),
        secrets=json.loads(doc["secrets"]),
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
    )


def profile_changes(profile: LlmProfile) -> Doc:
    """The fields ``update_llm_profile`` replaces."""
    return {
        "name": profile.name,
        "provider": str(profile.provider),
        "base_url": profile.base_url,
        "model": profile.model,
        "api_key": profile.api_key,
        "temperature": float(profile.temperature),
        "max_output_tokens": profile.max_output_tokens,
        "timeout_seconds": profile.timeout_seconds,
        "is_default": profile.is_default,
        "updated_at": utc(profile.updated_at),
    }


def profile_doc(profile: LlmProfile) -> Doc:
    return {
        "_id": profile.id,
        "scope": scope_of(profile.project_id),
        "created_at": utc(profile.created_at),
        **profile_changes(profile),
    }


def profile_from(doc: Mapping[str, Any]) -> LlmProfile:
    return LlmProfile(
        id=doc["_id"],
        project_id=project_of(doc["scope"]),
        name=doc["name"],
        provider=LlmProvider(doc["provider"]),
        base_url=doc["base_url"],
        model=doc["model"],
        api_key=doc["api_key"],
        temperature=doc["temperature"],
        max_output_tokens=doc["max_output_tokens"],
        timeout_seconds=doc["timeout_seconds"],
        is_default=doc["is_default"],
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
    )


def flag_from(doc: Mapping[str, Any]) -> FeatureFlagValue:
    return FeatureFlagValue(
        project_id=project_of(doc["scope"]),
        key=doc["key"],
        enabled=doc["enabled"],
        updated_at=utc(doc["updated_at"]),
    )


def tool_setting_from(doc: Mapping[str, Any]) -> ToolSetting:
    return ToolSetting(
        project_id=doc["project_id"],
        tool=doc["tool"],
        enabled=doc["enabled"],
        updated_at=utc(doc["updated_at"]),
    )
