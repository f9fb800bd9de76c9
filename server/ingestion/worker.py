"""Ingestion workers: they claim runs from the Store, execute them and publish indexes.

A worker is ``projectqa worker`` (any number of them, on any host that reaches the
Store), or the one ``projectqa serve`` starts as its child process. Serving
processes only queue, cancel and watch runs (``runs.RunQueue``); they never embed.

Leases. Every write a worker makes to a run's record is a compare-and-set on the
run's ``lease_seq`` (``Store.write_run_if``), and moves it on by one:

- claiming a queued run is such a write: of two workers that saw it, one wins;
- the heartbeat (every ``heartbeat_s``) renews the lease and publishes progress;
- a running run whose ``lease_seq`` a worker has watched stand still for
  ``lease_s`` (by its own monotonic clock, so clock skew between hosts does not
  matter) is taken over by the same compare-and-set, and resumes from its last
  checkpoint with the counters it had there;
- a worker whose writes fail stops writing documents once ``lease_s / 2`` has
  passed since the last write that landed, before anyone may take its run over;
  a worker whose write finds the sequence moved has lost the run and stops.

A worker that stops gracefully hands its runs back (queued, at their checkpoint),
so another worker resumes them at once. A run needs the embedding model it was
queued with: a worker with another model leaves it alone and says so in its log.

Embedder switch. A project whose published generation was built by another embedder
(an fp32 index after an upgrade to int8, say) keeps being served as it is, while the
worker's reconcile loop re-embeds its chunks under the worker's embedder in the
background; the new generation is published only once every chunk has its vector, so
a generation never mixes two embedders and recall never drops half-way. A run on the
project meanwhile does the same (its backlog), and the conversion gives way to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..errors import AlreadyExists, RunLost, StoreUnavailable
from ..index.layout import IndexManifest
from ..models import (
    Connector,
    IngestionRun,
    PageRequest,
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
from .backfill import embed_project
from .owner import owner_is_dead, this_owner
from .pipeline import IndexNotWritten, IngestionPipeline, RunCancelled
from .progress import RunProgress, at_checkpoint, source_read
from .runs import new_run

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0
LEASE_S = 30.0
POLL_S = 0.5  # how often an idle worker looks for queued runs
RECONCILE_S = 5.0  # how often it looks for indexes behind the Store
END_RETRY_S = 1.0  # first wait before saving a run's end again; doubles up to the next
END_RETRY_MAX_S = 30.0
MAX_TAKEOVERS = 3  # a run that stopped this many workers fails instead of stopping more
CLAIM_STOP_S = 30.0  # how long stop() waits for a look for runs under way to end
Outcome = dict[str, Any]  # the fields a run ends with; status QUEUED: handed back


class PublishedIndexes(Protocol):
    """What a worker needs of the index manager: build, publish, and find what is behind."""

    def ensure_published(self, project_id: str) -> object: ...

    def stale_projects(self) -> list[str]: ...

    def published_manifests(self, project_ids: list[str]) -> dict[str, IndexManifest]: ...


@dataclass
class _Held:
    """A run this worker executes, and its lease."""

    progress: RunProgress
    seq: int  # lease_seq of our last write that landed
    renewed_at: float  # monotonic time at which that write was sent
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: bool = False  # a write found the sequence moved: the run is someone else's
    ended: bool = False  # its end (or hand-back) landed: nothing more is written for it
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class _Stop:
    """What the pipeline polls: cancelled, the worker stopping, or the lease not held."""

    def __init__(self, held: _Held, holds: Callable[[_Held], bool]) -> None:
        self._held = held
        self._holds = holds

    def is_set(self) -> bool:
        return self._held.cancel.is_set() or not self._holds(self._held)


@dataclass
class _Sightings:
    """When this worker first saw each running run at its current ``lease_seq``."""

    seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def idle_for(self, run: IngestionRun, now: float) -> float:
        """How long ``run``'s lease has stood still, as far as this worker has watched."""
        seq, since = self.seen.get(run.id, (-1, now))
        if seq != run.lease_seq:
            self.seen[run.id] = (run.lease_seq, now)
            return 0.0
        return now - since

    def keep_only(self, run_ids: set[str]) -> None:
        for run_id in self.seen.keys() - run_ids:
            del self.seen[run_id]


class Worker:
    """Claims runs from ``store`` and executes them, ``slots`` at a time."""

    def __init__(
        self,
        store: Store,
        catalog: PluginCatalog,
        pipeline: IngestionPipeline,
        indexes: PublishedIndexes,
        run_blocking: BlockingRunner,
        *,
        model: str,
        slots: int = 1,
        lease_s: float = LEASE_S,
        heartbeat_s: float = HEARTBEAT_S,
        poll_s: float = POLL_S,
        reconcile_s: float = RECONCILE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._pipeline = pipeline
        self._indexes = indexes
        self._rb = run_blocking
        self.model = model
        self._slots = slots
        self._lease_s = lease_s
        self._heartbeat_s = min(heartbeat_s, lease_s / 4)
        self._poll_s = poll_s
        self._reconcile_s = reconcile_s
        self._clock = clock
        # Unique per worker, also for several workers in one process (tests).
        self.owner = f"{this_owner()}:{secrets.token_hex(3)}"
        # Twice the slots: a run abandoned in a hung source step keeps its thread.
        self._executor = ThreadPoolExecutor(2 * slots, thread_name_prefix="projectqa-ingest")
        self._held: dict[str, _Held] = {}
        self._sightings = _Sightings()
        self._refused: set[str] = set()  # runs of another model or plugin, said once
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runs: set[asyncio.Task[None]] = set()
        self._converting: set[str] = set()  # projects re-embedded for this worker's embedder
        self._partial_tried: set[tuple[str, int]] = set()  # (project, generation) filled in
        self._partial_seen: dict[str, int] = {}  # project -> its partly embedded generation
        self._stopping = False
        self._stopped = asyncio.Event()

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._claim_loop(), name="ingest-claims"),
            loop.create_task(self._reconcile_loop(), name="ingest-reconcile"),
        ]
        log.info("ingestion worker started", extra={"worker": self.owner, "model": self.model})

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; hand the runs in flight back at their checkpoints."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        # A look for runs under way may still claim one: let it end, so every run this
        # worker holds is in ``_held`` (and told to stop) before the grace starts.
        claims = self._tasks[:1]
        if claims:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(claims[0]), CLAIM_STOP_S)
        for held in self._held.values():
            held.cancel.set()
        waits = [held.finished.wait() for held in self._held.values()]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), grace)
        for task in [*self._tasks, *self._runs]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._runs, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def poke(self) -> None:
        """Look for queued runs now (a run was queued in this process)."""
        self._wake.set()

    # -------------------------------------------------------------- claiming
    async def _claim_loop(self) -> None:
        while not self._stopping:
            claimed = None
            if len(self._held) < self._slots:
                try:
                    claimed = await self._rb(self._claim_next)
                except Exception:  # an unreachable store: try again at the next poll
                    log.warning("could not look for queued runs", exc_info=True)
            if claimed is not None:
                run, sent = claimed
                # Held from now on: the next look for runs must not see it as anyone's.
                held = _Held(RunProgress(run), run.lease_seq, sent)
                self._held[run.id] = held
                if self._stopping:  # claimed while stop() began: hand it back at once
                    held.cancel.set()
                task = asyncio.get_running_loop().create_task(self._execute(held))
                self._runs.add(task)
                task.add_done_callback(self._runs.discard)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    def _claim_next(self) -> tuple[IngestionRun, float] | None:
        """Take the oldest run this worker may take; None when there is none."""
        now = self._clock()
        active = self._store.list_active_runs()
        self._sightings.keep_only({run.id for run in active})
        for run in active:
            if run.id in self._held or not self._may_take(run, now):
                continue
            if run.status is RunStatus.RUNNING and run.takeovers + 1 >= MAX_TAKEOVERS:
                self._fail_abandoned(run)
                continue
            sent = self._clock()
            claimed = self._store.write_run_if(self._claimed(run), run.lease_seq)
            if claimed is not None:
                if run.status is RunStatus.RUNNING:
                    log.warning(
                        "ingestion run taken over from a worker that stopped renewing its "
                        "lease; it resumes from its last checkpoint",
                        extra={"run": run.id, "from": run.owner, "attempt": claimed.attempts},
                    )
                return claimed, sent
        return None

    def _fail_abandoned(self, run: IngestionRun) -> None:
        """A run whose workers keep dying (a document that crashes the process, say)
        fails, instead of stopping every worker that takes it."""
        now = utcnow()
        error = (
            f"interrupted {run.takeovers + 1} times: the worker running it stopped (killed, "
            "crashed or cut off from the store) each time; ingest again once the cause is fixed"
        )
        failed = replace(
            run,
            status=RunStatus.FAILED,
            phase="done",
            error=error,
            finished_at=now,
            updated_at=now,
            lease_seq=run.lease_seq + 1,
        )
        if self._store.write_run_if(failed, run.lease_seq) is not None:
            log.error("ingestion run failed: %s", error, extra={"run": run.id})

    def _may_take(self, run: IngestionRun, now: float) -> bool:
        if run.id in self._refused:
            return False
        if run.model and run.model != self.model:
            self._refused.add(run.id)
            log.error(
                "ingestion run needs embedding model %r but this worker has %r; "
                "left for a worker with that model (vectors of two models never mix)",
                run.model,
                self.model,
                extra={"run": run.id},
            )
            if run.status is RunStatus.QUEUED:  # say so where users look
                waiting = f"queued: waiting for a worker with embedding model {run.model}"
                self._store.write_run_if(
                    replace(run, phase=waiting, lease_seq=run.lease_seq + 1), run.lease_seq
                )
            return False
        if run.status is RunStatus.QUEUED:
            return True
        if owner_is_dead(run.owner):  # a process of this host that is gone: no need to wait
            return True
        return self._sightings.idle_for(run, now) >= self._lease_s

    def _claimed(self, run: IngestionRun) -> IngestionRun:
        now = utcnow()
        # Taken over while running: back to the counters of its last checkpoint.
        taken_over = run.status is RunStatus.RUNNING
        counts = at_checkpoint(run) if taken_over else {}
        return replace(
            run,
            status=RunStatus.RUNNING,
            phase="embedding" if source_read(run) else "reading",
            owner=self.owner,
            lease_seq=run.lease_seq + 1,
            attempts=run.attempts + 1,
            takeovers=run.takeovers + taken_over,
            started_at=run.started_at or now,
            updated_at=now,
            **counts,
        )

    # -------------------------------------------------------------- executing
    async def _execute(self, held: _Held) -> None:
        run = held.progress.run
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(held))
        outcome: Outcome | None = _failed("internal error: the run stopped before it began")
        try:
            outcome = await self._outcome(held)
        except asyncio.CancelledError:
            # stop() waited its grace out while the pipeline was inside a step (a model
            # load, an encode): hand the run back all the same. Told to stop, the
            # pipeline thread writes no more documents.
            held.cancel.set()  # the pipeline thread, still running, must stop writing
            if self._stopping:
                outcome = {"status": RunStatus.QUEUED}
            raise
        finally:
            heartbeat.cancel()
            try:
                await self._end(held, outcome)
            finally:
                del self._held[run.id]
                held.finished.set()
                self._wake.set()

    async def _outcome(self, held: _Held) -> Outcome | None:
        """How the run ended; None when this worker lost it (someone else ends it)."""
        run = held.progress.run
        if run.cancel_requested:  # asked while it was handed back or about to be taken
            return {"status": RunStatus.CANCELLED}
        try:
            connector = await self._rb(self._store.get_connector, run.connector_id)
        except StoreUnavailable:  # for now: another look (this worker's or another's) soon
            return {"status": RunStatus.QUEUED}
        if connector is None:
            return _failed("the connector was deleted")
        ctype = self._catalog.connector_type(connector.type)
        if ctype is None:  # a worker with the plugin may run it
            self._refused.add(run.id)
            log.error(
                "ingestion run needs connector type %r, which no plugin of this worker "
                "provides; handed back for a worker that has it",
                connector.type,
                extra={"run": run.id},
            )
            return {"status": RunStatus.QUEUED}
        try:
            return await self._run_pipeline(held, connector, ctype)
        except RunCancelled:
            if held.lost or not self._holds(held):
                return None
            if self._stopping:
                return {"status": RunStatus.QUEUED}
            return {"status": RunStatus.CANCELLED}

    async def _run_pipeline(
        self, held: _Held, connector: Connector, ctype: ConnectorType
    ) -> Outcome:
        # A plugin's messages may quote its config: members read run errors, admins the log.
        redact = Redactor.of_connector(connector, ctype.secret_fields)
        run_id = held.progress.run.id
        try:
            await self._until_done_or_abandoned(
                held,
                asyncio.get_running_loop().run_in_executor(
                    self._executor,
                    self._pipeline.execute,
                    held.progress,
                    connector,
                    ctype,
                    _Stop(held, self._holds),
                    lambda: self._checkpoint(held),
                ),
            )
        except SourceError as exc:
            return _failed(redact(str(exc) or type(exc).__name__))
        except (StoreUnavailable, IndexNotWritten) as exc:  # e.g. a full disk
            error = redact(str(exc))
            log.warning("ingestion run failed: %s", error, extra={"run": run_id})
            return _failed(error)
        except RunLost:  # a fenced write found another worker running it
            held.lost = True
            raise RunCancelled from None
        except RunCancelled:
            raise
        except Exception as exc:
            ref = new_id("err")
            # The traceback as text, scrubbed: its messages may come from the plugin.
            trace = redact("".join(traceback.format_exception(exc)))
            log.error("ingestion run failed", extra={"run": run_id, "ref": ref, "exc": trace})
            return _failed(f"internal error ({type(exc).__name__}); see the server log, ref {ref}")
        return {"status": RunStatus.SUCCEEDED}

    async def _until_done_or_abandoned(self, held: _Held, step: asyncio.Future[None]) -> None:
        """Wait for the pipeline; if it ignores a cancel for a lease time (a source stuck
        in a read without a timeout), stop waiting: the run ends, its thread is left to
        finish alone and can write nothing more for it."""
        cancelled_at: float | None = None
        while True:
            done, _ = await asyncio.wait({step}, timeout=self._heartbeat_s)
            if done:
                return step.result()
            if not held.cancel.is_set():
                continue
            cancelled_at = cancelled_at or self._clock()
            if self._clock() - cancelled_at >= self._lease_s:
                log.error(
                    "ingestion run did not stop within %gs of its cancel; abandoned",
                    self._lease_s,
                    extra={"run": held.progress.run.id},
                )
                raise RunCancelled

    # ---------------------------------------------------------------- lease
    def _holds(self, held: _Held) -> bool:
        """Whether this worker may still write for the run: nobody can have taken it."""
        return not held.lost and self._clock() - held.renewed_at < self._lease_s / 2

    def _write(self, held: _Held, record: IngestionRun | None = None) -> IngestionRun | None:
        """Write the run's record (its progress now, unless given) if we still hold it and
        it has not ended; None (and ``lost``) if not."""
        with held.write_lock:
            if held.ended:
                held.lost = True
                return None
            record = record or held.progress.record()  # inside the lock: never an older one
            sent = self._clock()
            stored = self._store.write_run_if(replace(record, lease_seq=held.seq + 1), held.seq)
            if stored is None:
                held.lost = True
                return None
            held.seq, held.renewed_at = stored.lease_seq, sent
            held.ended = stored.status is not RunStatus.RUNNING
            return stored

    def _checkpoint(self, held: _Held) -> None:
        """The pipeline reached a checkpoint (or its end): save it, or stop if we lost it."""
        if self._write(held) is None:
            raise RunCancelled

    async def _heartbeat(self, held: _Held) -> None:
        run_id = held.progress.run.id
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                stored = await self._rb(self._write, held)
            except Exception as exc:  # the store refuses for now: the lease runs down
                log.warning("run heartbeat failed: %s", exc, extra={"run": run_id})
                continue
            if stored is None:
                log.warning(
                    "ingestion run lost: another worker took it over", extra={"run": run_id}
                )
                return
            if stored.cancel_requested:
                held.cancel.set()

    # ---------------------------------------------------------------- ending
    async def _end(self, held: _Held, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        progress = held.progress
        if outcome["status"] is RunStatus.QUEUED:  # handed back at its checkpoint
            record = replace(
                progress.record(),
                status=RunStatus.QUEUED,
                phase="queued",
                owner="",
                **at_checkpoint(progress.run),
            )
        else:
            progress.change(phase="done", finished_at=utcnow(), **outcome)
            record = progress.record()
        stored = await self._save_end(held, record)
        if stored is None:
            return
        if stored.status is RunStatus.QUEUED:
            log.info("ingestion run handed back at its last checkpoint", extra={"run": stored.id})
            return
        log.info(
            "ingestion run ended",
            extra={"run": stored.id, "status": str(stored.status), "attempt": stored.attempts},
        )
        if stored.status is RunStatus.FAILED and (
            stored.chunks_written or stored.documents_deleted
        ):
            await self._publish_unless_foreign(stored.project_id)
        if stored.rerun_requested and stored.status is not RunStatus.CANCELLED:
            try:  # also when stopping: the webhook's change must not be lost
                await self._rb(self._queue_rerun, stored)
            except Exception:
                log.exception("could not queue the webhook's run", extra={"run": stored.id})

    async def _save_end(self, held: _Held, record: IngestionRun) -> IngestionRun | None:
        """Write the ended run, again and again while the Store refuses the write.

        Until it lands the Store shows the run running; as long as the writes fail,
        nobody else can have taken it (the compare-and-set would then fail for good).
        None when the run turned out to be someone else's, or the worker stopped first
        (the lease then runs out and another worker resumes the run).
        """
        delay = END_RETRY_S
        run_id = record.id
        while True:
            try:
                stored = await self._rb(self._write, held, record)
                if stored is None:
                    log.warning("ingestion run ended elsewhere", extra={"run": run_id})
                return stored
            except StoreUnavailable as exc:
                if self._stopping:
                    log.warning("end of run not saved before stop: %s", exc, extra={"run": run_id})
                    return None
                log.warning(
                    "end of run not saved, retrying in %gs: %s", delay, exc, extra={"run": run_id}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            delay = min(2 * delay, END_RETRY_MAX_S)

    def _queue_rerun(self, ended: IngestionRun) -> None:
        """A webhook came during the run: one more incremental run catches up with it."""
        connector = self._store.get_connector(ended.connector_id)
        if connector is None:
            return
        incremental, webhook = RunMode.INCREMENTAL, RunTrigger.WEBHOOK
        run = new_run(self._store, ended.project_id, connector, incremental, webhook, ended.model)
        try:
            self._store.create_run(run)
        except AlreadyExists:
            return  # another run is queued already: it catches up too
        log.info("webhook run queued after the run it came during", extra={"run": run.id})

    # -------------------------------------------------------------- indexes
    async def _publish_quietly(self, project_id: str) -> None:
        """Publish the project's index level with the Store (after a run that failed)."""
        try:
            await asyncio.to_thread(self._indexes.ensure_published, project_id)
        except Exception:
            log.exception("index build failed", extra={"project": project_id})

    async def _publish_unless_foreign(self, project_id: str) -> None:
        """Publish after a failed run, unless the generation served is another embedder's:
        one of this embedder with part of its vectors must not replace a complete one
        (the conversion publishes when every chunk has a vector). Fails closed: when the
        published generation cannot be read, nothing is published (reconcile retries)."""
        try:
            published = await asyncio.to_thread(self._indexes.published_manifests, [project_id])
        except Exception:
            log.warning("published index unreadable; not publishing", exc_info=True)
            return
        manifest = published.get(project_id)
        if manifest is not None and manifest.model != self.model:
            return
        await self._publish_quietly(project_id)

    async def _reconcile_loop(self) -> None:
        """Publish indexes the Store has moved past with no run to do it (a deleted
        connector, a run that died, a publication refused as damaged)."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._reconcile_s)
            if self._stopping:
                return
            await self.reconcile()

    async def reconcile(self) -> None:
        """One pass: publish what is stale, start re-embedding what another embedder built."""
        try:
            stale, foreign = await asyncio.to_thread(self._reconcile_plan)
        except Exception:
            log.warning("could not look for stale indexes", exc_info=True)
            return
        for project_id in stale:
            await self._publish_quietly(project_id)
        # One re-embedding at a time, and none beside a run of this worker: they share the
        # embedder (and a thread of the default executor each, for hours).
        for project_id in foreign[:1]:
            if not self._converting and not self._held:
                self._start_conversion(project_id)

    def _reconcile_plan(self) -> tuple[list[str], list[str]]:
        """Projects without an active run whose index is behind the Store: those to
        publish again, and those whose generation another embedder built, or that lack
        vectors (to embed)."""
        busy = {run.project_id for run in self._store.list_active_runs()} | self._converting
        stale = [p for p in self._indexes.stale_projects() if p not in busy]
        idle = sorted(p for p in self._store.index_generations() if p not in busy)
        published = self._indexes.published_manifests(idle) if idle else {}  # read once
        foreign = {p: published[p].model for p in stale if p in published}
        foreign = {p: model for p, model in foreign.items() if model != self.model}
        rebuild = [p for p in stale if p not in foreign and self._ours(p)]
        convert = [p for p in stale if p in foreign and self._ours(p, foreign[p])]
        current = {p: m for p, m in published.items() if p not in stale}
        return rebuild, convert + self._partly_embedded(current)

    def _partly_embedded(self, published: dict[str, IndexManifest]) -> list[str]:
        """Projects whose current generation of this embedder lacks vectors with no run to
        add them (a run cancelled or failed half-way): embedded here like a conversion.
        Each generation is tried once, so chunks that cannot get a vector are not scanned
        for at every pass."""
        partial = []
        for project_id, manifest in sorted(published.items()):
            seen = (project_id, manifest.generation)
            if (
                manifest.model == self.model
                and manifest.vectors < manifest.chunks
                and seen not in self._partial_tried
            ):
                self._partial_seen[project_id] = manifest.generation
                partial.append(project_id)
        return partial

    def _ours(self, project_id: str, published_model: str = "") -> bool:
        """Whether the project's servers use this worker's model (or the one of its
        published generation, which this worker may convert), as far as its last run
        tells: a worker with a third model leaves the project alone."""
        last = self._store.list_runs(project_id, PageRequest(limit=1))
        return not last or last[0].model in ("", self.model, published_model or self.model)

    # ------------------------------------------------------- embedder switch
    def _start_conversion(self, project_id: str) -> None:
        generation = self._partial_seen.pop(project_id, None)
        if generation is not None:
            self._partial_tried.add((project_id, generation))
        self._converting.add(project_id)
        task = asyncio.get_running_loop().create_task(self._convert(project_id))
        self._runs.add(task)  # cancelled by stop() like a run
        task.add_done_callback(self._runs.discard)

    async def _convert(self, project_id: str) -> None:
        """Re-embed the project for this worker's embedder, then publish its generation."""
        try:
            complete = await asyncio.to_thread(self._reembed, project_id)
            if complete and not self._stopping:
                # Servers look for a newer generation only once the Store's moves on.
                await asyncio.to_thread(self._store.bump_index_generation, project_id)
                await self._publish_quietly(project_id)
        except Exception:
            log.exception("re-embedding failed", extra={"project": project_id})
        finally:
            self._converting.discard(project_id)

    def _reembed(self, project_id: str) -> bool:
        """Re-embed until done (True), the worker stops, or a run begins on the project
        (its own backlog takes over)."""
        log.info(
            "embedding the chunks of project %s that lack a vector of embedder %s; the "
            "generation served stays until every chunk has one",
            project_id,
            self.model,
        )

        def stopped() -> bool:
            return self._stopping or self._store.active_run(project_id=project_id) is not None

        return embed_project(self._store, self._pipeline.embedder, project_id, stopped)


def _failed(error: str) -> Outcome:
    return {"status": RunStatus.FAILED, "error": error}
