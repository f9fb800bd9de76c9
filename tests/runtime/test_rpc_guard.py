"""RpcGuard on a real grpc.aio server with hand-made unary and streaming methods."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from projectqa.server.auth import issue_token
from projectqa.server.errors import NotFound
from projectqa.server.interceptors import RpcGuard, current_principal
from projectqa.server.models import User, new_id, utcnow
from projectqa.server.store import SqliteStore
from projectqa.server.threads import BlockingRunner

SERVICE = "test.Guarded"


class Handlers:
    def __init__(self) -> None:
        self.started = 0
        self.cleaned_up = asyncio.Event()

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


@pytest.fixture
async def guarded(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3").open()
    user = User(new_id("usr"), "alice", "", False, utcnow())
    store.create_user(user)
    issued = issue_token(user.id)
    store.create_token(issued.token)
    runner = BlockingRunner(2)
    handlers = Handlers()
    server = grpc.aio.server(interceptors=[RpcGuard(store, runner)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "WhoAmI": grpc.unary_unary_rpc_method_handler(handlers.whoami),
                    "Count": grpc.unary_stream_rpc_method_handler(handlers.count),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel, handlers, [("authorization", f"Bearer {issued.secret}")]
    await channel.close()
    await server.stop(0)
    runner.shutdown()
    store.close()


async def test_unary_gets_the_principal(guarded) -> None:
    channel, _, auth = guarded
    reply = await channel.unary_unary(f"/{SERVICE}/WhoAmI")(b"", metadata=auth)
    assert reply == b"alice"


@pytest.mark.parametrize("method", ["WhoAmI", "Count"])
async def test_no_handler_work_without_a_token(guarded, method) -> None:
    channel, handlers, _ = guarded
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
    channel, handlers, auth = guarded
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for item in channel.unary_stream(f"/{SERVICE}/Count")(b"5", metadata=auth):
            received.append(item)
    assert received == [b"0", b"1"]
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "thing 'x' not found"
    assert handlers.cleaned_up.is_set()


async def test_unexpected_error_is_internal_with_a_reference(guarded, caplog) -> None:
    channel, _, auth = guarded
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
    channel, handlers, auth = guarded
    call = channel.unary_stream(f"/{SERVICE}/Count")(b"2", metadata=auth)
    assert await call.read() == b"0"
    call.cancel()
    await asyncio.wait_for(handlers.cleaned_up.wait(), 5)
