"""Memberships: AddMember, RemoveMember, ListMembers."""

from __future__ import annotations

import pytest

from projectqa.v1 import admin_pb2, common_pb2

from .helpers import Code, all_pages, flatten, rpc_error

MEMBER = common_pb2.PROJECT_ROLE_MEMBER
ADMIN = common_pb2.PROJECT_ROLE_ADMIN


async def test_add_member_returns_the_membership_with_names(admin, project) -> None:
    bob = (await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))).user

    membership = (
        await admin.AddMember(admin_pb2.AddMemberRequest(project="alpha", user="bob", role=MEMBER))
    ).membership

    assert (membership.project_id, membership.project_slug) == (project.id, "alpha")
    assert (membership.user_id, membership.user_name) == (bob.id, "bob")
    assert membership.role == MEMBER
    assert membership.update_time.seconds > 0


async def test_add_member_accepts_ids_for_project_and_user(admin, project) -> None:
    bob = (await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))).user

    membership = (
        await admin.AddMember(
            admin_pb2.AddMemberRequest(project=project.id, user=bob.id, role=ADMIN)
        )
    ).membership

    assert (membership.project_slug, membership.user_name, membership.role) == (
        "alpha",
        "bob",
        ADMIN,
    )


async def test_adding_an_existing_member_changes_their_role(admin, member) -> None:
    request = admin_pb2.AddMemberRequest(project="alpha", user="mia", role=ADMIN)

    changed = (await admin.AddMember(request)).membership

    assert changed.role == ADMIN
    listed = await admin.ListMembers(admin_pb2.ListMembersRequest(project="alpha"))
    assert [(m.user_name, m.role) for m in listed.memberships] == [("mia", ADMIN)]
    # The new role takes effect at once.
    renamed = await member.stub.UpdateProject(
        admin_pb2.UpdateProjectRequest(project="alpha", name="By Mia")
    )
    assert renamed.project.name == "By Mia"


async def test_removed_member_loses_access(admin, member) -> None:
    await admin.RemoveMember(admin_pb2.RemoveMemberRequest(project="alpha", user="mia"))

    listed = await admin.ListMembers(admin_pb2.ListMembersRequest(project="alpha"))
    assert list(listed.memberships) == []
    await rpc_error(
        member.stub.GetProject(admin_pb2.GetProjectRequest(project="alpha")), Code.NOT_FOUND
    )


async def test_removing_a_non_member_is_not_found(admin, project) -> None:
    await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))

    await rpc_error(
        admin.RemoveMember(admin_pb2.RemoveMemberRequest(project="alpha", user="bob")),
        Code.NOT_FOUND,
        "bob",
        "alpha",
    )


async def test_add_member_without_a_role_is_invalid(admin, project) -> None:
    await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))
    request = admin_pb2.AddMemberRequest(
        project="alpha", user="bob", role=common_pb2.PROJECT_ROLE_UNSPECIFIED
    )

    await rpc_error(admin.AddMember(request), Code.INVALID_ARGUMENT, "role: ")


async def test_add_member_for_a_missing_user_is_not_found(admin, project) -> None:
    request = admin_pb2.AddMemberRequest(project="alpha", user="ghost", role=MEMBER)

    await rpc_error(admin.AddMember(request), Code.NOT_FOUND, "user 'ghost' not found")


async def test_add_member_to_a_missing_project_is_not_found(admin) -> None:
    await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))
    request = admin_pb2.AddMemberRequest(project="ghost", user="bob", role=MEMBER)

    await rpc_error(admin.AddMember(request), Code.NOT_FOUND, "project 'ghost' not found")


async def test_list_members_follows_pages_in_user_order(admin, project) -> None:
    names = [f"user{i}" for i in range(7)]
    for name in names:
        await admin.CreateUser(admin_pb2.CreateUserRequest(name=name))
        await admin.AddMember(admin_pb2.AddMemberRequest(project="alpha", user=name, role=MEMBER))

    pages = await all_pages(
        admin.ListMembers, admin_pb2.ListMembersRequest(project="alpha"), "memberships"
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = flatten(pages)
    assert sorted(m.user_name for m in listed) == names
    assert [m.user_id for m in listed] == sorted(m.user_id for m in listed)
    assert {(m.project_id, m.project_slug) for m in listed} == {(project.id, "alpha")}


async def test_list_members_of_a_missing_project_is_not_found(admin) -> None:
    await rpc_error(
        admin.ListMembers(admin_pb2.ListMembersRequest(project="ghost")),
        Code.NOT_FOUND,
        "project 'ghost' not found",
    )


@pytest.mark.parametrize("rpc", ["AddMember", "RemoveMember"])
async def test_member_rpcs_need_a_user_reference(admin, project, rpc) -> None:
    request = getattr(admin_pb2, f"{rpc}Request")(project="alpha")
    if rpc == "AddMember":
        request.role = MEMBER

    await rpc_error(getattr(admin, rpc)(request), Code.INVALID_ARGUMENT, "user: must not be empty")
