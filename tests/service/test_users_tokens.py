"""Users and tokens: CreateUser, ListUsers, CreateToken, ListTokens, RevokeToken, WhoAmI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from projectqa.v1 import admin_pb2, common_pb2

from .helpers import (
    Code,
    all_pages,
    assert_never_logged,
    assert_not_in_response,
    flatten,
    rpc_error,
)


async def test_create_user_returns_what_was_stored(admin) -> None:
    request = admin_pb2.CreateUserRequest(name="bob@example.com", display_name="Bob B.")

    user = (await admin.CreateUser(request)).user

    assert user.id.startswith("usr_")
    assert (user.name, user.display_name, user.global_admin) == (
        "bob@example.com",
        "Bob B.",
        False,
    )
    assert user.create_time.seconds > 0


async def test_create_global_admin_user(admin, connect) -> None:
    user = (
        await admin.CreateUser(admin_pb2.CreateUserRequest(name="root2", global_admin=True))
    ).user
    issued = await admin.CreateToken(admin_pb2.CreateTokenRequest(user="root2"))

    assert user.global_admin
    # A second global admin can do what only global admins can.
    second = connect(issued.secret)
    created = await second.CreateProject(admin_pb2.CreateProjectRequest(slug="x", name="X"))
    assert created.project.slug == "x"


async def test_create_user_with_a_taken_name_already_exists(admin) -> None:
    await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))

    await rpc_error(
        admin.CreateUser(admin_pb2.CreateUserRequest(name="bob")), Code.ALREADY_EXISTS, "bob"
    )


@pytest.mark.parametrize(
    ("name", "display_name", "field"),
    [
        ("", "", "name"),
        ("usr_bob", "", "name"),
        ("has space", "", "name"),
        ("-leading-dash", "", "name"),
        ("x" * 129, "", "name"),
        ("ok", "d" * 129, "display_name"),
    ],
    ids=["empty", "usr-prefix", "space", "leading-dash", "name-129", "display-name-129"],
)
async def test_create_user_rejects_bad_fields_naming_the_field(
    admin, name, display_name, field
) -> None:
    request = admin_pb2.CreateUserRequest(name=name, display_name=display_name)

    details = await rpc_error(admin.CreateUser(request), Code.INVALID_ARGUMENT)

    assert details.startswith(f"{field}: ")


async def test_user_name_may_not_start_with_usr_because_ids_do(admin) -> None:
    await rpc_error(
        admin.CreateUser(admin_pb2.CreateUserRequest(name="usr_0189")),
        Code.INVALID_ARGUMENT,
        "name: ",
        "usr_",
    )


async def test_list_users_follows_pages_starting_with_the_bootstrap_admin(admin) -> None:
    names = [f"user{i}" for i in range(7)]
    for name in names:
        await admin.CreateUser(admin_pb2.CreateUserRequest(name=name))

    pages = await all_pages(admin.ListUsers, admin_pb2.ListUsersRequest(), "users")

    assert [len(page) for page in pages] == [3, 3, 2]
    listed = flatten(pages)
    assert listed[0].name == "admin" and listed[0].global_admin
    assert sorted(u.name for u in listed[1:]) == names
    assert [u.id for u in listed] == sorted(u.id for u in listed)


async def test_create_token_for_oneself_returns_a_working_secret(connect, new_user) -> None:
    bob = await new_user("bob")

    issued = await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(description="laptop"))

    token = issued.token
    assert token.id.startswith("tok_")
    assert issued.secret.startswith(f"{token.id}.")
    assert (token.user_id, token.description) == (bob.user.id, "laptop")
    assert not token.HasField("expire_time")
    assert not token.HasField("revoke_time")
    me = await connect(issued.secret).WhoAmI(admin_pb2.WhoAmIRequest())
    assert (me.user.id, me.token.id) == (bob.user.id, token.id)


async def test_create_token_with_a_ttl_expires_that_long_after_creation(new_user) -> None:
    bob = await new_user("bob")

    token = (await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(ttl_seconds=3600))).token

    lifetime = token.expire_time.ToDatetime() - token.create_time.ToDatetime()
    assert lifetime == timedelta(hours=1)


@pytest.mark.parametrize("reference", ["name", "id"])
async def test_global_admin_issues_tokens_for_any_user(admin, connect, reference) -> None:
    bob = (await admin.CreateUser(admin_pb2.CreateUserRequest(name="bob"))).user

    issued = await admin.CreateToken(
        admin_pb2.CreateTokenRequest(user=getattr(bob, reference), description="for bob")
    )

    assert issued.token.user_id == bob.id
    me = await connect(issued.secret).WhoAmI(admin_pb2.WhoAmIRequest())
    assert me.user.name == "bob"


async def test_create_token_for_a_missing_user_is_not_found(admin) -> None:
    await rpc_error(
        admin.CreateToken(admin_pb2.CreateTokenRequest(user="ghost")),
        Code.NOT_FOUND,
        "user 'ghost' not found",
    )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"ttl_seconds": -1}, "ttl_seconds"),
        ({"ttl_seconds": 3650 * 86400 + 1}, "ttl_seconds"),
        ({"description": "d" * 257}, "description"),
    ],
    ids=["negative-ttl", "ttl-over-10-years", "description-257"],
)
async def test_create_token_rejects_bad_fields(admin, request_fields, field) -> None:
    request = admin_pb2.CreateTokenRequest(**request_fields)

    await rpc_error(admin.CreateToken(request), Code.INVALID_ARGUMENT, f"{field}: ")


@pytest.mark.parametrize("ttl_seconds", [10**15, 2**63 - 1], ids=["1e15", "int64-max"])
async def test_create_token_with_an_absurd_ttl_is_invalid(admin, ttl_seconds) -> None:
    request = admin_pb2.CreateTokenRequest(ttl_seconds=ttl_seconds)

    await rpc_error(admin.CreateToken(request), Code.INVALID_ARGUMENT, "ttl_seconds: ")


async def test_list_tokens_returns_metadata_but_never_secrets(admin, server, new_user) -> None:
    bob = await new_user("bob")
    second = await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(description="ci"))

    listed = await admin.ListTokens(admin_pb2.ListTokensRequest(user="bob"))

    assert [(t.id, t.description) for t in listed.tokens] == [
        (bob.token.id, "tests as bob"),
        (second.token.id, "ci"),
    ]
    assert all(t.user_id == bob.user.id for t in listed.tokens)
    stored_hash = server.server.store.get_token(second.token.id).secret_hash
    secret_parts = [bob.secret.partition(".")[2], second.secret.partition(".")[2]]
    assert_not_in_response(listed, *secret_parts, stored_hash)


@pytest.mark.parametrize("reference", ["", "name", "id"])
async def test_users_list_their_own_tokens_by_any_reference(new_user, reference) -> None:
    bob = await new_user("bob")
    ref = {"": "", "name": "bob", "id": bob.user.id}[reference]

    listed = await bob.stub.ListTokens(admin_pb2.ListTokensRequest(user=ref))

    assert [t.id for t in listed.tokens] == [bob.token.id]


async def test_list_tokens_follows_pages(admin, new_user) -> None:
    bob = await new_user("bob")
    ids = [bob.token.id]
    for _ in range(6):
        ids.append((await admin.CreateToken(admin_pb2.CreateTokenRequest(user="bob"))).token.id)

    pages = await all_pages(
        bob.stub.ListTokens, admin_pb2.ListTokensRequest(), "tokens", page_size=3
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [t.id for t in flatten(pages)]
    assert sorted(listed) == sorted(ids)
    assert listed == sorted(listed)


async def test_token_secrets_never_reach_the_server_log(
    admin, connect, new_user, server_log
) -> None:
    bob = await new_user("bob")
    issued = await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(description="ci"))
    await connect(issued.secret).WhoAmI(admin_pb2.WhoAmIRequest())
    await bob.stub.ListTokens(admin_pb2.ListTokensRequest())
    await bob.stub.RevokeToken(admin_pb2.RevokeTokenRequest(token_id=issued.token.id))
    # A rejected token must not be logged either.
    guessed = f"{bob.token.id}.guessed-secret-5e"
    await rpc_error(connect(guessed).WhoAmI(admin_pb2.WhoAmIRequest()), Code.UNAUTHENTICATED)
    await rpc_error(connect(issued.secret).WhoAmI(admin_pb2.WhoAmIRequest()), Code.UNAUTHENTICATED)

    secrets = [s.partition(".")[2] for s in (bob.secret, issued.secret, guessed)]
    assert_never_logged(server_log.records, *secrets)


async def test_revoked_token_stops_working_at_once(new_user, connect) -> None:
    bob = await new_user("bob")
    spare = await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(description="spare"))
    spare_stub = connect(spare.secret)
    await spare_stub.WhoAmI(admin_pb2.WhoAmIRequest())

    revoked = (
        await bob.stub.RevokeToken(admin_pb2.RevokeTokenRequest(token_id=spare.token.id))
    ).token

    assert revoked.id == spare.token.id
    assert revoked.HasField("revoke_time")
    await rpc_error(
        spare_stub.WhoAmI(admin_pb2.WhoAmIRequest()), Code.UNAUTHENTICATED, "revoked or expired"
    )
    listed = await bob.stub.ListTokens(admin_pb2.ListTokensRequest())
    assert {t.id: t.HasField("revoke_time") for t in listed.tokens} == {
        bob.token.id: False,
        spare.token.id: True,
    }


async def test_revoking_twice_keeps_the_first_revoke_time(admin, new_user) -> None:
    bob = await new_user("bob")
    request = admin_pb2.RevokeTokenRequest(token_id=bob.token.id)

    first = (await admin.RevokeToken(request)).token
    second = (await admin.RevokeToken(request)).token

    assert second.revoke_time == first.revoke_time


async def test_users_cannot_revoke_other_users_tokens(new_user) -> None:
    bob = await new_user("bob")
    eve = await new_user("eve")

    details = await rpc_error(
        eve.stub.RevokeToken(admin_pb2.RevokeTokenRequest(token_id=bob.token.id)),
        Code.NOT_FOUND,
    )

    missing = await rpc_error(
        eve.stub.RevokeToken(admin_pb2.RevokeTokenRequest(token_id="tok_missing")),
        Code.NOT_FOUND,
    )
    assert details.replace(bob.token.id, "ID") == missing.replace("tok_missing", "ID")
    await bob.stub.WhoAmI(admin_pb2.WhoAmIRequest())  # still works


async def test_global_admin_revokes_any_token(admin, new_user) -> None:
    bob = await new_user("bob")

    await admin.RevokeToken(admin_pb2.RevokeTokenRequest(token_id=bob.token.id))

    await rpc_error(bob.stub.WhoAmI(admin_pb2.WhoAmIRequest()), Code.UNAUTHENTICATED)


async def test_revoke_token_needs_an_id(admin) -> None:
    await rpc_error(
        admin.RevokeToken(admin_pb2.RevokeTokenRequest()), Code.INVALID_ARGUMENT, "token_id"
    )


async def test_whoami_describes_the_bootstrap_admin(admin, server) -> None:
    me = await admin.WhoAmI(admin_pb2.WhoAmIRequest())

    assert (me.user.name, me.user.global_admin) == ("admin", True)
    assert server.admin_token.startswith(f"{me.token.id}.")
    assert me.token.user_id == me.user.id
    assert list(me.memberships) == []


async def test_whoami_lists_memberships_with_slugs_and_user_names(
    admin, new_project, new_user
) -> None:
    alpha = await new_project("alpha")
    beta = await new_project("beta")
    bob = await new_user("bob", member_of="alpha")
    await admin.AddMember(
        admin_pb2.AddMemberRequest(project="beta", user="bob", role=common_pb2.PROJECT_ROLE_ADMIN)
    )

    me = await bob.stub.WhoAmI(admin_pb2.WhoAmIRequest())

    assert (me.user.id, me.token.id) == (bob.user.id, bob.token.id)
    described = sorted(
        (m.project_id, m.project_slug, m.user_id, m.user_name, m.role) for m in me.memberships
    )
    assert described == sorted(
        [
            (alpha.id, "alpha", bob.user.id, "bob", common_pb2.PROJECT_ROLE_MEMBER),
            (beta.id, "beta", bob.user.id, "bob", common_pb2.PROJECT_ROLE_ADMIN),
        ]
    )
    assert all(m.update_time.seconds > 0 for m in me.memberships)


async def test_a_token_never_outlives_the_token_that_made_it(admin, new_user, connect) -> None:
    """Otherwise a short-lived or leaked token could mint a permanent one."""
    await new_user("eve")
    short = await admin.CreateToken(admin_pb2.CreateTokenRequest(user="eve", ttl_seconds=3600))
    eve = connect(short.secret)
    limit = short.token.expire_time.seconds

    forever = await eve.CreateToken(admin_pb2.CreateTokenRequest(ttl_seconds=0))
    longer = await eve.CreateToken(admin_pb2.CreateTokenRequest(ttl_seconds=86_400))
    shorter = await eve.CreateToken(admin_pb2.CreateTokenRequest(ttl_seconds=60))

    assert forever.token.HasField("expire_time") and forever.token.expire_time.seconds <= limit
    assert longer.token.expire_time.seconds <= limit
    assert shorter.token.expire_time.seconds < limit - 3000
