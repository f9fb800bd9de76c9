"""Typed calls of the AdminService, shared by :class:`~projectqa.client.Client` and
:class:`~projectqa.client.AsyncClient`.

Each call builds the request, sends it through ``_call`` (which turns gRPC
failures into :class:`~projectqa.client.errors.ClientError`) and returns the
proto message a caller wants, not the response wrapper. ``list_*`` calls
follow ``next_page_token`` lazily until the last page. On the ``AsyncClient``
every call is awaited and every ``list_*`` is iterated with ``async for``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

from projectqa.client.calls import StubCalls, nothing
from projectqa.v1 import admin_pb2, admin_pb2_grpc, common_pb2


def to_struct(config: Mapping[str, Any]) -> struct_pb2.Struct:
    """A ``google.protobuf.Struct`` holding the JSON-like ``config``."""
    struct = struct_pb2.Struct()
    struct.update(config)
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A ``Struct`` as plain JSON data, whole numbers as ``int``.

    A Struct holds every number as a double, so ``{"max_entries": 100}`` would come
    back as ``100.0``; a whole number was an integer when it was sent (a JSON config
    cannot tell the two apart, and the server reads them the same way).
    """
    return whole_numbers(json_format.MessageToDict(struct))


def whole_numbers(value: Any) -> Any:
    """``value`` with every float that is a whole number (up to 2**53) as an ``int``."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def connector_config(connector: admin_pb2.Connector) -> dict[str, Any]:
    """A connector's (non-secret) config as the plain JSON data it was created with."""
    return from_struct(connector.config)


def present(**fields: Any) -> dict[str, Any]:
    """The keyword arguments that are not None (proto3 ``optional`` fields to set)."""
    return {name: value for name, value in fields.items() if value is not None}


def _flag_if_set(response: admin_pb2.SetFeatureFlagResponse) -> admin_pb2.FeatureFlag | None:
    return response.flag if response.HasField("flag") else None


class AdminCalls(StubCalls):
    """AdminService calls; mixed into a client that provides ``admin`` and the call primitives."""

    admin: admin_pb2_grpc.AdminServiceStub

    # ------------------------------------------------------------ projects

    def create_project(self, slug: str, name: str, description: str = "") -> common_pb2.Project:
        request = admin_pb2.CreateProjectRequest(slug=slug, name=name, description=description)
        return self._call(self.admin.CreateProject, request, lambda r: r.project)

    def get_project(self, project: str) -> common_pb2.Project:
        """The project with this id or slug."""
        request = admin_pb2.GetProjectRequest(project=project)
        return self._call(self.admin.GetProject, request, lambda r: r.project)

    def list_projects(self, *, page_size: int = 0) -> Iterator[common_pb2.Project]:
        request = admin_pb2.ListProjectsRequest(page_size=page_size)
        return self._pages(self.admin.ListProjects, request, "projects")

    def update_project(
        self, project: str, *, name: str | None = None, description: str | None = None
    ) -> common_pb2.Project:
        """Changes the fields given (not None); the others stay as they are."""
        request = admin_pb2.UpdateProjectRequest(
            project=project, **present(name=name, description=description)
        )
        return self._call(self.admin.UpdateProject, request, lambda r: r.project)

    def delete_project(self, project: str) -> None:
        request = admin_pb2.DeleteProjectRequest(project=project)
        return self._call(self.admin.DeleteProject, request, nothing)

    # ------------------------------------------------------- users, tokens

    def create_user(
        self, name: str, *, display_name: str = "", global_admin: bool = False
    ) -> admin_pb2.User:
        request = admin_pb2.CreateUserRequest(
            name=name, display_name=display_name, global_admin=global_admin
        )
        return self._call(self.admin.CreateUser, request, lambda r: r.user)

    def list_users(self, *, page_size: int = 0) -> Iterator[admin_pb2.User]:
        request = admin_pb2.ListUsersRequest(page_size=page_size)
        return self._pages(self.admin.ListUsers, request, "users")

    def create_token(
        self, *, user: str = "", description: str = "", ttl_seconds: int = 0
    ) -> admin_pb2.CreateTokenResponse:
        """Issues a token; the response's ``secret`` is the only copy there will be."""
        request = admin_pb2.CreateTokenRequest(
            user=user, description=description, ttl_seconds=ttl_seconds
        )
        return self._call(self.admin.CreateToken, request)

    def list_tokens(self, *, user: str = "", page_size: int = 0) -> Iterator[admin_pb2.Token]:
        request = admin_pb2.ListTokensRequest(user=user, page_size=page_size)
        return self._pages(self.admin.ListTokens, request, "tokens")

    def revoke_token(self, token_id: str) -> admin_pb2.Token:
        request = admin_pb2.RevokeTokenRequest(token_id=token_id)
        return self._call(self.admin.RevokeToken, request, lambda r: r.token)

    def whoami(self) -> admin_pb2.WhoAmIResponse:
        """The calling user, the token in use and the caller's memberships."""
        return self._call(self.admin.WhoAmI, admin_pb2.WhoAmIRequest())

    def server_info(self) -> admin_pb2.GetServerInfoResponse:
        """The server's version, embedder, store backend, default LLM model and start time."""
        return self._call(self.admin.GetServerInfo, admin_pb2.GetServerInfoRequest())

    def list_plugins(self) -> list[admin_pb2.Plugin]:
        """The plugins the server saw (built-ins too): version, contributions, blocked ones."""
        request = admin_pb2.ListPluginsRequest()
        return self._call(self.admin.ListPlugins, request, lambda r: list(r.plugins))

    # ---------------------------------------------------------- memberships

    def add_member(
        self, project: str, user: str, role: common_pb2.ProjectRole.ValueType
    ) -> admin_pb2.Membership:
        """Gives ``user`` the ``role`` in ``project`` (or changes the role they have)."""
        request = admin_pb2.AddMemberRequest(project=project, user=user, role=role)
        return self._call(self.admin.AddMember, request, lambda r: r.membership)

    def remove_member(self, project: str, user: str) -> None:
        request = admin_pb2.RemoveMemberRequest(project=project, user=user)
        return self._call(self.admin.RemoveMember, request, nothing)

    def list_members(self, project: str, *, page_size: int = 0) -> Iterator[admin_pb2.Membership]:
        request = admin_pb2.ListMembersRequest(project=project, page_size=page_size)
        return self._pages(self.admin.ListMembers, request, "memberships")

    # ----------------------------------------------------------- connectors

    def list_connector_types(self, *, page_size: int = 0) -> Iterator[admin_pb2.ConnectorType]:
        request = admin_pb2.ListConnectorTypesRequest(page_size=page_size)
        return self._pages(self.admin.ListConnectorTypes, request, "connector_types")

    def create_connector(
        self, project: str, type: str, name: str, config: Mapping[str, Any]
    ) -> admin_pb2.Connector:
        """Adds a connector; ``config`` includes its secret fields.

        A URL with credentials in it (``https://user:password@host/…``) is kept
        as a secret: the answer shows it without them, in ``secret_fields_set``.
        """
        request = admin_pb2.CreateConnectorRequest(
            project=project, type=type, name=name, config=to_struct(config)
        )
        return self._call(self.admin.CreateConnector, request, lambda r: r.connector)

    def update_connector(
        self,
        connector_id: str,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        clear_secret_fields: Iterable[str] = (),
    ) -> admin_pb2.Connector:
        """Changes a connector.

        A ``config`` replaces every non-secret field; secret fields it holds
        replace the stored ones and absent ones keep their stored values (so does
        a URL given back without its credentials). ``clear_secret_fields`` erases
        secret fields and the credentials of URL fields.
        """
        request = admin_pb2.UpdateConnectorRequest(
            connector_id=connector_id,
            clear_secret_fields=list(clear_secret_fields),
            **present(name=name, config=None if config is None else to_struct(config)),
        )
        return self._call(self.admin.UpdateConnector, request, lambda r: r.connector)

    def delete_connector(self, connector_id: str) -> None:
        request = admin_pb2.DeleteConnectorRequest(connector_id=connector_id)
        return self._call(self.admin.DeleteConnector, request, nothing)

    def list_connectors(self, project: str, *, page_size: int = 0) -> Iterator[admin_pb2.Connector]:
        request = admin_pb2.ListConnectorsRequest(project=project, page_size=page_size)
        return self._pages(self.admin.ListConnectors, request, "connectors")

    def get_connector(self, connector_id: str) -> admin_pb2.Connector:
        """One connector (secrets omitted, URLs without their credentials)."""
        request = admin_pb2.GetConnectorRequest(connector_id=connector_id)
        return self._call(self.admin.GetConnector, request, lambda r: r.connector)

    # ---------------------------------------------------------- LLM profiles

    def create_llm_profile(
        self,
        name: str,
        *,
        provider: admin_pb2.LlmProvider.ValueType,
        model: str,
        project: str = "",
        base_url: str = "",
        api_key: str = "",
        temperature: float | None = None,
        max_output_tokens: int = 0,
        timeout_seconds: int = 0,
        is_default: bool = False,
        tool_calls_in_text: bool = False,
    ) -> admin_pb2.LlmProfile:
        """Creates a profile of ``project``, or a global one when ``project`` is empty."""
        request = admin_pb2.CreateLlmProfileRequest(
            project=project,
            name=name,
            provider=provider,
            base_url=base_url,
            model=model,
            api_key=api_key,
            max_output_tokens=max_output_tokens,
            timeout_seconds=timeout_seconds,
            is_default=is_default,
            tool_calls_in_text=tool_calls_in_text,
            **present(temperature=temperature),
        )
        return self._call(self.admin.CreateLlmProfile, request, lambda r: r.profile)

    def update_llm_profile(
        self, profile_id: str, *, clear_api_key: bool = False, **changes: Any
    ) -> admin_pb2.LlmProfile:
        """Changes the fields given in ``changes`` whose value is not None.

        Accepted names are the optional fields of ``UpdateLlmProfileRequest``:
        name, provider, base_url, model, api_key, temperature,
        max_output_tokens, timeout_seconds, is_default, tool_calls_in_text.
        """
        request = admin_pb2.UpdateLlmProfileRequest(
            profile_id=profile_id, clear_api_key=clear_api_key, **present(**changes)
        )
        return self._call(self.admin.UpdateLlmProfile, request, lambda r: r.profile)

    def delete_llm_profile(self, profile_id: str) -> None:
        request = admin_pb2.DeleteLlmProfileRequest(profile_id=profile_id)
        return self._call(self.admin.DeleteLlmProfile, request, nothing)

    def list_llm_profiles(
        self, project: str = "", *, page_size: int = 0
    ) -> Iterator[admin_pb2.LlmProfile]:
        """Profiles of ``project``, or the global ones when ``project`` is empty."""
        request = admin_pb2.ListLlmProfilesRequest(project=project, page_size=page_size)
        return self._pages(self.admin.ListLlmProfiles, request, "profiles")

    # --------------------------------------------------------- feature flags

    def get_feature_flags(self, project: str = "") -> list[admin_pb2.FeatureFlag]:
        """Effective flags of ``project``, or the global ones when it is empty."""
        request = admin_pb2.GetFeatureFlagsRequest(project=project)
        return self._call(self.admin.GetFeatureFlags, request, lambda r: list(r.flags))

    def set_feature_flag(
        self, key: str, enabled: bool, *, project: str = ""
    ) -> admin_pb2.FeatureFlag:
        request = admin_pb2.SetFeatureFlagRequest(project=project, key=key, enabled=enabled)
        return self._call(self.admin.SetFeatureFlag, request, lambda r: r.flag)

    def reset_feature_flag(self, key: str, *, project: str = "") -> admin_pb2.FeatureFlag | None:
        """Removes the value at this scope; the effective flag after, or None if unset."""
        request = admin_pb2.SetFeatureFlagRequest(project=project, key=key, reset=True)
        return self._call(self.admin.SetFeatureFlag, request, _flag_if_set)

    # ---------------------------------------------------------------- tools

    def list_project_tools(
        self, project: str, *, page_size: int = 0
    ) -> Iterator[admin_pb2.ProjectTool]:
        request = admin_pb2.ListProjectToolsRequest(project=project, page_size=page_size)
        return self._pages(self.admin.ListProjectTools, request, "tools")

    def set_project_tool_enabled(
        self, project: str, tool: str, enabled: bool
    ) -> admin_pb2.ProjectTool:
        request = admin_pb2.SetProjectToolEnabledRequest(
            project=project, tool=tool, enabled=enabled
        )
        return self._call(self.admin.SetProjectToolEnabled, request, lambda r: r.tool)

    # --------------------------------------------------------- script tools

    def create_custom_tool(
        self,
        project: str,
        name: str,
        *,
        description: str,
        command: Iterable[str],
        arguments_schema: Mapping[str, Any] | None = None,
        timeout_seconds: int = 0,
        max_output_bytes: int = 0,
        side_effects: bool = False,
        connector: str = "",
        enabled: bool = True,
    ) -> admin_pb2.CustomTool:
        """Defines a script tool: ``command`` is an argv whose ``{name}`` items take the
        arguments (see ``CustomTool`` in admin.proto). Zero limits take the server's defaults."""
        tool = admin_pb2.CustomTool(
            name=name,
            description=description,
            command=list(command),
            arguments_schema=to_struct(arguments_schema or {}),
            timeout_seconds=timeout_seconds,
            max_output_bytes=max_output_bytes,
            side_effects=side_effects,
            connector=connector,
            enabled=enabled,
        )
        request = admin_pb2.CreateCustomToolRequest(project=project, tool=tool)
        return self._call(self.admin.CreateCustomTool, request, lambda r: r.tool)

    def update_custom_tool(
        self,
        project: str,
        name: str,
        *,
        command: Iterable[str] | None = None,
        arguments_schema: Mapping[str, Any] | None = None,
        **changes: Any,
    ) -> admin_pb2.CustomTool:
        """Changes the fields given (not None); the others stay as they are.

        Besides ``command`` and ``arguments_schema``, accepted names are the
        optional fields of ``UpdateCustomToolRequest``: description,
        timeout_seconds, max_output_bytes, side_effects, connector, enabled.
        """
        schema = None if arguments_schema is None else to_struct(arguments_schema)
        request = admin_pb2.UpdateCustomToolRequest(
            project=project,
            name=name,
            command=list(command or ()),
            replace_command=command is not None,
            **present(arguments_schema=schema, **changes),
        )
        return self._call(self.admin.UpdateCustomTool, request, lambda r: r.tool)

    def delete_custom_tool(self, project: str, name: str) -> None:
        request = admin_pb2.DeleteCustomToolRequest(project=project, name=name)
        return self._call(self.admin.DeleteCustomTool, request, nothing)

    def list_custom_tools(
        self, project: str, *, page_size: int = 0
    ) -> Iterator[admin_pb2.CustomTool]:
        request = admin_pb2.ListCustomToolsRequest(project=project, page_size=page_size)
        return self._pages(self.admin.ListCustomTools, request, "tools")
