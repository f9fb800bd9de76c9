"""Domain records to protobuf messages (and the few values that go the other way).

Secrets never get here: converters copy only the fields the API exposes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from projectqa.v1 import admin_pb2, common_pb2

from ..admin.custom_tools import CustomToolChanges
from ..admin.flags import EffectiveFlag, FlagScope
from ..admin.members import MembershipView
from ..admin.tools import ProjectToolView
from ..errors import InvalidArgument
from ..models import (
    Connector,
    CustomTool,
    LlmProfile,
    LlmProvider,
    Project,
    ProjectRole,
    Token,
    User,
)
from ..registry import CatalogEntry, ConnectorType

ROLE_TO_PB = {
    ProjectRole.MEMBER: common_pb2.PROJECT_ROLE_MEMBER,
    ProjectRole.ADMIN: common_pb2.PROJECT_ROLE_ADMIN,
}
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}
PROVIDER_TO_PB = {
    LlmProvider.OPENAI: admin_pb2.LLM_PROVIDER_OPENAI,
    LlmProvider.OLLAMA: admin_pb2.LLM_PROVIDER_OLLAMA,
    LlmProvider.OPENAI_COMPATIBLE: admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
}
PROVIDER_FROM_PB = {v: k for k, v in PROVIDER_TO_PB.items()}
SCOPE_TO_PB = {
    FlagScope.GLOBAL: admin_pb2.FEATURE_FLAG_SCOPE_GLOBAL,
    FlagScope.PROJECT: admin_pb2.FEATURE_FLAG_SCOPE_PROJECT,
}


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def struct_to_dict(message: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """A Struct as plain JSON data; whole numbers come back as ints (Struct only has doubles)."""
    try:
        return _ints(json_format.MessageToDict(message))
    except ValueError:  # NaN and ±Infinity have no JSON form
        raise InvalidArgument(
            field, "must be JSON data: NaN and Infinity are not allowed"
        ) from None


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def role_from_pb(value: common_pb2.ProjectRole.ValueType) -> ProjectRole | None:
    return ROLE_FROM_PB.get(value)


def provider_from_pb(
    value: admin_pb2.LlmProvider.ValueType, field: str = "provider"
) -> LlmProvider:
    provider = PROVIDER_FROM_PB.get(value)
    if provider is None:
        raise InvalidArgument(field, "must be OPENAI, OLLAMA or OPENAI_COMPATIBLE")
    return provider


def project(p: Project) -> common_pb2.Project:
    return common_pb2.Project(
        id=p.id,
        slug=p.slug,
        name=p.name,
        description=p.description,
        create_time=timestamp(p.created_at),
        update_time=timestamp(p.updated_at),
    )


def user(u: User) -> admin_pb2.User:
    return admin_pb2.User(
        id=u.id,
        name=u.name,
        display_name=u.display_name,
        global_admin=u.global_admin,
        create_time=timestamp(u.created_at),
    )


def token(t: Token) -> admin_pb2.Token:
    return admin_pb2.Token(
        id=t.id,
        user_id=t.user_id,
        description=t.description,
        create_time=timestamp(t.created_at),
        expire_time=timestamp(t.expires_at),
        revoke_time=timestamp(t.revoked_at),
    )


def membership(view: MembershipView) -> admin_pb2.Membership:
    m = view.membership
    return admin_pb2.Membership(
        project_id=m.project_id,
        project_slug=view.project_slug,
        user_id=m.user_id,
        user_name=view.user_name,
        role=ROLE_TO_PB[m.role],
        update_time=timestamp(m.updated_at),
    )


def connector_type(entry: CatalogEntry[ConnectorType]) -> admin_pb2.ConnectorType:
    ctype = entry.item
    return admin_pb2.ConnectorType(
        name=ctype.name,
        description=ctype.description,
        plugin=entry.plugin,
        config_schema=struct(ctype.config_schema),
        secret_fields=ctype.secret_fields,
    )


def connector(c: Connector) -> admin_pb2.Connector:
    return admin_pb2.Connector(
        id=c.id,
        project_id=c.project_id,
        type=c.type,
        name=c.name,
        config=struct(c.config),
        secret_fields_set=sorted(c.secrets),
        create_time=timestamp(c.created_at),
        update_time=timestamp(c.updated_at),
    )


def llm_profile(p: LlmProfile) -> admin_pb2.LlmProfile:
    return admin_pb2.LlmProfile(
        id=p.id,
        project_id=p.project_id or "",
        name=p.name,
        provider=PROVIDER_TO_PB[p.provider],
        base_url=p.base_url,
        model=p.model,
        api_key_set=bool(p.api_key),
        temperature=p.temperature,
        max_output_tokens=p.max_output_tokens,
        timeout_seconds=p.timeout_seconds,
        is_default=p.is_default,
        create_time=timestamp(p.created_at),
        update_time=timestamp(p.updated_at),
        tool_calls_in_text=p.tool_calls_in_text,
    )


def feature_flag(f: EffectiveFlag) -> admin_pb2.FeatureFlag:
    return admin_pb2.FeatureFlag(key=f.key, enabled=f.enabled, scope=SCOPE_TO_PB[f.scope])


def project_tool(v: ProjectToolView) -> admin_pb2.ProjectTool:
    return admin_pb2.ProjectTool(
        name=v.spec.name,
        description=v.spec.description,
        plugin=v.plugin,
        side_effects=v.spec.side_effects,
        arguments_schema=struct(v.spec.arguments_schema),
        enabled=v.enabled,
    )


def custom_tool(t: CustomTool) -> admin_pb2.CustomTool:
    return admin_pb2.CustomTool(
        id=t.id,
        project_id=t.project_id,
        name=t.name,
        description=t.description,
        command=t.command,
        arguments_schema=struct(t.arguments_schema),
        timeout_seconds=t.timeout_seconds,
        max_output_bytes=t.max_output_bytes,
        side_effects=t.side_effects,
        connector=t.connector,
        enabled=t.enabled,
        create_time=timestamp(t.created_at),
        update_time=timestamp(t.updated_at),
    )


def custom_tool_definition(t: admin_pb2.CustomTool) -> CustomToolChanges:
    """Every field of a new tool (id, project and times are ignored)."""
    return CustomToolChanges(
        description=t.description,
        command=list(t.command),
        arguments_schema=struct_to_dict(t.arguments_schema, "arguments_schema"),
        timeout_seconds=t.timeout_seconds,
        max_output_bytes=t.max_output_bytes,
        side_effects=t.side_effects,
        connector=t.connector,
        enabled=t.enabled,
    )


# The fields of UpdateCustomToolRequest an update may leave unset (HasField knows them).
_OptionalToolField = Literal[
    "description",
    "arguments_schema",
    "timeout_seconds",
    "max_output_bytes",
    "side_effects",
    "connector",
    "enabled",
]


def custom_tool_changes(r: admin_pb2.UpdateCustomToolRequest) -> CustomToolChanges:
    """The fields an update sets; unset ones stay None (unchanged)."""

    def given(name: _OptionalToolField) -> Any:
        return getattr(r, name) if r.HasField(name) else None

    schema = given("arguments_schema")
    return CustomToolChanges(
        description=given("description"),
        command=list(r.command) if r.replace_command else None,
        arguments_schema=None if schema is None else struct_to_dict(schema, "arguments_schema"),
        timeout_seconds=given("timeout_seconds"),
        max_output_bytes=given("max_output_bytes"),
        side_effects=given("side_effects"),
        connector=given("connector"),
        enabled=given("enabled"),
    )
