"""Limits every list shares (page_size, page_token), the message size cap, bad request bytes."""

from __future__ import annotations

import base64

import grpc
import pytest

from projectqa.v1 import admin_pb2, common_pb2

from .helpers import Code, rpc_error

# Every list RPC, with a request that lists something the admin may see.
LISTS = {
    "ListProjects": ("ListProjects", lambda: admin_pb2.ListProjectsRequest()),
    "ListUsers": ("ListUsers", lambda: admin_pb2.ListUsersRequest()),
    "ListTokens": ("ListTokens", lambda: admin_pb2.ListTokensRequest()),
    "ListMembers": ("ListMembers", lambda: admin_pb2.ListMembersRequest(project="alpha")),
    "ListConnectorTypes": ("ListConnectorTypes", lambda: admin_pb2.ListConnectorTypesRequest()),
    "ListConnectors": ("ListConnectors", lambda: admin_pb2.ListConnectorsRequest(project="alpha")),
    "ListLlmProfiles-project": (
        "ListLlmProfiles",
        lambda: admin_pb2.ListLlmProfilesRequest(project="alpha"),
    ),
    "ListLlmProfiles-global": ("ListLlmProfiles", lambda: admin_pb2.ListLlmProfilesRequest()),
    "ListProjectTools": (
        "ListProjectTools",
        lambda: admin_pb2.ListProjectToolsRequest(project="alpha"),
    ),
}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MALFORMED_TOKENS = {
    "garbage": "this is not a token!",
    "base64-of-junk": b64(b"\xff\xfe\x00junk"),
    "base64-of-text": b64(b"not json at all"),
    "json-list": b64(b"[1, 2, 3]"),
    "json-without-position": b64(b'{"l": "projects"}'),
    "json-position-not-text": b64(b'{"l": "projects", "a": 7}'),
}


async def call_list(stub, name: str, **fields):
    rpc, build = LISTS[name]
    request = build()
    for field, value in fields.items():
        setattr(request, field, value)
    return await getattr(stub, rpc)(request)


@pytest.mark.parametrize("page_size", [-1, 501])
@pytest.mark.parametrize("name", LISTS)
async def test_page_size_out_of_range_is_invalid(admin, project, name, page_size) -> None:
    await rpc_error(
        call_list(admin, name, page_size=page_size),
        Code.INVALID_ARGUMENT,
        "page_size: ",
        str(page_size),
    )


@pytest.mark.parametrize("name", LISTS)
async def test_page_size_limits_themselves_are_accepted(admin, project, name) -> None:
    largest = await call_list(admin, name, page_size=500)
    default = await call_list(admin, name, page_size=0)

    assert largest.next_page_token == default.next_page_token == ""


@pytest.mark.parametrize("token", MALFORMED_TOKENS.values(), ids=MALFORMED_TOKENS)
@pytest.mark.parametrize("name", LISTS)
async def test_malformed_page_token_is_invalid(admin, project, name, token) -> None:
    await rpc_error(
        call_list(admin, name, page_token=token),
        Code.INVALID_ARGUMENT,
        "page_token: ",
        "malformed",
    )


@pytest.mark.parametrize(
    "raw", [b"[" * 50_000, b'{"l":"projects","a":"\\ud800"}'], ids=["nested", "lone-surrogate"]
)
async def test_forged_page_tokens_are_invalid(admin, raw) -> None:
    token = b64(raw)

    await rpc_error(
        admin.ListProjects(admin_pb2.ListProjectsRequest(page_token=token)),
        Code.INVALID_ARGUMENT,
        "page_token: ",
    )


@pytest.mark.parametrize("name", LISTS)
async def test_page_token_of_another_list_is_invalid(admin, project, name) -> None:
    # Both catalogs hold seven entries, so a page of one always has a next page.
    donor = "ListProjectTools" if name == "ListConnectorTypes" else "ListConnectorTypes"
    foreign = (await call_list(admin, donor, page_size=1)).next_page_token
    assert foreign

    await rpc_error(
        call_list(admin, name, page_token=foreign),
        Code.INVALID_ARGUMENT,
        "page_token: ",
        "different list",
    )


@pytest.mark.parametrize("name", ["ListConnectors", "ListMembers", "ListProjectTools"])
async def test_page_token_of_one_project_does_not_page_another(admin, new_project, name) -> None:
    await new_project("alpha")
    await new_project("beta")
    for user in ("ann", "bob"):
        await admin.CreateUser(admin_pb2.CreateUserRequest(name=user))
        for slug in ("alpha", "beta"):
            await admin.AddMember(
                admin_pb2.AddMemberRequest(
                    project=slug, user=user, role=common_pb2.PROJECT_ROLE_MEMBER
                )
            )
    for connector in ("one", "two"):
        for slug in ("alpha", "beta"):
            await admin.CreateConnector(
                admin_pb2.CreateConnectorRequest(project=slug, type="fake-src1", name=connector)
            )
    alpha_token = (await call_list(admin, name, page_size=1)).next_page_token
    assert alpha_token

    await rpc_error(
        call_list(admin, name, project="beta", page_token=alpha_token),
        Code.INVALID_ARGUMENT,
        "page_token: ",
        "different list",
    )


async def test_page_token_of_one_user_does_not_page_anothers_tokens(admin, new_user) -> None:
    await new_user("bob")
    for _ in range(2):
        await admin.CreateToken(admin_pb2.CreateTokenRequest())
    admin_token = (await call_list(admin, "ListTokens", page_size=1)).next_page_token
    assert admin_token

    await rpc_error(
        call_list(admin, "ListTokens", user="bob", page_token=admin_token),
        Code.INVALID_ARGUMENT,
        "page_token: ",
        "different list",
    )


async def test_oversized_request_is_resource_exhausted_and_the_server_keeps_serving(
    start_server, connect
) -> None:
    small = await start_server(max_message_bytes=65536)
    admin = connect(small.admin_token, small.address)
    huge = admin_pb2.CreateProjectRequest(slug="big", name="Big", description="d" * 100_000)

    await rpc_error(admin.CreateProject(huge), Code.RESOURCE_EXHAUSTED)

    created = await admin.CreateProject(
        admin_pb2.CreateProjectRequest(slug="small", name="Small", description="d" * 4096)
    )
    assert created.project.slug == "small"
    listed = await admin.ListProjects(admin_pb2.ListProjectsRequest())
    assert [p.slug for p in listed.projects] == ["small"]


# ------------------------------------------------------------ undecodable requests
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def length_delimited(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def nested_struct(depth: int) -> bytes:
    """A google.protobuf.Struct ``{"k": {"k": ...}}`` ``depth`` levels deep, on the wire."""
    struct = b""
    for _ in range(depth):
        value = length_delimited(5, struct)  # Value.struct_value
        entry = length_delimited(1, b"k") + length_delimited(2, value)  # map entry key, value
        struct = length_delimited(1, entry)  # Struct.fields
    return struct


CORRUPT = b"\x0a\xff\xff\xff"  # field 1 claims more bytes than follow
BAD_UTF8 = length_delimited(1, b"\xff\xfe")  # field 1 is a string in every request below
TOO_DEEP = length_delimited(1, b"alpha") + length_delimited(4, nested_struct(200))  # config

UNDECODABLE = {
    "Search-corrupt": ("/projectqa.v1.RetrievalService/Search", CORRUPT, "corrupt"),
    "Search-utf8": ("/projectqa.v1.RetrievalService/Search", BAD_UTF8, "UTF-8"),
    "CreateConnector-deep": ("/projectqa.v1.AdminService/CreateConnector", TOO_DEEP, "nested"),
    "WatchIngestion-corrupt": ("/projectqa.v1.IngestionService/WatchIngestion", CORRUPT, "corrupt"),
    "WatchIngestion-utf8": ("/projectqa.v1.IngestionService/WatchIngestion", BAD_UTF8, "UTF-8"),
    "Ask-utf8": ("/projectqa.v1.ChatService/Ask", BAD_UTF8, "UTF-8"),
    "Health-corrupt": ("/grpc.health.v1.Health/Check", CORRUPT, "corrupt"),
}
STREAMING = {"WatchIngestion", "Ask"}


async def send_raw(address: str, method: str, raw: bytes, token: str | None) -> None:
    """One call with hand-made request bytes (no serializer), reading the whole answer."""
    metadata = [("authorization", f"Bearer {token}")] if token else []
    async with grpc.aio.insecure_channel(address) as channel:
        if method.rsplit("/", 1)[1] in STREAMING:
            call = channel.unary_stream(method)(raw, metadata=metadata)
            [_ async for _ in call]
        else:
            await channel.unary_unary(method)(raw, metadata=metadata)


@pytest.mark.parametrize(("method", "raw", "reason"), UNDECODABLE.values(), ids=UNDECODABLE)
async def test_an_undecodable_request_is_invalid_argument(
    server, admin, method, raw, reason
) -> None:
    details = await rpc_error(
        send_raw(server.address, method, raw, server.admin_token),
        Code.INVALID_ARGUMENT,
        "request: cannot be decoded",
        reason,
    )

    assert len(details) < 200 and "Traceback" not in details
    assert (await admin.WhoAmI(admin_pb2.WhoAmIRequest())).user.name  # still serving


async def test_an_undecodable_request_without_a_token_is_unauthenticated(server) -> None:
    await rpc_error(
        send_raw(server.address, "/projectqa.v1.RetrievalService/Search", CORRUPT, None),
        Code.UNAUTHENTICATED,
    )
