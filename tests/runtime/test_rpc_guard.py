"""RpcGuard on a real grpc.aio server with hand-made unary and streaming methods."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from projectqa.server.auth import issue_token
from projectqa.server.config import Settings
from projectqa.server.errors import NotFound
from projectqa.server.interceptors import REFUSAL_LOG_INTERVAL_S, RpcGuard, current_principal
from projectqa.server.limits import Limit, RpcBudgets
from projectqa.server.models import User, new_id, utcnow
from projectqa.server.store import SqliteStore
from projectqa.server.threads import BlockingRunner
from tests.waiting import eventually

SERVICE = "test.Guarded"
UNARY_BUDGET, UNARY_PER_CALLER, STREAM_BUDGET, PER_CALLER = 3, 2, 3, 2
PUBLIC_STREAMS, PUBLIC_PER_HOST = 3, 2
STREAM_REQUEST_BYTES = 1024
Code = grpc.StatusCode


class Handlers:
    def __init__(self) -> None:
        self.started = 0
        self.cleaned_up = asyncio.Event()
        self.gate = asyncio.Event()  # holds ``hold`` and ``follow`` until the test opens it

    async def whoami(self, request: bytes, context) -> bytes:
        self.started += 1
        if request == b"crash":
            raise RuntimeError("boom with a secret s3cr3t")
        return current_principal().user.name.encode()

    async def count(self, request: bytes, context):
        self.started += 1
        try:
            for i in range(int(request or b"3")):
                if i == 2:
                    raise NotFound("thing 'x' not found")
                yield str(i).encode()
                await asyncio.sleep(0.05)
        finally:
            self.cleaned_up.set()

    async def hold(self, request: bytes, context) -> bytes:
        """A unary call that stays in flight until the gate opens."""
        self.started += 1
        await self.gate.wait()
        return b"released"

    async def follow(self, request: bytes, context):
        """A long-lived stream: one message at once, the end when the gate opens."""
        self.started += 1
        yield b"open"
        await self.gate.wait()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Guarded:
    channel: grpc.aio.Channel
    handlers: Handlers
    alice: list[tuple[str, str]]  # call metadata with alice's token
    alice2: list[tuple[str, str]]  # with another token of alice's
    bob: list[tuple[str, str]]
    budgets: RpcBudgets
    clock: FakeClock
    runner: CountingRunner
    ids: dict[str, str]
    streams: list[grpc.aio.Call] = field(default_factory=list)

    async def open_stream(self, auth, method: str = "Follow", request: bytes = b""):
        """Starts a stream and waits for its first message: then it holds its budget."""
        call = self.channel.unary_stream(f"/{SERVICE}/{method}")(request, metadata=auth)
        self.streams.append(call)
        assert await call.read() == b"open"
        return call

    async def refused_stream(self, auth, *fragments: str, request: bytes = b"") -> str:
        call = self.channel.unary_stream(f"/{SERVICE}/Follow")(request, metadata=auth)
        return await expect_error(call.read(), Code.RESOURCE_EXHAUSTED, *fragments)

    async def whoami(self, auth) -> bytes:
        return await self.channel.unary_unary(f"/{SERVICE}/WhoAmI")(b"", metadata=auth)


async def expect_error(call, code: grpc.StatusCode, *fragments: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    details = err.value.details() or ""
    assert err.value.code() == code, f"{err.value.code()}: {details}"
    for fragment in fragments:
        assert fragment in details, f"{fragment!r} not in {details!r}"
    return details


def small_budgets() -> RpcBudgets:
    """The budgets as ``RpcBudgets.of`` builds them, but with a smaller stream request."""
    settings = Settings(
        max_concurrent_rpcs=UNARY_BUDGET,
        max_concurrent_rpcs_per_caller=UNARY_PER_CALLER,
        max_streams=STREAM_BUDGET,
        max_streams_per_caller=PER_CALLER,
        max_public_streams=PUBLIC_STREAMS,
        max_public_streams_per_host=PUBLIC_PER_HOST,
    )
    stream_request = Limit(
        "PROJECTQA_MAX_STREAM_REQUEST_BYTES", STREAM_REQUEST_BYTES, "bytes in a stream request"
    )
    return dataclasses.replace(RpcBudgets.of(settings), stream_request=stream_request)


def _user(store: SqliteStore, name: str) -> User:
    user = User(new_id("usr"), name, "", False, utcnow())
    store.create_user(user)
    return user


def _token(store: SqliteStore, user: User) -> tuple[list[tuple[str, str]], str]:
    """Call metadata carrying a new token of ``user``, and the token's id."""
    issued = issue_token(user.id)
    store.create_token(issued.token)
    return [("authorization", f"Bearer {issued.secret}")], issued.token.id


class CountingRunner:
    """The store's thread pool, counting the calls made on it (each authentication is one)."""

    def __init__(self) -> None:
        self.runner = BlockingRunner(2)
        self.calls = 0

    async def __call__(self, fn, *args):
        self.calls += 1
        return await self.runner(fn, *args)


@pytest.fixture
async def guarded(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3").open()
    alice, bob = _user(store, "alice"), _user(store, "bob")
    (alice_auth, alice_token), (alice_auth2, alice_token2) = (
        _token(store, alice),
        _token(store, alice),
    )
    bob_auth, _ = _token(store, bob)
    runner = CountingRunner()
    handlers = Handlers()
    budgets, clock = small_budgets(), FakeClock()
    server = grpc.aio.server(interceptors=[RpcGuard(store, runner, budgets, clock=clock)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "WhoAmI": grpc.unary_unary_rpc_method_handler(handlers.whoami),
                    "Count": grpc.unary_stream_rpc_method_handler(handlers.count),
                    "Hold": grpc.unary_unary_rpc_method_handler(handlers.hold),
                    "Follow": grpc.unary_stream_rpc_method_handler(handlers.follow),
                },
            )
        ]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    context = Guarded(
        channel, handlers, alice_auth, alice_auth2, bob_auth, budgets, clock, runner,
        {"alice": alice.id, "alice's token": alice_token, "alice's 2nd token": alice_token2},
    )  # fmt: skip
    yield context
    handlers.gate.set()
    for call in context.streams:
        call.cancel()
    await channel.close()
    await server.stop(0)
    runner.runner.shutdown()
    store.close()


async def test_unary_gets_the_principal(guarded) -> None:
    channel, auth = guarded.channel, guarded.alice
    reply = await channel.unary_unary(f"/{SERVICE}/WhoAmI")(b"", metadata=auth)
    assert reply == b"alice"


@pytest.mark.parametrize("method", ["WhoAmI", "Count"])
async def test_no_handler_work_without_a_token(guarded, method) -> None:
    channel, handlers = guarded.channel, guarded.handlers
    call = channel.unary_unary if method == "WhoAmI" else channel.unary_stream
    with pytest.raises(grpc.aio.AioRpcError) as err:
        result = call(f"/{SERVICE}/{method}")(b"")
        if method == "Count":
            result = [x async for x in result]
        else:
            await result
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert handlers.started == 0


async def test_domain_error_mid_stream_ends_it_with_its_status(guarded) -> None:
    channel, handlers, auth = guarded.channel, guarded.handlers, guarded.alice
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for item in channel.unary_stream(f"/{SERVICE}/Count")(b"5", metadata=auth):
            received.append(item)
    assert received == [b"0", b"1"]
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "thing 'x' not found"
    assert handlers.cleaned_up.is_set()


async def test_unexpected_error_is_internal_with_a_reference(guarded, caplog) -> None:
    channel, auth = guarded.channel, guarded.alice
    with (
        caplog.at_level(logging.INFO, logger="projectqa"),
        pytest.raises(grpc.aio.AioRpcError) as err,
    ):
        await channel.unary_unary(f"/{SERVICE}/WhoAmI")(b"crash", metadata=auth)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "s3cr3t" not in err.value.details()
    ref = err.value.details().split("ref ")[1].split(")")[0]
    logged = [r for r in caplog.records if getattr(r, "ref", None) == ref]
    assert any(r.exc_info for r in logged)
    assert any(getattr(r, "code", None) == "INTERNAL" for r in logged)


async def test_client_cancel_runs_the_stream_cleanup(guarded) -> None:
    channel, handlers, auth = guarded.channel, guarded.handlers, guarded.alice
    call = channel.unary_stream(f"/{SERVICE}/Count")(b"2", metadata=auth)
    assert await call.read() == b"0"
    call.cancel()
    await asyncio.wait_for(handlers.cleaned_up.wait(), 5)


# ------------------------------------------------------------------ budgets
async def test_a_callers_streams_past_its_budget_are_refused_and_short_calls_still_answer(
    guarded,
) -> None:
    for _ in range(PER_CALLER):
        await guarded.open_stream(guarded.alice)
    started = guarded.handlers.started

    store_calls = guarded.runner.calls

    for _ in range(3):  # a flood from one token is refused before authentication
        await guarded.refused_stream(
            guarded.alice, "PROJECTQA_MAX_STREAMS_PER_CALLER", f"at most {PER_CALLER} streams"
        )
    assert guarded.runner.calls == store_calls
    # Another token of the same user is refused once it is known whose it is.
    await guarded.refused_stream(guarded.alice2, "PROJECTQA_MAX_STREAMS_PER_CALLER")

    assert guarded.handlers.started == started  # refused before the handler ran
    assert await guarded.whoami(guarded.alice) == b"alice"
    assert await guarded.whoami(guarded.bob) == b"bob"
    await guarded.open_stream(guarded.bob)  # another caller still has room


async def test_streams_past_the_servers_budget_are_refused_before_authentication(guarded) -> None:
    for auth in (guarded.alice, guarded.alice, guarded.bob):
        await guarded.open_stream(auth)

    store_calls = guarded.runner.calls
    await guarded.refused_stream(guarded.bob, "PROJECTQA_MAX_STREAMS", f"at most {STREAM_BUDGET}")
    await guarded.refused_stream([("authorization", "Bearer nonsense")], "PROJECTQA_MAX_STREAMS")

    assert guarded.runner.calls == store_calls  # no authentication for a refused stream

    assert await guarded.whoami(guarded.alice) == b"alice"
    assert await guarded.whoami(guarded.bob) == b"bob"


async def test_closing_streams_gives_their_budget_back(guarded) -> None:
    first = await guarded.open_stream(guarded.alice)
    await guarded.open_stream(guarded.alice)
    await guarded.refused_stream(guarded.alice, "PROJECTQA_MAX_STREAMS_PER_CALLER")

    first.cancel()
    assert await eventually(lambda: guarded.budgets.streams.open == 1)
    assert guarded.budgets.streams.open_of(("user", guarded.ids["alice"])) == 1

    await guarded.open_stream(guarded.alice)
    guarded.handlers.gate.set()  # every stream ends by itself
    assert await eventually(lambda: guarded.budgets.streams.open == 0)
    for _ in range(STREAM_BUDGET):
        await guarded.open_stream(guarded.alice if _ < PER_CALLER else guarded.bob)


def hold(guarded, auth) -> asyncio.Future[bytes]:
    """A unary call that stays in flight (holding its budget) until the gate opens."""
    call = guarded.channel.unary_unary(f"/{SERVICE}/Hold")(b"", metadata=auth)
    return asyncio.ensure_future(call)


async def test_unary_calls_have_a_budget_of_their_own(guarded) -> None:
    held = [hold(guarded, guarded.alice), hold(guarded, guarded.alice2), hold(guarded, guarded.bob)]
    assert await eventually(lambda: guarded.handlers.started == UNARY_BUDGET)

    await expect_error(
        guarded.whoami(guarded.bob),
        Code.RESOURCE_EXHAUSTED,
        "PROJECTQA_MAX_CONCURRENT_RPCS",
        f"at most {UNARY_BUDGET} calls in flight",
    )
    await guarded.open_stream(guarded.bob)  # streams do not spend the unary budget

    guarded.handlers.gate.set()
    assert await asyncio.gather(*held) == [b"released"] * UNARY_BUDGET
    assert await guarded.whoami(guarded.bob) == b"bob"


async def test_a_caller_holding_its_unary_share_leaves_room_for_everybody_else(guarded) -> None:
    """Slow unary calls (a 10 s Grep) from one member cannot take every caller's slot."""
    held = [hold(guarded, guarded.alice) for _ in range(UNARY_PER_CALLER)]
    assert await eventually(lambda: guarded.handlers.started == UNARY_PER_CALLER)
    store_calls = guarded.runner.calls

    await expect_error(  # the same token: refused before authentication
        guarded.whoami(guarded.alice),
        Code.RESOURCE_EXHAUSTED,
        "PROJECTQA_MAX_CONCURRENT_RPCS_PER_CALLER",
        f"at most {UNARY_PER_CALLER} calls in flight per caller",
    )
    assert guarded.runner.calls == store_calls
    # Another token of alice's is refused once it is known whose it is.
    await expect_error(
        guarded.whoami(guarded.alice2),
        Code.RESOURCE_EXHAUSTED,
        "PROJECTQA_MAX_CONCURRENT_RPCS_PER_CALLER",
    )
    assert guarded.handlers.started == UNARY_PER_CALLER

    assert await guarded.whoami(guarded.bob) == b"bob"
    guarded.handlers.gate.set()
    assert await asyncio.gather(*held) == [b"released"] * UNARY_PER_CALLER
    assert await eventually(lambda: guarded.budgets.unary.open == 0)
    assert await guarded.whoami(guarded.alice) == b"alice"


async def test_an_oversized_stream_request_is_refused(guarded) -> None:
    await guarded.refused_stream(
        guarded.alice,
        "PROJECTQA_MAX_STREAM_REQUEST_BYTES",
        f"at most {STREAM_REQUEST_BYTES} bytes",
        request=b"x" * (STREAM_REQUEST_BYTES + 1),
    )
    assert guarded.budgets.streams.open == 0
    assert guarded.handlers.started == 0


async def open_watch(guarded, stub) -> grpc.aio.Call:
    watch = stub.Watch(health_pb2.HealthCheckRequest())
    guarded.streams.append(watch)
    await watch.read()
    return watch


async def test_public_streams_have_a_small_budget_of_their_own_by_host(guarded) -> None:
    """grpc's health Watch needs no token: its streams spend a public budget, per host."""
    stub = health_pb2_grpc.HealthStub(guarded.channel)
    watches = [await open_watch(guarded, stub) for _ in range(PUBLIC_PER_HOST)]

    refused = stub.Watch(health_pb2.HealthCheckRequest())
    await expect_error(
        refused.read(),
        Code.RESOURCE_EXHAUSTED,
        "PROJECTQA_MAX_PUBLIC_STREAMS_PER_HOST",
        f"at most {PUBLIC_PER_HOST} anonymous streams open per host",
    )
    reply = await stub.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    # Anonymous streams never count toward what members may open.
    assert guarded.budgets.streams.open == 0
    for _ in range(STREAM_BUDGET):
        await guarded.open_stream(guarded.alice if _ < PER_CALLER else guarded.bob)

    watches[0].cancel()
    assert await eventually(lambda: guarded.budgets.public_streams.open == PUBLIC_PER_HOST - 1)


async def test_public_streams_past_their_total_are_refused(guarded) -> None:
    """Many hosts together are bounded too (the others' streams stand in as tickets)."""
    elsewhere = [guarded.budgets.public_streams.ticket() for _ in range(PUBLIC_STREAMS - 1)]
    for number, ticket in enumerate(elsewhere):
        ticket.take_share(("peer", f"ipv4:192.0.2.{number}"))
        ticket.take()
    try:
        stub = health_pb2_grpc.HealthStub(guarded.channel)
        await open_watch(guarded, stub)  # this host is well within its share
        refused = stub.Watch(health_pb2.HealthCheckRequest())
        await expect_error(
            refused.read(),
            Code.RESOURCE_EXHAUSTED,
            "PROJECTQA_MAX_PUBLIC_STREAMS)",
            f"at most {PUBLIC_STREAMS} anonymous streams",
        )
        await guarded.open_stream(guarded.alice)  # members' streams are unaffected
    finally:
        for ticket in elsewhere:
            ticket.give_back()


# ------------------------------------------------------------------ refusal log
def refusal_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "rpc refused"]


async def test_refusals_are_logged_once_per_caller_per_interval(guarded, caplog) -> None:
    for _ in range(PER_CALLER):
        await guarded.open_stream(guarded.alice)
    with caplog.at_level(logging.INFO, logger="projectqa"):
        for _ in range(5):  # refused before authentication: the host stands for the caller
            await guarded.refused_stream(guarded.alice, "PROJECTQA_MAX_STREAMS_PER_CALLER")
        await guarded.refused_stream(guarded.alice2, "PROJECTQA_MAX_STREAMS_PER_CALLER")

        first = refusal_lines(caplog)
        assert [(r.user, r.token, r.limit, r.suppressed) for r in first] == [
            ("", guarded.ids["alice's token"], "PROJECTQA_MAX_STREAMS_PER_CALLER", 0),
            (
                guarded.ids["alice"],
                guarded.ids["alice's 2nd token"],
                "PROJECTQA_MAX_STREAMS_PER_CALLER",
                0,
            ),
        ]
        assert all("127.0.0.1" in r.peer for r in first)
        assert first[0].rpc == f"/{SERVICE}/Follow" and first[0].levelname == "WARNING"
        # A refused call writes no access line of its own: a storm stays out of the log.
        assert not [r for r in caplog.records if getattr(r, "code", "") == "RESOURCE_EXHAUSTED"]

        guarded.clock.now += REFUSAL_LOG_INTERVAL_S
        await guarded.refused_stream(guarded.alice, "PROJECTQA_MAX_STREAMS_PER_CALLER")

    later = refusal_lines(caplog)[len(first) :]
    assert [(r.token, r.suppressed) for r in later] == [(guarded.ids["alice's token"], 4)]
