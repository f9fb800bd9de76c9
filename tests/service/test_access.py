"""Roles and isolation: what members, project admins and global admins may do, and
that another project's resources answer exactly like missing ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from projectqa.v1 import admin_pb2, common_pb2

from .helpers import Caller, Code, all_pages, flatten, rpc_error, struct


@dataclass(frozen=True)
class Resources:
    """What the global admin set up in a project for the test to aim at."""

    project: common_pb2.Project
    connector_id: str
    profile_id: str


@dataclass(frozen=True)
class Call:
    rpc: str
    build: Callable[[Resources], Any]


async def furnish(admin, project: common_pb2.Project) -> Resources:
    connector = await admin.CreateConnector(
        admin_pb2.CreateConnectorRequest(
            project=project.slug, type="fake-git", name="repo", config=struct({"url": "u"})
        )
    )
    profile = await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            project=project.slug, name="p", provider=admin_pb2.LLM_PROVIDER_OLLAMA, model="m"
        )
    )
    return Resources(project, connector.connector.id, profile.profile.id)


@pytest.fixture
async def alpha(admin, project) -> Resources:
    return await furnish(admin, project)


@pytest.fixture
async def beta(admin, new_project) -> Resources:
    return await furnish(admin, await new_project("beta"))


ROLES = {"member": common_pb2.PROJECT_ROLE_MEMBER, "project-admin": common_pb2.PROJECT_ROLE_ADMIN}


@pytest.fixture(params=ROLES)
async def alpha_user(request, project, new_user) -> Caller:
    """``ann``, no global admin: a plain member of alpha, then (second run) its admin."""
    return await new_user("ann", member_of="alpha", role=ROLES[request.param])


async def invoke(stub, call: Call, resources: Resources):
    return await getattr(stub, call.rpc)(call.build(resources))


# Project-scoped calls that need the admin role, aimed at a project by reference...
ADMIN_PROJECT_CALLS = {
    "UpdateProject": Call(
        "UpdateProject", lambda r: admin_pb2.UpdateProjectRequest(project=r.project.slug, name="N")
    ),
    "AddMember": Call(
        "AddMember",
        lambda r: admin_pb2.AddMemberRequest(
            project=r.project.slug, user="mia", role=common_pb2.PROJECT_ROLE_ADMIN
        ),
    ),
    "RemoveMember": Call(
        "RemoveMember",
        lambda r: admin_pb2.RemoveMemberRequest(project=r.project.slug, user="mia"),
    ),
    "CreateConnector": Call(
        "CreateConnector",
        lambda r: admin_pb2.CreateConnectorRequest(
            project=r.project.slug, type="fake-git", name="new", config=struct({"url": "u"})
        ),
    ),
    "CreateLlmProfile": Call(
        "CreateLlmProfile",
        lambda r: admin_pb2.CreateLlmProfileRequest(
            project=r.project.slug, name="new", provider=admin_pb2.LLM_PROVIDER_OLLAMA, model="m"
        ),
    ),
    "SetFeatureFlag": Call(
        "SetFeatureFlag",
        lambda r: admin_pb2.SetFeatureFlagRequest(project=r.project.slug, key="f", enabled=True),
    ),
    "SetProjectToolEnabled": Call(
        "SetProjectToolEnabled",
        lambda r: admin_pb2.SetProjectToolEnabledRequest(
            project=r.project.slug, tool="echo", enabled=True
        ),
    ),
}
# ...or at one of its connectors or LLM profiles by id.
ADMIN_RESOURCE_CALLS = {
    "UpdateConnector": Call(
        "UpdateConnector",
        lambda r: admin_pb2.UpdateConnectorRequest(connector_id=r.connector_id, name="renamed"),
    ),
    "DeleteConnector": Call(
        "DeleteConnector", lambda r: admin_pb2.DeleteConnectorRequest(connector_id=r.connector_id)
    ),
    "UpdateLlmProfile": Call(
        "UpdateLlmProfile",
        lambda r: admin_pb2.UpdateLlmProfileRequest(profile_id=r.profile_id, model="m2"),
    ),
    "DeleteLlmProfile": Call(
        "DeleteLlmProfile", lambda r: admin_pb2.DeleteLlmProfileRequest(profile_id=r.profile_id)
    ),
}
ADMIN_CALLS = {**ADMIN_PROJECT_CALLS, **ADMIN_RESOURCE_CALLS}

# What a plain member may do in their project.
MEMBER_PROJECT_CALLS = {
    "GetProject": Call("GetProject", lambda r: admin_pb2.GetProjectRequest(project=r.project.slug)),
    "ListMembers": Call(
        "ListMembers", lambda r: admin_pb2.ListMembersRequest(project=r.project.slug)
    ),
    "ListConnectors": Call(
        "ListConnectors", lambda r: admin_pb2.ListConnectorsRequest(project=r.project.slug)
    ),
    "ListLlmProfiles": Call(
        "ListLlmProfiles", lambda r: admin_pb2.ListLlmProfilesRequest(project=r.project.slug)
    ),
    "GetFeatureFlags": Call(
        "GetFeatureFlags", lambda r: admin_pb2.GetFeatureFlagsRequest(project=r.project.slug)
    ),
    "ListProjectTools": Call(
        "ListProjectTools", lambda r: admin_pb2.ListProjectToolsRequest(project=r.project.slug)
    ),
}
MEMBER_RESOURCE_CALLS = {
    "GetConnector": Call(
        "GetConnector", lambda r: admin_pb2.GetConnectorRequest(connector_id=r.connector_id)
    ),
}
MEMBER_CALLS = {**MEMBER_PROJECT_CALLS, **MEMBER_RESOURCE_CALLS}

# Calls a project admin of alpha may make that only a global admin may.
GLOBAL_ADMIN_CALLS = {
    "CreateProject": Call("CreateProject", lambda r: admin_pb2.CreateProjectRequest(slug="new")),
    "DeleteProject": Call(
        "DeleteProject", lambda r: admin_pb2.DeleteProjectRequest(project=r.project.slug)
    ),
    "CreateUser": Call("CreateUser", lambda r: admin_pb2.CreateUserRequest(name="new-user")),
    "ListUsers": Call("ListUsers", lambda r: admin_pb2.ListUsersRequest()),
    "CreateToken-for-another-user": Call(
        "CreateToken", lambda r: admin_pb2.CreateTokenRequest(user="admin")
    ),
    "ListTokens-of-another-user": Call(
        "ListTokens", lambda r: admin_pb2.ListTokensRequest(user="admin")
    ),
    "CreateLlmProfile-global": Call(
        "CreateLlmProfile",
        lambda r: admin_pb2.CreateLlmProfileRequest(
            name="g", provider=admin_pb2.LLM_PROVIDER_OLLAMA, model="m"
        ),
    ),
    "SetFeatureFlag-global": Call(
        "SetFeatureFlag", lambda r: admin_pb2.SetFeatureFlagRequest(key="f", enabled=True)
    ),
}


@pytest.mark.parametrize("name", ADMIN_CALLS)
async def test_plain_member_cannot_manage_their_project(alpha, member, name) -> None:
    await rpc_error(
        invoke(member.stub, ADMIN_CALLS[name], alpha),
        Code.PERMISSION_DENIED,
        "needs the admin role in project 'alpha'",
    )


@pytest.mark.parametrize("name", ADMIN_CALLS)
async def test_project_admin_manages_their_project(alpha, member, project_admin, name) -> None:
    await invoke(project_admin.stub, ADMIN_CALLS[name], alpha)


@pytest.mark.parametrize("name", MEMBER_CALLS)
async def test_plain_member_reads_their_project(alpha, member, name) -> None:
    await invoke(member.stub, MEMBER_CALLS[name], alpha)


async def test_plain_member_sees_their_projects_data(admin, alpha, member) -> None:
    project = (await member.stub.GetProject(admin_pb2.GetProjectRequest(project="alpha"))).project
    connectors = await member.stub.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    members = await member.stub.ListMembers(admin_pb2.ListMembersRequest(project="alpha"))
    tools = await member.stub.ListProjectTools(admin_pb2.ListProjectToolsRequest(project="alpha"))

    assert project == alpha.project
    assert [c.id for c in connectors.connectors] == [alpha.connector_id]
    assert [(m.user_name, m.role) for m in members.memberships] == [
        ("mia", common_pb2.PROJECT_ROLE_MEMBER)
    ]
    assert len(tools.tools) > 0


async def test_plain_member_cannot_promote_themselves(admin, alpha, member) -> None:
    await rpc_error(invoke(member.stub, ADMIN_CALLS["AddMember"], alpha), Code.PERMISSION_DENIED)

    listed = await admin.ListMembers(admin_pb2.ListMembersRequest(project="alpha"))
    assert [m.role for m in listed.memberships] == [common_pb2.PROJECT_ROLE_MEMBER]


@pytest.mark.parametrize("name", GLOBAL_ADMIN_CALLS)
async def test_only_global_admins_may(alpha, alpha_user, name) -> None:
    stub = alpha_user.stub

    await rpc_error(
        invoke(stub, GLOBAL_ADMIN_CALLS[name], alpha), Code.PERMISSION_DENIED, "global admin"
    )


@pytest.mark.parametrize("rpc", ["UpdateLlmProfile", "DeleteLlmProfile"])
async def test_project_admin_cannot_change_global_profiles(admin, project_admin, rpc) -> None:
    created = await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            name="g", provider=admin_pb2.LLM_PROVIDER_OLLAMA, model="m"
        )
    )
    request = getattr(admin_pb2, f"{rpc}Request")(profile_id=created.profile.id)

    await rpc_error(
        getattr(project_admin.stub, rpc)(request), Code.PERMISSION_DENIED, "global admin"
    )


async def test_anyone_reads_global_profiles_and_flags(admin, new_user) -> None:
    outsider = await new_user("olga")
    created = await admin.CreateLlmProfile(
        admin_pb2.CreateLlmProfileRequest(
            name="g", provider=admin_pb2.LLM_PROVIDER_OLLAMA, model="m"
        )
    )
    await admin.SetFeatureFlag(admin_pb2.SetFeatureFlagRequest(key="f", enabled=True))

    profiles = await outsider.stub.ListLlmProfiles(admin_pb2.ListLlmProfilesRequest())
    flags = await outsider.stub.GetFeatureFlags(admin_pb2.GetFeatureFlagsRequest())

    assert list(profiles.profiles) == [created.profile]
    assert [(f.key, f.enabled) for f in flags.flags] == [("f", True)]


async def test_global_admin_acts_on_every_project_without_membership(admin, alpha, member) -> None:
    for call in (*MEMBER_CALLS.values(), *ADMIN_CALLS.values()):
        await invoke(admin, call, alpha)


# ------------------------------------------------------------- isolation

PROJECT_REF_CALLS = {**MEMBER_PROJECT_CALLS, **ADMIN_PROJECT_CALLS}
RESOURCE_ID_CALLS = {**MEMBER_RESOURCE_CALLS, **ADMIN_RESOURCE_CALLS}
# References of the same shape as beta's that name nothing.
MISSING = Resources(
    common_pb2.Project(id="prj_0000000000000000000000ff", slug="gamma"),
    "con_0000000000000000000000ff",
    "llm_0000000000000000000000ff",
)


def by_id(resources: Resources) -> Resources:
    """The same resources, with the project referred to by id instead of slug."""
    project = common_pb2.Project(id=resources.project.id, slug=resources.project.id)
    return Resources(project, resources.connector_id, resources.profile_id)


@pytest.mark.parametrize("reference", ["slug", "id"])
@pytest.mark.parametrize("name", PROJECT_REF_CALLS)
async def test_another_project_answers_like_a_missing_one(
    alpha, beta, alpha_user, name, reference
) -> None:
    stub = alpha_user.stub
    call = PROJECT_REF_CALLS[name]
    target, missing = (by_id(beta), by_id(MISSING)) if reference == "id" else (beta, MISSING)

    hidden = await rpc_error(invoke(stub, call, target), Code.NOT_FOUND)
    absent = await rpc_error(invoke(stub, call, missing), Code.NOT_FOUND)

    assert hidden == f"project {target.project.slug!r} not found"
    assert absent == f"project {missing.project.slug!r} not found"


@pytest.mark.parametrize("name", RESOURCE_ID_CALLS)
async def test_another_projects_connectors_and_profiles_answer_like_missing_ones(
    admin, alpha, beta, alpha_user, name
) -> None:
    stub = alpha_user.stub
    call = RESOURCE_ID_CALLS[name]

    hidden = await rpc_error(invoke(stub, call, beta), Code.NOT_FOUND)
    absent = await rpc_error(invoke(stub, call, MISSING), Code.NOT_FOUND)

    beta_ids = (beta.connector_id, beta.profile_id)
    missing_ids = (MISSING.connector_id, MISSING.profile_id)
    assert any(i in hidden for i in beta_ids)
    for real, fake in zip(beta_ids, missing_ids, strict=True):
        hidden = hidden.replace(real, "<id>")
        absent = absent.replace(fake, "<id>")
    assert hidden == absent
    # Beta's resources are untouched.
    connectors = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="beta"))
    profiles = await admin.ListLlmProfiles(admin_pb2.ListLlmProfilesRequest(project="beta"))
    assert [(c.id, c.name) for c in connectors.connectors] == [(beta.connector_id, "repo")]
    assert [(p.id, p.model) for p in profiles.profiles] == [(beta.profile_id, "m")]


async def test_list_projects_shows_only_the_callers_projects(admin, alpha, beta, new_user) -> None:
    mia = await new_user("mia", member_of="alpha")
    olga = await new_user("olga")

    mine = await mia.stub.ListProjects(admin_pb2.ListProjectsRequest())
    none = await olga.stub.ListProjects(admin_pb2.ListProjectsRequest())
    every = await admin.ListProjects(admin_pb2.ListProjectsRequest())

    assert [p.slug for p in mine.projects] == ["alpha"]
    assert list(none.projects) == []
    assert sorted(p.slug for p in every.projects) == ["alpha", "beta"]


async def test_member_pages_through_their_own_projects_only(admin, new_project, new_user) -> None:
    mine = []
    for i in range(7):
        mine.append(await new_project(f"mine{i}"))
        await new_project(f"other{i}")
    ann = await new_user("ann")
    for p in mine:
        await admin.AddMember(
            admin_pb2.AddMemberRequest(
                project=p.slug, user="ann", role=common_pb2.PROJECT_ROLE_MEMBER
            )
        )

    pages = await all_pages(ann.stub.ListProjects, admin_pb2.ListProjectsRequest(), "projects")

    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(p.id for p in flatten(pages)) == sorted(p.id for p in mine)


async def test_delete_project_answers_non_admins_alike_for_existing_and_missing(
    alpha, project_admin
) -> None:
    existing = await rpc_error(
        project_admin.stub.DeleteProject(admin_pb2.DeleteProjectRequest(project="alpha")),
        Code.PERMISSION_DENIED,
    )
    missing = await rpc_error(
        project_admin.stub.DeleteProject(admin_pb2.DeleteProjectRequest(project="gamma")),
        Code.PERMISSION_DENIED,
    )

    assert existing == missing
