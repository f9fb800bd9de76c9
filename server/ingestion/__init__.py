"""Ingestion: runs that read connectors, chunk, embed, write the Store and rebuild indexes.

``IngestionSystem.build`` wires the parts one server owns: the embedder (one per
process), the index manager, the pipeline, the run manager, the operations
behind IngestionService, and the webhook endpoint when it is configured.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from ..access import Access
from ..admin import DerivedData
from ..config import Settings
from ..embedding import Embedder, shared_embedder
from ..index import IndexManager
from ..registry import PluginCatalog
from ..store import Store
from ..threads import BlockingRunner
from ..webhooks import WebhookServer
from .ops import IngestionOps
from .pipeline import IngestionPipeline
from .runs import RunManager

log = logging.getLogger(__name__)


class WebhookBindError(Exception):
    """The webhook endpoint's address cannot be bound."""


@dataclass
class IngestionSystem:
    ops: IngestionOps
    runs: RunManager
    indexes: IndexManager
    embedder: Embedder
    webhooks: WebhookServer | None
    webhook_port: int | None = None

    @classmethod
    def build(
        cls, settings: Settings, store: Store, catalog: PluginCatalog, runner: BlockingRunner
    ) -> IngestionSystem:
        embedder = shared_embedder(settings.embedding_model)
        indexes = IndexManager(
            store, settings.index_dir, embedder.name, exact_max=settings.dense_exact_max
        )
        pipeline = IngestionPipeline(
            store,
            embedder,
            indexes,
            settings.sources_dir,
            data_dir=settings.data_dir,
            local_roots=settings.local_roots or (),
        )
        runs = RunManager(store, catalog, pipeline, runner, workers=settings.ingestion_workers)
        ops = IngestionOps(store, Access(store), runs, indexes, runner)
        webhooks = None
        if settings.webhook_address:
            window = settings.webhook_replay_window_s
            webhooks = WebhookServer(store, runs.trigger, runner, replay_window_s=window)
        return cls(ops, runs, indexes, embedder, webhooks)

    def derived_data(self, settings: Settings) -> DerivedData:
        """What AdminService must drop when a project or connector is deleted."""

        def forget_connector(connector_id: str) -> None:
            shutil.rmtree(settings.sources_dir / connector_id, ignore_errors=True)

        return DerivedData(self.indexes.drop, forget_connector)

    async def start(self, settings: Settings) -> None:
        await self.runs.start()
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
        await self.runs.stop(grace)
