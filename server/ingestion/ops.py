"""Ingestion operations: the domain behind IngestionService, free of any transport.

Starting, cancelling and rebuilding need the project admin role; reading runs
needs membership. A run of a project the caller cannot see answers exactly
like a missing one.
"""

from __future__ import annotations

import builtins  # `list` in annotations after a method named list means the method
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..access import Access
from ..auth import Principal
from ..errors import InvalidArgument, NotFound
from ..index import IndexManager
from ..models import Connector, IngestionRun, ProjectRole, RunMode, RunTrigger
from ..paging import page_of, page_request
from ..store import Store
from ..threads import BlockingRunner
from .progress import ProgressSnapshot
from .runs import RunQueue

MAX_WATCH_INTERVAL_S = 60.0
DEFAULT_WATCH_INTERVAL_S = 0.5


@dataclass(frozen=True)
class RebuildReport:
    generation: int
    chunks: int
    vectors: int
    dense_kind: str
    seconds: float


class IngestionOps:
    def __init__(
        self,
        store: Store,
        access: Access,
        runs: RunQueue,
        indexes: IndexManager,
        run_blocking: BlockingRunner,
    ) -> None:
        self._store = store
        self._access = access
        self._runs = runs
        self._indexes = indexes
        self._rb = run_blocking

    async def start(
        self, principal: Principal, project_ref: str, connector_ref: str, mode: RunMode
    ) -> list[IngestionRun]:
        project_id, connectors = await self._rb(
            self._connectors_to_run, principal, project_ref, connector_ref
        )
        return await self._runs.start_runs(project_id, connectors, mode, RunTrigger.MANUAL)

    async def get(self, principal: Principal, run_id: str) -> IngestionRun:
        return await self._rb(self._visible_run, principal, run_id, ProjectRole.MEMBER)

    async def list(
        self,
        principal: Principal,
        project_ref: str,
        connector_ref: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[IngestionRun], str]:
        return await self._rb(
            self._list, principal, project_ref, connector_ref, page_size, page_token
        )

    async def cancel(self, principal: Principal, run_id: str) -> IngestionRun:
        run = await self._rb(self._visible_run, principal, run_id, ProjectRole.ADMIN)
        return await self._runs.cancel(run)

    async def watch(
        self, principal: Principal, run_id: str, interval: float
    ) -> AsyncIterator[ProgressSnapshot]:
        if interval < 0 or interval > MAX_WATCH_INTERVAL_S:
            raise InvalidArgument(
                "interval_seconds", f"must be between 0 and {MAX_WATCH_INTERVAL_S:g}"
            )
        run = await self._rb(self._visible_run, principal, run_id, ProjectRole.MEMBER)
        async for snapshot in self._runs.watch(run, interval or DEFAULT_WATCH_INTERVAL_S):
            yield snapshot

    async def rebuild(self, principal: Principal, project_ref: str) -> RebuildReport:
        project = await self._rb(self._access.project, principal, project_ref, ProjectRole.ADMIN)
        started = time.perf_counter()
        manifest = await self._rb(self._indexes.rebuild, project.id)
        return RebuildReport(
            generation=manifest.generation,
            chunks=manifest.chunks,
            vectors=manifest.vectors,
            dense_kind=manifest.dense_kind,
            seconds=time.perf_counter() - started,
        )

    # ------------------------------------------------------------- blocking
    def _connectors_to_run(
        self, principal: Principal, project_ref: str, connector_ref: str
    ) -> tuple[str, builtins.list[Connector]]:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        if connector_ref:
            return project.id, [self._access.connector(project.id, connector_ref)]
        connectors = self._access.connectors(project.id)
        if not connectors:
            raise InvalidArgument(
                "project", f"project {project.slug!r} has no connectors; create one first"
            )
        return project.id, connectors

    def _list(
        self,
        principal: Principal,
        project_ref: str,
        connector_ref: str,
        page_size: int,
        page_token: str,
    ) -> tuple[builtins.list[IngestionRun], str]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        connector_id = (
            self._access.connector(project.id, connector_ref).id if connector_ref else None
        )
        listing = f"runs:{project.id}:{connector_id or ''}"
        request = page_request(listing, page_size, page_token)
        runs = self._store.list_runs(project.id, request, connector_id)
        return page_of(listing, runs, request, key=lambda r: r.id)

    def _visible_run(self, principal: Principal, run_id: str, role: ProjectRole) -> IngestionRun:
        if not run_id:
            raise InvalidArgument("run_id", "must not be empty")
        run = self._store.get_run(run_id)
        if run is None or not self._access.sees(principal, run.project_id, role):
            raise NotFound(f"run {run_id!r} not found")
        return run
