"""Ingestion: runs that read connectors, chunk, embed, write the Store and publish indexes.

A serving process owns an ``IngestionSystem``: the run queue, the operations
behind IngestionService, the webhook endpoint, the index manager queries read,
the embedder of queries, and (by default) the ingestion worker it starts as a
child process. Workers (``worker_for``) execute runs: in that child, in
``projectqa worker`` processes, or in a thread of the server (tests).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from ..access import Access
from ..admin import DerivedData
from ..config import Settings
from ..embedding import Embedder, EmbeddingSetup, ingestion_embedder, shared_embedder
from ..index import IndexManager
from ..index.manager import index_manager_for
from ..registry import PluginCatalog
from ..store import Store
from ..threads import BlockingRunner
from ..webhooks import WebhookServer
from .embedded import EmbeddedWorker
from .ops import IngestionOps
from .pipeline import IngestionPipeline
from .runs import RunQueue
from .worker import Worker

log = logging.getLogger(__name__)


class WebhookBindError(Exception):
    """The webhook endpoint's address cannot be bound."""


def index_manager(settings: Settings, store: Store, model: str) -> IndexManager:
    """The index manager of a server or worker: generations published where every
    process of the deployment finds them (see index/publish.py)."""
    return index_manager_for(
        store,
        settings.index_dir,
        model,
        exact_max=settings.dense_exact_max,
        publication=settings.index_publication,
    )


def worker_for(
    settings: Settings, store: Store, catalog: PluginCatalog, runner: BlockingRunner
) -> Worker:
    """An ingestion worker with its own embedder and index manager."""
    embedder = ingestion_embedder(EmbeddingSetup.from_settings(settings))
    indexes = index_manager(settings, store, embedder.name)
    pipeline = IngestionPipeline(
        store,
        embedder,
        indexes,
        settings.sources_dir,
        data_dir=settings.data_dir,
        local_roots=settings.local_roots or (),
    )
    return Worker(
        store,
        catalog,
        pipeline,
        indexes,
        runner,
        model=embedder.name,
        slots=settings.ingestion_workers,
        lease_s=settings.run_lease_s,
    )


@dataclass
class IngestionSystem:
    ops: IngestionOps
    runs: RunQueue
    indexes: IndexManager
    embedder: Embedder  # of queries
    webhooks: WebhookServer | None
    worker: Worker | None = None  # embedded_worker "thread"
    worker_process: EmbeddedWorker | None = None  # embedded_worker "process"
    webhook_port: int | None = None

    @classmethod
    def build(
        cls, settings: Settings, store: Store, catalog: PluginCatalog, runner: BlockingRunner
    ) -> IngestionSystem:
        embedder = shared_embedder(EmbeddingSetup.from_settings(settings))
        indexes = index_manager(settings, store, embedder.name)
        worker = process = None
        if settings.embedded_worker == "thread":
            worker = worker_for(settings, store, catalog, runner)
        elif settings.embedded_worker == "process":
            process = EmbeddedWorker(settings)
        queued = worker.poke if worker is not None else lambda: None
        runs = RunQueue(store, catalog, runner, embedder.name, queued=queued)
        ops = IngestionOps(store, Access(store), runs, indexes, runner)
        webhooks = None
        if settings.webhook_address:
            window = settings.webhook_replay_window_s
            webhooks = WebhookServer(store, runs.trigger, runner, replay_window_s=window)
        return cls(ops, runs, indexes, embedder, webhooks, worker, process)

    def derived_data(self, settings: Settings) -> DerivedData:
        """What AdminService must drop when a project or connector is deleted."""

        def forget_connector(connector_id: str) -> None:
            shutil.rmtree(settings.sources_dir / connector_id, ignore_errors=True)

        return DerivedData(self.indexes.drop, forget_connector)

    async def start(self, settings: Settings) -> None:
        if self.worker is not None:
            await self.worker.start()
        if self.worker_process is not None:
            await self.worker_process.start()
        if self.webhooks is not None and settings.webhook_address:
            host, _, port = settings.webhook_address.rpartition(":")
            try:
                self.webhook_port = await self.webhooks.start(host.strip("[]"), int(port))
            except OSError as exc:
                raise WebhookBindError(
                    f"cannot listen for webhooks on {settings.webhook_address}: {exc}"
                ) from None
            log.info("webhooks listening", extra={"address": f"{host}:{self.webhook_port}"})

    async def stop(self, grace: float) -> None:
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.worker is not None:
            await self.worker.stop(grace)
        if self.worker_process is not None:
            await self.worker_process.stop(grace)
