"""Authentication on every RPC, the public health check, and how unexpected errors surface."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import projectqa.server.auth as auth
from projectqa.server.errors import StoreUnavailable
from projectqa.v1 import admin_pb2

from .helpers import Code, rpc_error

ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
ADMIN_RPCS = [method.name for method in ADMIN_SERVICE.methods]


def empty_request(rpc: str):
    return getattr(admin_pb2, ADMIN_SERVICE.methods_by_name[rpc].input_type.name)()


def bearer(value: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", value),)


def test_every_rpc_has_service_tests_of_its_own() -> None:
    # Keeps "every AdminService RPC is covered" true when the proto grows.
    others = [p for p in Path(__file__).parent.glob("test_*.py") if p.name != "test_auth.py"]
    sources = "".join(p.read_text() for p in others)
    untested = [rpc for rpc in ADMIN_RPCS if not re.search(rf"\.{rpc}\b", sources)]

    assert untested == []


@pytest.mark.parametrize("rpc", ADMIN_RPCS)
async def test_every_rpc_needs_credentials(connect, rpc) -> None:
    anonymous = connect(None)

    await rpc_error(
        getattr(anonymous, rpc)(empty_request(rpc)),
        Code.UNAUTHENTICATED,
        "missing credentials",
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic YWRtaW46YWRtaW4=", "malformed authorization metadata"),
        ("Bearer", "malformed authorization metadata"),
        ("tok_0189f3a2c4d5.secret", "malformed authorization metadata"),
        ("Bearer not-a-token", "invalid token"),
        ("Bearer tok_0189f3a2c4d5e6f7a8b9.unknown-secret", "invalid token"),
    ],
    ids=["basic-scheme", "bearer-without-token", "no-scheme", "garbage-token", "unknown-id"],
)
async def test_bad_authorization_metadata_is_unauthenticated(connect, header, message) -> None:
    anonymous = connect(None)

    await rpc_error(
        anonymous.WhoAmI(admin_pb2.WhoAmIRequest(), metadata=bearer(header)),
        Code.UNAUTHENTICATED,
        message,
    )


async def test_known_token_id_with_a_wrong_secret_is_unauthenticated(server, connect) -> None:
    token_id = server.admin_token.partition(".")[0]

    details = await rpc_error(
        connect(f"{token_id}.guessed-secret").ListUsers(admin_pb2.ListUsersRequest()),
        Code.UNAUTHENTICATED,
    )

    assert details == "invalid token"  # same answer as for an unknown id


async def test_bearer_scheme_is_case_insensitive(server, connect) -> None:
    me = await connect(None).WhoAmI(
        admin_pb2.WhoAmIRequest(), metadata=bearer(f"bearer {server.admin_token}")
    )

    assert me.user.name == "admin"


async def test_revoked_token_is_unauthenticated(admin, new_user) -> None:
    bob = await new_user("bob")
    await admin.RevokeToken(admin_pb2.RevokeTokenRequest(token_id=bob.token.id))

    await rpc_error(
        bob.stub.ListTokens(admin_pb2.ListTokensRequest()),
        Code.UNAUTHENTICATED,
        "token revoked or expired",
    )


async def test_token_stops_working_at_its_expire_time(
    server, connect, new_user, monkeypatch
) -> None:
    bob = await new_user("bob")
    issued = await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(ttl_seconds=1))
    expiring = connect(issued.secret)
    expires_at = server.server.store.get_token(issued.token.id).expires_at
    assert issued.token.expire_time.ToDatetime() == expires_at.replace(tzinfo=None)

    # The server's clock, moved instead of waiting: valid up to the last millisecond...
    monkeypatch.setattr(auth, "utcnow", lambda: expires_at - timedelta(milliseconds=1))
    assert (await expiring.WhoAmI(admin_pb2.WhoAmIRequest())).token.id == issued.token.id
    # ...and refused from the expire time on.
    monkeypatch.setattr(auth, "utcnow", lambda: expires_at)
    await rpc_error(
        expiring.WhoAmI(admin_pb2.WhoAmIRequest()), Code.UNAUTHENTICATED, "revoked or expired"
    )
    await bob.stub.WhoAmI(admin_pb2.WhoAmIRequest())  # a token without ttl still works


async def test_token_with_a_one_second_ttl_expires_in_real_time(connect, new_user) -> None:
    bob = await new_user("bob")
    issued = await bob.stub.CreateToken(admin_pb2.CreateTokenRequest(ttl_seconds=1))
    expiring = connect(issued.secret)
    # No call before the sleep: on a loaded machine a second may pass before it, and the token
    # working up to its expire time is shown with a moved clock above. Waiting longer than
    # the ttl only ever helps this check.
    await asyncio.sleep(1.1)

    await rpc_error(
        expiring.WhoAmI(admin_pb2.WhoAmIRequest()), Code.UNAUTHENTICATED, "revoked or expired"
    )


async def test_bootstrap_admin_token_file_is_private(server) -> None:
    path = server.server.settings.admin_token_path

    assert server.server.admin_token_path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert server.admin_token.startswith("tok_")


@pytest.mark.parametrize("service", ["", "projectqa.v1.AdminService"])
async def test_health_check_needs_no_token(server, service) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        response = await health.Check(health_pb2.HealthCheckRequest(service=service))

    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_unexpected_exception_is_internal_without_its_text(
    admin, server, monkeypatch, server_log
) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("boom-secret")

    with monkeypatch.context() as patch:
        patch.setattr(server.server.store, "list_projects", explode)
        details = await rpc_error(
            admin.ListProjects(admin_pb2.ListProjectsRequest()),
            Code.INTERNAL,
            "internal error (ref ",
        )

    assert "boom-secret" not in details
    assert "Traceback" not in details and "RuntimeError" not in details
    ref = re.fullmatch(r"internal error \(ref ([0-9a-f]+)\); see the server log", details)
    assert ref, details
    # The operator finds the traceback in the log under the same reference.
    logged = [r for r in server_log.records if getattr(r, "ref", None) == ref.group(1)]
    assert any(r.exc_info and "boom-secret" in str(r.exc_info[1]) for r in logged)
    # The server keeps serving.
    assert (await admin.WhoAmI(admin_pb2.WhoAmIRequest())).user.name == "admin"


async def test_unreachable_store_is_unavailable(admin, server, monkeypatch) -> None:
    def down(*args, **kwargs):
        raise StoreUnavailable("store did not answer in time")

    monkeypatch.setattr(server.server.store, "list_users", down)

    await rpc_error(
        admin.ListUsers(admin_pb2.ListUsersRequest()),
        Code.UNAVAILABLE,
        "store did not answer in time",
    )
