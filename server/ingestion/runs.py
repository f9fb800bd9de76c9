"""The serving side of ingestion runs: queue, cancel, watch and trigger them.

Serving processes never execute runs; workers do (``worker.py``), in other
processes and possibly on other hosts. Everything here therefore goes through
the Store: a run is queued by inserting it, cancelled by a flag its worker
reads with its next heartbeat (a queued run is cancelled at once), and watched
by reading the record its worker publishes with every heartbeat.

Rules the Store keeps for us: at most one queued-or-running run per connector;
a worker's write never clears a cancel or re-run request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..errors import AlreadyExists, FailedPrecondition, NotFound
from ..models import Connector, IngestionRun, RunMode, RunStatus, RunTrigger, new_id, utcnow
from ..registry import PluginCatalog
from ..store import Store
from ..threads import BlockingRunner
from .prepare import CHUNK_FORMAT
from .progress import ProgressSnapshot, RateWindow

log = logging.getLogger(__name__)
TRIGGER_ATTEMPTS = 3  # a webhook racing the end of the active run tries again


class ConnectorBusy(FailedPrecondition):
    """The connector already has a queued or running run."""


def new_run(
    store: Store,
    project_id: str,
    connector: Connector,
    mode: RunMode,
    trigger: RunTrigger,
    model: str,
) -> IngestionRun:
    """A queued run of ``connector`` for workers with embedding ``model``; incremental
    from the connector's last success when there is one that chunked as this release
    does (an incremental run reads only what changed: files chunked by an older format
    would keep it — and lack, e.g., their references — until they change)."""
    cursor: dict[str, Any] = {}
    if mode is RunMode.INCREMENTAL:
        last = store.last_succeeded_run(connector.id)
        if last is None:
            mode = RunMode.FULL  # nothing to be incremental from
        elif last.chunk_format < CHUNK_FORMAT:
            mode = RunMode.FULL  # vectors stay cached: files are chunked, not embedded, again
            log.info(
                "a full run: the last one chunked by an older format",
                extra={"connector": connector.id, "format": last.chunk_format},
            )
        else:
            cursor = last.cursor
    run_id, now = new_id("run"), utcnow()
    return IngestionRun(
        id=run_id,
        project_id=project_id,
        connector_id=connector.id,
        mode=mode,
        trigger=trigger,
        status=RunStatus.QUEUED,
        phase="queued",
        created_at=now,
        updated_at=now,
        scan_id=run_id,
        cursor=cursor,
        model=model,
        chunk_format=CHUNK_FORMAT,
    )


class RunQueue:
    """Queues runs for workers with ``model``, cancels and watches them."""

    def __init__(
        self,
        store: Store,
        catalog: PluginCatalog,
        run_blocking: BlockingRunner,
        model: str,
        *,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._rb = run_blocking
        self._model = model
        self._queued = queued  # tells a worker in this process to look now

    async def start_runs(
        self, project_id: str, connectors: list[Connector], mode: RunMode, trigger: RunTrigger
    ) -> list[IngestionRun]:
        runs = await self._rb(self._create_runs, project_id, connectors, mode, trigger)
        self._queued()
        return runs

    async def trigger(self, connector: Connector, reason: str) -> str | None:
        """An incremental run for a webhook; None when folded into the active run."""
        for _ in range(TRIGGER_ATTEMPTS):
            try:
                [run] = await self.start_runs(
                    connector.project_id, [connector], RunMode.INCREMENTAL, RunTrigger.WEBHOOK
                )
            except ConnectorBusy:
                # Its worker queues one more run when it ends: nothing the webhook
                # announced is missed. False: that run just ended; queue ours again.
                if await self._rb(self._store.request_rerun, connector.id):
                    log.info(
                        "webhook folded into the active run", extra={"connector": connector.id}
                    )
                    return None
                continue
            log.info("webhook queued a run", extra={"run": run.id, "reason": reason})
            return run.id
        raise ConnectorBusy(f"connector {connector.name!r} keeps starting runs; try again")

    def _create_runs(
        self, project_id: str, connectors: list[Connector], mode: RunMode, trigger: RunTrigger
    ) -> list[IngestionRun]:
        for connector in connectors:
            if self._catalog.connector_type(connector.type) is None:
                raise FailedPrecondition(
                    f"connector {connector.name!r} has type {connector.type!r}, "
                    "which no loaded plugin provides"
                )
        created = []
        for connector in connectors:
            run = new_run(self._store, project_id, connector, mode, trigger, self._model)
            try:
                self._store.create_run(run)
            except AlreadyExists:
                active = self._store.active_run(connector_id=connector.id)
                which = f" ({active.id}, {active.status})" if active else ""
                raise ConnectorBusy(
                    f"connector {connector.name!r} already has a run in progress{which}"
                ) from None
            created.append(run)
        return created

    async def cancel(self, run: IngestionRun) -> IngestionRun:
        if not run.status.active:
            raise FailedPrecondition(f"run {run.id} already ended ({run.status})")
        stored = await self._rb(self._store.request_cancel, run.id, utcnow())
        if stored is None:
            raise FailedPrecondition(f"run {run.id} no longer exists")
        if not stored.status.active and stored.status is not RunStatus.CANCELLED:
            raise FailedPrecondition(f"run {run.id} already ended ({stored.status})")
        return stored

    async def watch(self, run: IngestionRun, interval: float) -> AsyncIterator[ProgressSnapshot]:
        """Snapshots of ``run`` about every ``interval`` seconds, the last one final."""
        rates = RateWindow()
        while True:
            stored = await self._rb(self._store.get_run, run.id)
            if stored is None:  # deleted with its connector or project meanwhile
                raise NotFound(f"run {run.id!r} not found")
            run = stored
            snapshot = rates.snapshot(run)
            yield snapshot
            if not run.status.active:
                return
            await asyncio.sleep(interval)
