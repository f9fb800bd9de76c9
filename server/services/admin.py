"""AdminService servicer: proto in, domain call, proto out. Nothing else lives here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projectqa.v1 import admin_pb2 as pb
from projectqa.v1 import admin_pb2_grpc

from ..admin import AdminOps
from ..admin.llm_profiles import ProfileChanges
from ..admin.server_info import ServerFacts
from ..interceptors import RunBlocking, current_principal
from . import Context, convert, convert_plugins


def _opt(request: Any, field: str) -> Any:
    return getattr(request, field) if request.HasField(field) else None


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self, ops: AdminOps, run_blocking: RunBlocking, *, server_facts: ServerFacts
    ) -> None:
        self._ops = ops
        self._run_blocking = run_blocking
        self._server_facts = server_facts

    async def _call(self, operation: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking domain operation for the current caller off the event loop."""
        return await self._run_blocking(operation, current_principal(), *args)

    # ------------------------------------------------------------- projects
    async def CreateProject(
        self, request: pb.CreateProjectRequest, context: Context
    ) -> pb.CreateProjectResponse:
        p = await self._call(
            self._ops.projects.create, request.slug, request.name, request.description
        )
        return pb.CreateProjectResponse(project=convert.project(p))

    async def GetProject(
        self, request: pb.GetProjectRequest, context: Context
    ) -> pb.GetProjectResponse:
        p = await self._call(self._ops.projects.get, request.project)
        return pb.GetProjectResponse(project=convert.project(p))

    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: Context
    ) -> pb.ListProjectsResponse:
        items, token = await self._call(
            self._ops.projects.list, request.page_size, request.page_token
        )
        return pb.ListProjectsResponse(projects=map(convert.project, items), next_page_token=token)

    async def UpdateProject(
        self, request: pb.UpdateProjectRequest, context: Context
    ) -> pb.UpdateProjectResponse:
        p = await self._call(
            self._ops.projects.update,
            request.project,
            _opt(request, "name"),
            _opt(request, "description"),
        )
        return pb.UpdateProjectResponse(project=convert.project(p))

    async def DeleteProject(
        self, request: pb.DeleteProjectRequest, context: Context
    ) -> pb.DeleteProjectResponse:
        await self._call(self._ops.projects.delete, request.project)
        return pb.DeleteProjectResponse()

    # ------------------------------------------------------- users, tokens
    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Context
    ) -> pb.CreateUserResponse:
        u = await self._call(
            self._ops.users.create, request.name, request.display_name, request.global_admin
        )
        return pb.CreateUserResponse(user=convert.user(u))

    async def ListUsers(
        self, request: pb.ListUsersRequest, context: Context
    ) -> pb.ListUsersResponse:
        items, token = await self._call(self._ops.users.list, request.page_size, request.page_token)
        return pb.ListUsersResponse(users=map(convert.user, items), next_page_token=token)

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: Context
    ) -> pb.CreateTokenResponse:
        issued = await self._call(
            self._ops.users.create_token, request.user, request.description, request.ttl_seconds
        )
        return pb.CreateTokenResponse(token=convert.token(issued.token), secret=issued.secret)

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: Context
    ) -> pb.ListTokensResponse:
        items, token = await self._call(
            self._ops.users.list_tokens, request.user, request.page_size, request.page_token
        )
        return pb.ListTokensResponse(tokens=map(convert.token, items), next_page_token=token)

    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: Context
    ) -> pb.RevokeTokenResponse:
        t = await self._call(self._ops.users.revoke_token, request.token_id)
        return pb.RevokeTokenResponse(token=convert.token(t))

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
        me = await self._call(self._ops.users.whoami)
        return pb.WhoAmIResponse(
            user=convert.user(me.user),
            token=convert.token(me.token),
            memberships=map(convert.membership, me.memberships),
        )

    # ---------------------------------------------------------- memberships
    async def AddMember(
        self, request: pb.AddMemberRequest, context: Context
    ) -> pb.AddMemberResponse:
        role = convert.role_from_pb(request.role)
        m = await self._call(self._ops.members.add, request.project, request.user, role)
        return pb.AddMemberResponse(membership=convert.membership(m))

    async def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: Context
    ) -> pb.RemoveMemberResponse:
        await self._call(self._ops.members.remove, request.project, request.user)
        return pb.RemoveMemberResponse()

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: Context
    ) -> pb.ListMembersResponse:
        items, token = await self._call(
            self._ops.members.list, request.project, request.page_size, request.page_token
        )
        return pb.ListMembersResponse(
            memberships=map(convert.membership, items), next_page_token=token
        )

    # ----------------------------------------------------------- connectors
    async def ListConnectorTypes(
        self, request: pb.ListConnectorTypesRequest, context: Context
    ) -> pb.ListConnectorTypesResponse:
        # Any authenticated caller may read the catalog; RpcGuard has checked that.
        items, token = self._ops.connectors.types(request.page_size, request.page_token)
        return pb.ListConnectorTypesResponse(
            connector_types=map(convert.connector_type, items), next_page_token=token
        )

    async def CreateConnector(
        self, request: pb.CreateConnectorRequest, context: Context
    ) -> pb.CreateConnectorResponse:
        config = convert.struct_to_dict(request.config, "config")
        c = await self._call(
            self._ops.connectors.create, request.project, request.type, request.name, config
        )
        return pb.CreateConnectorResponse(connector=convert.connector(c))

    async def GetConnector(
        self, request: pb.GetConnectorRequest, context: Context
    ) -> pb.GetConnectorResponse:
        c = await self._call(self._ops.connectors.get, request.connector_id)
        return pb.GetConnectorResponse(connector=convert.connector(c))

    async def UpdateConnector(
        self, request: pb.UpdateConnectorRequest, context: Context
    ) -> pb.UpdateConnectorResponse:
        config = (
            convert.struct_to_dict(request.config, "config") if request.HasField("config") else None
        )
        c = await self._call(
            self._ops.connectors.update,
            request.connector_id,
            _opt(request, "name"),
            config,
            list(request.clear_secret_fields),
        )
        return pb.UpdateConnectorResponse(connector=convert.connector(c))

    async def DeleteConnector(
        self, request: pb.DeleteConnectorRequest, context: Context
    ) -> pb.DeleteConnectorResponse:
        await self._call(self._ops.connectors.delete, request.connector_id)
        return pb.DeleteConnectorResponse()

    async def ListConnectors(
        self, request: pb.ListConnectorsRequest, context: Context
    ) -> pb.ListConnectorsResponse:
        items, token = await self._call(
            self._ops.connectors.list, request.project, request.page_size, request.page_token
        )
        return pb.ListConnectorsResponse(
            connectors=map(convert.connector, items), next_page_token=token
        )

    # --------------------------------------------------------- LLM profiles
    async def CreateLlmProfile(
        self, request: pb.CreateLlmProfileRequest, context: Context
    ) -> pb.CreateLlmProfileResponse:
        changes = ProfileChanges(
            name=request.name,
            provider=convert.PROVIDER_FROM_PB.get(request.provider),
            base_url=request.base_url,
            model=request.model,
            api_key=request.api_key,
            temperature=_opt(request, "temperature"),
            max_output_tokens=request.max_output_tokens,
            timeout_seconds=request.timeout_seconds or None,
            is_default=request.is_default,
            tool_calls_in_text=request.tool_calls_in_text,
        )
        p = await self._call(self._ops.llm_profiles.create, request.project, changes)
        return pb.CreateLlmProfileResponse(profile=convert.llm_profile(p))

    async def UpdateLlmProfile(
        self, request: pb.UpdateLlmProfileRequest, context: Context
    ) -> pb.UpdateLlmProfileResponse:
        provider = _opt(request, "provider")
        changes = ProfileChanges(
            name=_opt(request, "name"),
            provider=None if provider is None else convert.provider_from_pb(provider),
            base_url=_opt(request, "base_url"),
            model=_opt(request, "model"),
            api_key=_opt(request, "api_key"),
            clear_api_key=request.clear_api_key,
            temperature=_opt(request, "temperature"),
            max_output_tokens=_opt(request, "max_output_tokens"),
            timeout_seconds=_opt(request, "timeout_seconds"),
            is_default=_opt(request, "is_default"),
            tool_calls_in_text=_opt(request, "tool_calls_in_text"),
        )
        p = await self._call(self._ops.llm_profiles.update, request.profile_id, changes)
        return pb.UpdateLlmProfileResponse(profile=convert.llm_profile(p))

    async def DeleteLlmProfile(
        self, request: pb.DeleteLlmProfileRequest, context: Context
    ) -> pb.DeleteLlmProfileResponse:
        await self._call(self._ops.llm_profiles.delete, request.profile_id)
        return pb.DeleteLlmProfileResponse()

    async def ListLlmProfiles(
        self, request: pb.ListLlmProfilesRequest, context: Context
    ) -> pb.ListLlmProfilesResponse:
        items, token = await self._call(
            self._ops.llm_profiles.list, request.project, request.page_size, request.page_token
        )
        return pb.ListLlmProfilesResponse(
            profiles=map(convert.llm_profile, items), next_page_token=token
        )

    # -------------------------------------------------------- feature flags
    async def GetFeatureFlags(
        self, request: pb.GetFeatureFlagsRequest, context: Context
    ) -> pb.GetFeatureFlagsResponse:
        flags = await self._call(self._ops.flags.get, request.project)
        return pb.GetFeatureFlagsResponse(flags=map(convert.feature_flag, flags))

    async def SetFeatureFlag(
        self, request: pb.SetFeatureFlagRequest, context: Context
    ) -> pb.SetFeatureFlagResponse:
        flag = await self._call(
            self._ops.flags.set, request.project, request.key, request.enabled, request.reset
        )
        return pb.SetFeatureFlagResponse(flag=convert.feature_flag(flag) if flag else None)

    # ---------------------------------------------------------------- tools
    async def ListProjectTools(
        self, request: pb.ListProjectToolsRequest, context: Context
    ) -> pb.ListProjectToolsResponse:
        items, token = await self._call(
            self._ops.tools.list, request.project, request.page_size, request.page_token
        )
        return pb.ListProjectToolsResponse(
            tools=map(convert.project_tool, items), next_page_token=token
        )

    async def SetProjectToolEnabled(
        self, request: pb.SetProjectToolEnabledRequest, context: Context
    ) -> pb.SetProjectToolEnabledResponse:
        tool = await self._call(
            self._ops.tools.set_enabled, request.project, request.tool, request.enabled
        )
        return pb.SetProjectToolEnabledResponse(tool=convert.project_tool(tool))

    # --------------------------------------------------------- script tools
    async def CreateCustomTool(
        self, request: pb.CreateCustomToolRequest, context: Context
    ) -> pb.CreateCustomToolResponse:
        definition = convert.custom_tool_definition(request.tool)
        t = await self._call(
            self._ops.custom_tools.create, request.project, request.tool.name, definition
        )
        return pb.CreateCustomToolResponse(tool=convert.custom_tool(t))

    async def UpdateCustomTool(
        self, request: pb.UpdateCustomToolRequest, context: Context
    ) -> pb.UpdateCustomToolResponse:
        changes = convert.custom_tool_changes(request)
        t = await self._call(self._ops.custom_tools.update, request.project, request.name, changes)
        return pb.UpdateCustomToolResponse(tool=convert.custom_tool(t))

    async def DeleteCustomTool(
        self, request: pb.DeleteCustomToolRequest, context: Context
    ) -> pb.DeleteCustomToolResponse:
        await self._call(self._ops.custom_tools.delete, request.project, request.name)
        return pb.DeleteCustomToolResponse()

    async def ListCustomTools(
        self, request: pb.ListCustomToolsRequest, context: Context
    ) -> pb.ListCustomToolsResponse:
        items, token = await self._call(
            self._ops.custom_tools.list, request.project, request.page_size, request.page_token
        )
        return pb.ListCustomToolsResponse(
            tools=map(convert.custom_tool, items), next_page_token=token
        )

    # -------------------------------------------------------------- plugins
    async def ListPlugins(
        self, request: pb.ListPluginsRequest, context: Context
    ) -> pb.ListPluginsResponse:
        views = await self._call(self._ops.plugins.list)
        return pb.ListPluginsResponse(plugins=map(convert_plugins.plugin, views))

    # --------------------------------------------------------------- server
    async def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: Context
    ) -> pb.GetServerInfoResponse:
        info = await self._call(self._server_facts.get)
        return pb.GetServerInfoResponse(
            version=info.version,
            embedder=info.embedder,
            store_backend=info.store_backend,
            default_llm_model=info.default_llm_model,
            started_at=convert.timestamp(info.started_at),
        )
