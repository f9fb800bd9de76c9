"""Server assembly: ``create_server(settings) -> (server, port)`` and ``serve()``.

``create_server`` opens the store, loads plugins, wires the services behind the
``RpcGuard`` interceptor, binds and starts. ``serve`` adds signal handling and
graceful shutdown; ``main`` adds settings loading and exit codes for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from projectqa.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
    tools_pb2,
    tools_pb2_grpc,
)

from .access import Access
from .admin import AdminOps
from .admin.local_paths import LocalPathPolicy
from .admin.server_info import ServerFacts
from .auth import bootstrap_admin
from .chat.agent import Agent, TurnLimits
from .chat.ops import ChatOps
from .config import Settings, settings_for_command
from .embedding import Embedder, EmbedderUnavailable
from .errors import StoreError, StoreUnavailable
from .ingestion import IngestionSystem, WebhookBindError
from .interceptors import RpcGuard
from .limits import RpcBudgets, RunGate, grpc_backstop
from .llm.client import close_clients
from .llm.resolve import ProfileResolver, environment_endpoint
from .logs import configure_logging
from .plugin_host import load_plugins
from .registry import PluginCatalog
from .retrieval.files import FileSearch
from .retrieval.history import history_prior
from .retrieval.ops import RetrievalOps
from .retrieval.search import Searcher
from .retrieval.structure import structure_reranker
from .services.admin import AdminServicer
from .services.chat import ChatServicer
from .services.ingestion import IngestionServicer
from .services.retrieval import RetrievalServicer
from .services.tools import ToolsServicer
from .store import Store
from .store.factory import open_store
from .threads import BlockingRunner
from .tools.ops import ToolsOps

log = logging.getLogger("projectqa.server")
SERVICE_NAMES = (
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    ingestion_pb2.DESCRIPTOR.services_by_name["IngestionService"].full_name,
    retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name,
    tools_pb2.DESCRIPTOR.services_by_name["ToolsService"].full_name,
    chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name,
)
HEALTH_INTERVAL_S = 5.0
COMPUTE_THREADS = 2  # retrieval waits on one model lock anyway; the cores do the work


class StartupError(Exception):
    """The server cannot start; the message says why."""


class ProjectQAServer:
    """A started grpc.aio server plus what it owns (store, threads, health monitor)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        run_blocking: BlockingRunner,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        ingestion: IngestionSystem,
        budgets: RpcBudgets,
    ) -> None:
        self.settings = settings
        self.store = store
        self.budgets = budgets  # calls in flight: what the RpcGuard admits
        self.grep_gate = RunGate.for_grep(
            settings.grep_max_runs, settings.grep_max_runs_per_project
        )
        self.ingestion = ingestion
        self.grpc = server
        self.health = health_servicer
        self.run_blocking = run_blocking
        # Retrieval and extractive answers for chat: CPU work on threads of its own, so
        # store calls (auth, every RPC) never queue behind embeddings under load.
        self.compute = BlockingRunner(COMPUTE_THREADS, "projectqa-compute")
        self.admin_token_path: Path | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._ready = False

    async def start_monitor(self, interval: float = HEALTH_INTERVAL_S) -> None:
        """Check the store now (a broken set-up fails the start), then every ``interval`` s."""
        await self._check_store(fail_fast=True)
        self._monitor = asyncio.create_task(self._watch_store(interval), name="store-health")

    async def _watch_store(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._check_store(fail_fast=False)

    async def _check_store(self, fail_fast: bool) -> None:
        """Prepare the store once it answers; mirror its reachability in the health service."""
        try:
            if not self._ready:
                self.admin_token_path = await self.run_blocking(
                    _prepare_store, self.store, self.settings
                )
                self._ready = True
            else:
                await self.run_blocking(self.store.ping)
            status: int = health_pb2.HealthCheckResponse.SERVING
        except StoreUnavailable as exc:
            log.warning("store unreachable", extra={"reason": str(exc)})
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        except Exception:
            if fail_fast:
                raise
            log.exception("store check failed")  # keep watching: it may recover
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, drain RPCs for ``grace`` seconds, then release everything."""
        await self.health.enter_graceful_shutdown()
        if self._monitor:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._monitor
        grace = self.settings.shutdown_grace_s if grace is None else grace
        await self.ingestion.stop(grace)
        await self.grpc.stop(grace)
        await close_clients()  # the LLM connection pools of this event loop
        await self._release()

    async def _release(self) -> None:
        # Waiting for store threads blocks; do it off the event loop.
        await asyncio.to_thread(self.run_blocking.shutdown)
        await asyncio.to_thread(self.compute.shutdown)
        self.store.close()

    async def wait_for_termination(self) -> None:
        await self.grpc.wait_for_termination()


def _prepare_store(store: Store, settings: Settings) -> Path | None:
    store.prepare()
    return bootstrap_admin(store, settings.admin_token_path)


def grpc_options(settings: Settings) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", settings.keepalive_time_s * 1000),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_s * 1000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Accept client keepalive pings every 10 s or slower without GOAWAY.
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        # Two servers must never share a port silently.
        ("grpc.so_reuseport", 0),
    ]


async def create_server(
    settings: Settings,
    *,
    extra_plugins: Iterable[tuple[str, object]] = (),
    store: Store | None = None,
) -> tuple[ProjectQAServer, int]:
    """Build, bind and start a server; return it and the bound port.

    Raises ``StoreError`` when the store cannot be opened and ``StartupError``
    when the address cannot be bound. An unreachable MongoDB is not fatal: the
    server starts NOT_SERVING and becomes SERVING once the store answers.
    ``extra_plugins`` and ``store`` let tests add plugins and pick a backend (with the
    ingestion worker in a thread: a child process loads neither).
    """
    if store is not None and settings.embedded_worker == "process":
        # The child process opens the store the settings name, not this object.
        raise ValueError("a store passed in needs embedded_worker 'thread' or 'off'")
    store = store or open_store(settings)
    runner = BlockingRunner(settings.store_threads)
    plugins = load_plugins(settings.plugins, extra_plugins)
    budgets = RpcBudgets.of(settings)
    grpc_server = grpc.aio.server(
        interceptors=[RpcGuard(store, runner, budgets)],
        options=grpc_options(settings),
        # The guard enforces the budgets; grpc's own limit is only a backstop above them.
        maximum_concurrent_rpcs=grpc_backstop(settings),
    )
    health_servicer = health.aio.HealthServicer()
    ingestion = IngestionSystem.build(settings, store, plugins.catalog, runner)
    local_paths = LocalPathPolicy.of(settings.local_roots, settings.data_dir)
    server = ProjectQAServer(
        settings, store, runner, grpc_server, health_servicer, ingestion, budgets
    )
    llm = _llm_resolver(settings, store)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(
            AdminOps.build(
                store,
                plugins.catalog,
                local_paths,
                ingestion.derived_data(settings),
                script_programs=settings.script_tool_programs,
                plugins=plugins,
            ),
            runner,
            server_facts=_server_facts(store, ingestion.embedder.name, llm),
        ),
        grpc_server,
    )
    ingestion_pb2_grpc.add_IngestionServiceServicer_to_server(
        IngestionServicer(ingestion.ops), grpc_server
    )
    _add_query_services(
        grpc_server, settings, store, plugins.catalog, ingestion, runner, server, llm
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    if settings.reflection:
        names = (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, grpc_server)
    try:
        port = _bind(grpc_server, settings)
        await grpc_server.start()
        await server.start_monitor(settings.health_interval_s)
        await ingestion.start(settings)
    except BaseException as exc:
        await ingestion.stop(0)
        await grpc_server.stop(0)
        await server._release()
        if isinstance(exc, WebhookBindError):
            raise StartupError(str(exc)) from None
        raise
    return server, port


def _add_query_services(
    grpc_server: grpc.aio.Server,
    settings: Settings,
    store: Store,
    catalog: PluginCatalog,
    ingestion: IngestionSystem,
    runner: BlockingRunner,
    server: ProjectQAServer,
    llm: ProfileResolver,
) -> None:
    """RetrievalService, ToolsService and ChatService, over the indexes ingestion maintains."""
    access = Access(store)
    searcher = Searcher(store, ingestion.indexes, ingestion.embedder)
    retrieval = RetrievalOps(store, access, searcher, runner)
    tools = ToolsOps(
        store,
        access,
        catalog,
        retrieval,
        settings.sources_dir,
        runner,
        settings.tool_timeout_s,
        data_dir=settings.data_dir,
        grep_gate=server.grep_gate,
        local_roots=settings.local_roots or (),
    )
    retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(
        RetrievalServicer(retrieval, _file_search(store, retrieval)), grpc_server
    )
    tools_pb2_grpc.add_ToolsServiceServicer_to_server(ToolsServicer(tools), grpc_server)
    chat = _chat_ops(
        settings, store, access, retrieval, tools, ingestion, runner, server.compute, llm
    )
    chat_pb2_grpc.add_ChatServiceServicer_to_server(ChatServicer(chat), grpc_server)


def _server_facts(store: Store, embedder: str, llm: ProfileResolver) -> ServerFacts:
    """What GetServerInfo reports; the process started about now."""
    return ServerFacts(
        store, embedder=embedder, started_at=datetime.now(UTC), default_llm_model=llm.global_model
    )


def _llm_resolver(settings: Settings, store: Store) -> ProfileResolver:
    """Which LLM a chat uses: its profile, its project's, the global default, else the
    environment's (``OPENAI_API_KEY``, ``OLLAMA_HOST``, …)."""
    environment = environment_endpoint(
        os.environ, settings.llm_model, settings.llm_timeout_s, settings.chat_context_tokens
    )
    if environment is not None:
        environment = dataclasses.replace(environment, retries=settings.llm_retries)
        log.info("LLM from the environment: %s", environment.where)
    return ProfileResolver(
        store, environment, settings.chat_context_tokens, retries=settings.llm_retries
    )


def _file_search(store: Store, retrieval: RetrievalOps) -> FileSearch:
    """File-level search with history (docs/HISTORY.md) and structure (docs/STRUCTURE.md)."""
    structure = structure_reranker(store, versions=retrieval.versions)
    return FileSearch(retrieval, priors=[history_prior(store)], rerankers=[structure])


def _chat_ops(
    settings: Settings,
    store: Store,
    access: Access,
    retrieval: RetrievalOps,
    tools: ToolsOps,
    ingestion: IngestionSystem,
    runner: BlockingRunner,
    compute: BlockingRunner,
    resolver: ProfileResolver,
) -> ChatOps:
    limits = TurnLimits(
        settings.chat_max_steps, settings.chat_max_turn_tokens, settings.chat_turn_timeout_s
    )
    agent = Agent(retrieval, tools, compute, limits, embed=ingestion.embedder.encode)
    return ChatOps(
        store,
        access,
        tools,
        agent,
        resolver,
        runner,
        max_message_chars=settings.chat_max_message_chars,
        turn_timeout_s=settings.chat_turn_timeout_s,
        context_tokens=settings.chat_context_tokens,
    )


def _bind(grpc_server: grpc.aio.Server, settings: Settings) -> int:
    address = settings.listen_address
    try:
        if settings.tls_cert_file and settings.tls_key_file:
            credentials = grpc.ssl_server_credentials(
                [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())]
            )
            port = grpc_server.add_secure_port(address, credentials)
        else:
            port = grpc_server.add_insecure_port(address)
    except (OSError, RuntimeError) as exc:
        raise StartupError(f"cannot listen on {address}: {exc}") from None
    if not port:
        raise StartupError(f"cannot listen on {address}: address in use or not available")
    return port


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before "listening": a signal may follow at once
        loop.add_signal_handler(sig, stopping.set)
    server, port = await create_server(settings)
    _warm_up_queries(server.ingestion.embedder)
    host = settings.listen_address.rpartition(":")[0]
    store = "MongoDB" if settings.mongodb_uri else f"SQLite at {settings.sqlite_path}"
    print(f"ProjectQA listening on {host}:{port} (store: {store})", flush=True)
    if server.ingestion.webhook_port is not None:
        webhook_host = (settings.webhook_address or "").rpartition(":")[0]
        print(f"Webhooks on http://{webhook_host}:{server.ingestion.webhook_port}/", flush=True)
    if server.admin_token_path:
        print(
            f"First start: a global-admin token was written to {server.admin_token_path} "
            "(mode 0600); the projectqa CLI uses it by default.",
            flush=True,
        )
    await stopping.wait()
    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    await server.stop()


def _warm_up_queries(embedder: Embedder) -> None:
    """Load the query embedder now, in the background, instead of at the first Search: on a
    fresh machine that is the int8 model's build (~20 s), which the first question would
    otherwise wait for while keyword search is long ready."""

    def load() -> None:
        try:
            embedder.warm_up()
        except Exception:  # the first Search reports it, with its reason
            log.warning("the query embedder could not be loaded at start", exc_info=True)

    threading.Thread(target=load, name="projectqa-warm-up", daemon=True).start()


def main(config_file: Path | None = None) -> int:
    """Entry point of ``projectqa serve``: returns the process exit code."""
    settings = settings_for_command(config_file)
    if settings is None:
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except (StoreError, StartupError, EmbedderUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
