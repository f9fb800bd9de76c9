"""The server runtime in-process: health, shutdown, options, store outages."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import mongomock
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from projectqa.server.app import StartupError, create_server
from projectqa.server.auth import authenticate, bootstrap_admin
from projectqa.server.config import Settings
from projectqa.server.store import MongoStore, SqliteStore
from projectqa.v1 import admin_pb2, admin_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path, listen_address="127.0.0.1:0", **overrides)


async def _health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return reply.status


async def test_health_serving_without_token_then_not_serving_on_shutdown(tmp_path) -> None:
    server, port = await create_server(_settings(tmp_path))
    assert await _health(port) == SERVING
    assert await _health(port, "projectqa.v1.AdminService") == SERVING
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert (await watch.read()).status == SERVING
        stopping = asyncio.create_task(server.stop(grace=1))
        assert (await asyncio.wait_for(watch.read(), 5)).status == NOT_SERVING
        await stopping


async def test_bootstrap_token_file_is_private_and_only_created_once(tmp_path) -> None:
    server, _ = await create_server(_settings(tmp_path))
    token_file = tmp_path / "admin.token"
    assert server.admin_token_path == token_file
    assert token_file.stat().st_mode & 0o777 == 0o600
    first = token_file.read_text()
    await server.stop(0)
    server, _ = await create_server(_settings(tmp_path))
    assert server.admin_token_path is None
    assert token_file.read_text() == first
    await server.stop(0)


async def test_reflection_only_when_enabled(tmp_path) -> None:
    async def services(port: int) -> list[str]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for reply in stub.ServerReflectionInfo(iter([request])):
                return [s.name for s in reply.list_services_response.service]
        return []

    server, port = await create_server(_settings(tmp_path))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await services(port)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    await server.stop(0)

    server, port = await create_server(_settings(tmp_path / "r", reflection=True))
    assert "projectqa.v1.AdminService" in await services(port)
    await server.stop(0)


async def test_port_in_use_is_a_clear_startup_error(tmp_path) -> None:
    first, port = await create_server(_settings(tmp_path))
    with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}"):
        await create_server(Settings(data_dir=tmp_path / "b", listen_address=f"127.0.0.1:{port}"))
    await first.stop(0)


async def test_unreachable_mongodb_not_serving_and_calls_unavailable(tmp_path) -> None:
    settings = _settings(
        tmp_path,
        mongodb_uri="mongodb://127.0.0.1:1/",
        mongodb_timeout_ms=200,
        health_interval_s=0.2,
    )
    server, port = await create_server(settings)
    assert await _health(port) == NOT_SERVING
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListProjects(
                admin_pb2.ListProjectsRequest(), metadata=[("authorization", "Bearer tok_x.y")]
            )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "127.0.0.1:1" not in err.value.details()
    assert not (tmp_path / "admin.token").exists()  # nothing half-written
    await server.stop(0)


async def test_mongodb_backend_serves_admin_calls(tmp_path) -> None:
    store = MongoStore(mongomock.MongoClient(tz_aware=True), "projectqa_runtime")
    server, port = await create_server(_settings(tmp_path), store=store)
    token = (tmp_path / "admin.token").read_text().strip()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        md = [("authorization", f"Bearer {token}")]
        await stub.CreateProject(admin_pb2.CreateProjectRequest(slug="m", name="M"), metadata=md)
        reply = await stub.ListProjects(admin_pb2.ListProjectsRequest(), metadata=md)
    assert [p.slug for p in reply.projects] == ["m"]
    await server.stop(0)


async def test_unexpected_store_failure_means_not_serving_and_stop_still_works(tmp_path) -> None:
    server, port = await create_server(_settings(tmp_path, health_interval_s=0.05))
    real_ping, broken = server.store.ping, [True]

    def broken_ping() -> None:
        # Broken until the test saw NOT_SERVING: a fixed number of failed pings would be over
        # in 0.1 s, before a health call on a loaded machine could see them.
        if broken[0]:
            raise RuntimeError("disk on fire")
        real_ping()

    server.store.ping = broken_ping
    for _ in range(500):
        if await _health(port) == NOT_SERVING:
            break
        await asyncio.sleep(0.02)
    assert await _health(port) == NOT_SERVING
    broken[0] = False
    for _ in range(500):  # the monitor keeps watching and sees the recovery
        if await _health(port) == SERVING:
            break
        await asyncio.sleep(0.02)
    assert await _health(port) == SERVING
    await server.stop(0)


def test_concurrent_first_starts_on_one_data_dir_leave_one_working_token(tmp_path) -> None:
    """Two servers bootstrapping one data dir at once: the token file must stay usable."""
    token_path = tmp_path / "admin.token"
    stores = [SqliteStore(tmp_path / "db.sqlite3").open() for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def start(store: SqliteStore) -> Path | None:
        barrier.wait()
        return bootstrap_admin(store, token_path)

    with ThreadPoolExecutor(len(stores)) as pool:
        created = [p for p in pool.map(start, stores) if p is not None]
    assert len(created) == 1
    principal = authenticate(stores[0], f"Bearer {token_path.read_text().strip()}")
    assert principal.user.global_admin
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".admin.token")] == []
    for store in stores:
        store.close()
