"""The run manager: queues runs, executes them on worker threads, heartbeats,
cancels, recovers runs a dead server left behind, and feeds watchers.

Rules it keeps:
- at most one queued-or-running run per connector (the Store enforces it);
- a run that is running has a live heartbeat (``updated_at``); a run whose
  owner died is marked failed ("interrupted") and a RESUME run continues from
  its last checkpoint, with the same scan, so nothing finished is redone;
- a server that shuts down gracefully hands its runs over the same way;
- a run's end is saved before the run stops being live here: while the Store
  refuses the write (a full disk, an outage) the save is retried and every view
  of this server shows how the run ended, so the Store, GetIngestionRun and
  ListIngestionRuns never tell different stories once the write lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import traceback
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from ..errors import AlreadyExists, FailedPrecondition, StoreUnavailable
from ..models import (
    Connector,
    IngestionRun,
    RunMode,
    RunStatus,
    RunTrigger,
    new_id,
    utcnow,
)
from ..redaction import Redactor
from ..registry import ConnectorType, PluginCatalog
from ..sources import SourceError
from ..store import Store
from ..threads import BlockingRunner
from .owner import owner_is_dead, this_owner
from .pipeline import IndexNotWritten, IngestionPipeline, RunCancelled
from .progress import Counts, ProgressSnapshot, RunProgress

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0
LEASE_S = 60.0  # a run of another host with an older heartbeat is taken over
END_RETRY_S = 1.0  # first wait before saving a run's end again; doubles up to the next
END_RETRY_MAX_S = 30.0


@dataclass
class _LiveRun:
    progress: RunProgress
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    save_lock: threading.Lock = field(default_factory=threading.Lock)


class RunManager:
    def __init__(
        self,
        store: Store,
        catalog: PluginCatalog,
        pipeline: IngestionPipeline,
        run_blocking: BlockingRunner,
        *,
        workers: int = 1,
        lease_s: float = LEASE_S,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._pipeline = pipeline
        self._rb = run_blocking
        self._lease = timedelta(seconds=lease_s)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="projectqa-ingest")
        self._workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._live: dict[str, _LiveRun] = {}
        self._rerun: set[str] = set()  # connectors with a coalesced webhook trigger
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stopped = asyncio.Event()  # set with _stopping: ends waits between retries

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        try:
            await self.recover()
        except Exception:  # an unreachable store: the reaper tries again
            log.warning("run recovery at start-up failed", exc_info=True)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._worker()) for _ in range(self._workers)]
        self._tasks.append(loop.create_task(self._reaper()))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop workers; runs in flight end as interrupted and resume at the next start."""
        self._stopping = True
        self._stopped.set()
        for live in self._live.values():
            live.cancel.set()
        waits = [live.finished.wait() for live in self._live.values()]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --------------------------------------------------------------- starting
    async def start_runs(
        self, project_id: str, connectors: list[Connector], mode: RunMode, trigger: RunTrigger
    ) -> list[IngestionRun]:
        runs = await self._rb(self._create_runs, project_id, connectors, mode, trigger)
        for run in runs:
            self._queue.put_nowait(run.id)
        return runs

    async def trigger(self, connector: Connector, reason: str) -> str | None:
        """An incremental run for a webhook; None when folded into the active run."""
        try:
            [run] = await self.start_runs(
                connector.project_id, [connector], RunMode.INCREMENTAL, RunTrigger.WEBHOOK
            )
        except FailedPrecondition:
            self._rerun.add(connector.id)
            log.info("webhook folded into the active run", extra={"connector": connector.id})
            return None
        log.info("webhook started a run", extra={"run": run.id, "reason": reason})
        return run.id

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
            run = self._new_run(project_id, connector, mode, trigger)
            self._create_run(run, connector)
            created.append(run)
        return created

    def _create_run(self, run: IngestionRun, connector: Connector) -> None:
        for attempt in range(2):
            try:
                self._store.create_run(run)
                return
            except AlreadyExists:
                active = self._store.active_run(connector_id=connector.id)
            if attempt == 0 and active is not None and self._settle(active.id):
                continue  # that run had ended; now the Store knows it too
            which = f" ({active.id}, {active.status})" if active else ""
            raise FailedPrecondition(
                f"connector {connector.name!r} already has a run in progress{which}"
            )

    def _settle(self, run_id: str) -> bool:
        """Save the end of a run of ours that has ended but whose end the Store has not
        taken yet (see ``_save_end``); False when ``run_id`` is no such run."""
        live = self._live.get(run_id)
        if live is None or live.progress.run.status.active:
            return False
        try:
            self._save(live)
        except StoreUnavailable as exc:
            ended = live.progress.run.status
            raise StoreUnavailable(
                f"run {run_id} of this connector has ended ({ended}) but the store "
                f"cannot record it yet: {exc}"
            ) from exc
        return True

    def _new_run(
        self, project_id: str, connector: Connector, mode: RunMode, trigger: RunTrigger
    ) -> IngestionRun:
        cursor: dict[str, Any] = {}
        if mode is RunMode.INCREMENTAL:
            last = self._store.last_succeeded_run(connector.id)
            if last is None:
                mode = RunMode.FULL  # nothing to be incremental from
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
        )

    # ------------------------------------------------------------ cancelling
    async def cancel(self, run: IngestionRun) -> IngestionRun:
        run = self.current(run)
        if not run.status.active:
            raise FailedPrecondition(f"run {run.id} already ended ({run.status})")
        live = self._live.get(run.id)
        if live is not None:
            live.cancel.set()
            return live.progress.change(cancel_requested=True)
        if run.status is RunStatus.QUEUED:
            now = utcnow()
            done = replace(
                run, status=RunStatus.CANCELLED, phase="done", finished_at=now, updated_at=now
            )
            await self._rb(self._store.update_run, done)
            return done
        # Running on another server: its heartbeat sees the flag.
        flagged = replace(run, cancel_requested=True)
        await self._rb(self._store.update_run, flagged)
        return flagged

    # -------------------------------------------------------------- watching
    def current(self, run: IngestionRun) -> IngestionRun:
        """``run`` (as read from the Store) as this server knows it now: the live record
        while the run is live here, with fresher counters, or with how it ended while the
        Store cannot take its end yet."""
        live = self._live.get(run.id)
        return live.progress.record() if live else run

    async def watch(self, run: IngestionRun, interval: float) -> AsyncIterator[ProgressSnapshot]:
        """Snapshots of ``run`` about every ``interval`` seconds, the last one final."""
        while True:
            live = self._live.get(run.id)
            if live is not None:
                snapshot = live.progress.snapshot()
            else:
                run = await self._rb(self._store.get_run, run.id) or run
                snapshot = _stored_snapshot(run)
            yield snapshot
            if not snapshot.run.status.active:
                return
            if live is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(live.finished.wait(), interval)
            else:
                await asyncio.sleep(interval)

    # -------------------------------------------------------------- executing
    async def _worker(self) -> None:
        while True:
            run_id = await self._queue.get()
            try:
                await self._execute(run_id)
            except Exception:  # a bug in one run must not stop the worker
                log.exception("ingestion worker error", extra={"run": run_id})

    async def _execute(self, run_id: str) -> None:
        run = await self._rb(self._store.get_run, run_id)
        if run is None or run.status is not RunStatus.QUEUED or self._stopping:
            return
        connector = await self._rb(self._store.get_connector, run.connector_id)
        ctype = self._catalog.connector_type(connector.type) if connector else None
        now = utcnow()
        run = replace(
            run,
            status=RunStatus.RUNNING,
            phase="scanning",
            started_at=now,
            updated_at=now,
            owner=this_owner(),
        )
        live = _LiveRun(RunProgress(run))
        self._live[run.id] = live
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(live))
        outcome = _failed("internal error: the run stopped before it began")
        try:
            outcome = await self._run(live, connector, ctype)
        finally:
            heartbeat.cancel()
            await self._finish(live, outcome)

    async def _run(
        self, live: _LiveRun, connector: Connector | None, ctype: ConnectorType | None
    ) -> dict[str, object]:
        try:
            await self._rb(self._save, live)  # running, owned by this process
        except StoreUnavailable as exc:
            return _failed(str(exc))
        if connector is None or ctype is None:
            return _failed("the connector was deleted or its plugin is not loaded")
        return await self._run_pipeline(live, connector, ctype)

    async def _run_pipeline(
        self, live: _LiveRun, connector: Connector, ctype: ConnectorType
    ) -> dict[str, object]:
        loop = asyncio.get_running_loop()
        # A plugin's messages may quote its config: members read run errors, admins the log.
        redact = Redactor.of_connector(connector, ctype.secret_fields)
        try:
            await loop.run_in_executor(
                self._executor,
                self._pipeline.execute,
                live.progress,
                connector,
                ctype,
                live.cancel,
                lambda: self._save(live),
            )
        except RunCancelled:
            if self._stopping:
                return _failed("interrupted: the server shut down; a resume run continues it")
            return {"status": RunStatus.CANCELLED}
        except SourceError as exc:
            return _failed(redact(str(exc) or type(exc).__name__))
        except (StoreUnavailable, IndexNotWritten) as exc:  # e.g. a full disk
            error = redact(str(exc))
            log.warning("ingestion run failed: %s", error, extra={"run": live.progress.run.id})
            return _failed(error)
        except Exception as exc:
            ref = new_id("err")
            # The traceback as text, scrubbed: its messages may come from the plugin.
            trace = redact("".join(traceback.format_exception(exc)))
            where = {"run": live.progress.run.id, "ref": ref}
            log.error("ingestion run failed", extra={**where, "exc": trace})
            return _failed(f"internal error ({type(exc).__name__}); see the server log, ref {ref}")
        return {"status": RunStatus.SUCCEEDED}

    async def _finish(self, live: _LiveRun, outcome: dict[str, object]) -> None:
        progress = live.progress
        progress.change(phase="done", finished_at=utcnow(), **outcome)
        run = progress.record()  # with the final counters
        try:
            if await self._save_end(live):
                await self._after_failure(run)
        finally:  # whatever happened, the run is no longer live here
            del self._live[run.id]
            live.finished.set()
        log.info(
            "ingestion run ended",
            extra={"run": run.id, "status": str(run.status), "documents": run.documents_seen},
        )
        if run.connector_id in self._rerun and not self._stopping:
            self._rerun.discard(run.connector_id)
            await self._trigger_coalesced(run.connector_id)

    async def _save_end(self, live: _LiveRun) -> bool:
        """Save the ended run, again and again while the Store refuses the write; False
        if the server stopped first.

        Until it lands the Store still shows the run active and its connector taken;
        meanwhile the run stays live, so this server shows how it ended, and
        StartIngestion on its connector saves it first (``_settle``). A server that
        stops first leaves the run to recovery at its next start, like a crash would.
        """
        delay = END_RETRY_S
        while True:
            try:
                await self._rb(self._save, live)
                return True
            except StoreUnavailable as exc:
                run_id = live.progress.run.id
                if self._stopping:
                    log.warning(
                        "end of run not saved before shutdown: %s", exc, extra={"run": run_id}
                    )
                    return False
                log.warning(
                    "end of run not saved, retrying in %gs: %s", delay, exc, extra={"run": run_id}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            delay = min(2 * delay, END_RETRY_MAX_S)

    async def _after_failure(self, run: IngestionRun) -> None:
        if run.status is not RunStatus.FAILED:
            return
        if run.chunks_written or run.documents_deleted:
            await self._rebuild_quietly(run.project_id)
        if self._stopping:
            try:
                await self._rb(self._queue_resume, run)
            except StoreUnavailable:
                log.exception(
                    "could not queue the resume of an interrupted run", extra={"run": run.id}
                )

    async def _trigger_coalesced(self, connector_id: str) -> None:
        try:
            connector = await self._rb(self._store.get_connector, connector_id)
            if connector is not None:
                await self.trigger(connector, "coalesced webhook")
        except StoreUnavailable:
            log.exception(
                "could not start the coalesced webhook run", extra={"connector": connector_id}
            )

    async def _rebuild_quietly(self, project_id: str) -> None:
        """After a failed run that wrote: bring the served index in line with the Store."""
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._pipeline.refresh_index, project_id
            )
        except Exception:
            log.exception("index rebuild after a failed run failed", extra={"project": project_id})

    def _save(self, live: _LiveRun) -> None:
        with live.save_lock:
            self._store.update_run(live.progress.record())

    async def _heartbeat(self, live: _LiveRun) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._rb(self._save, live)
                stored = await self._rb(self._store.get_run, live.progress.run.id)
            except Exception:
                log.warning("run heartbeat failed", exc_info=True)
                continue
            if stored is not None and stored.cancel_requested:
                live.cancel.set()

    # -------------------------------------------------------------- recovery
    async def recover(self) -> None:
        """Reclaim runs whose owner is gone; queue runs nobody holds."""
        for run in await self._rb(self._store.list_active_runs):
            if run.id in self._live:
                continue
            if run.status is RunStatus.QUEUED and (not run.owner or owner_is_dead(run.owner)):
                self._queue.put_nowait(run.id)
            elif run.status is RunStatus.RUNNING and self._abandoned(run):
                await self._rb(self._interrupt, run)

    def _abandoned(self, run: IngestionRun) -> bool:
        if run.owner == this_owner():
            return True  # ours but not live: lost by a previous start of this process
        return owner_is_dead(run.owner) or utcnow() - run.updated_at > self._lease

    def _interrupt(self, run: IngestionRun) -> None:
        now = utcnow()
        failed = replace(
            run,
            status=RunStatus.FAILED,
            phase="done",
            finished_at=now,
            updated_at=now,
            error="interrupted: the server running it stopped; a resume run continues it",
        )
        self._store.update_run(failed)
        log.warning("ingestion run interrupted", extra={"run": run.id})
        self._queue.put_nowait(self._queue_resume(failed).id)

    def _queue_resume(self, run: IngestionRun) -> IngestionRun:
        now = utcnow()
        resume = replace(
            run,
            id=new_id("run"),
            trigger=RunTrigger.RESUME,
            status=RunStatus.QUEUED,
            phase="queued",
            created_at=now,
            updated_at=now,
            started_at=None,
            finished_at=None,
            owner="",
            error="",
            warnings=[],
            warning_count=0,
            cancel_requested=False,
            **dataclasses.asdict(Counts()),
        )
        self._store.create_run(resume)
        return resume

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 2)
            try:
                await self.recover()
            except Exception:
                log.warning("run recovery failed", exc_info=True)


def _failed(error: str) -> dict[str, object]:
    return {"status": RunStatus.FAILED, "error": error}


def _stored_snapshot(run: IngestionRun) -> ProgressSnapshot:
    read = Counts.of(run).documents_read
    return ProgressSnapshot(run, read, 0, run.chunks_written, 0.0, 0.0, -1.0)
