"""Following ingestion runs: a live rich progress bar on a terminal, plain lines elsewhere.

Both views print each warning as it arrives (above the bar on a terminal). The
plain view, for pipes, logs and CI, writes a line when a run starts, when its
phase changes, and otherwise at most every ``PLAIN_INTERVAL_S`` seconds while
the counts move (every ``STILL_RUNNING_S`` while they do not).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Protocol

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from projectqa.client.cli.run_views import (
    connector_label,
    format_seconds,
    mode_label,
    status_label,
    warning_text,
)
from projectqa.client.ingestion import IngestionCalls, is_active
from projectqa.v1 import ingestion_pb2

Run = ingestion_pb2.IngestionRun
Event = ingestion_pb2.IngestionEvent

WATCH_INTERVAL_S = 0.5
PLAIN_INTERVAL_S = 5.0
STILL_RUNNING_S = 60.0  # a line even without progress, so logs show it is alive


class RunsView(Protocol):
    """Shows the progress of a set of runs."""

    def add(self, run: Run) -> None: ...

    def update(self, event: Event) -> None: ...

    def finish(self, run: Run) -> None: ...


EMBEDDING = "embedding"  # the phase after reading, while vectors are still computed


def _rate(event: Event) -> str:
    """The rate of the stage under way: documents read, or chunks embedded."""
    if event.run.phase == EMBEDDING:
        rate = event.chunks_per_second
        return f"{rate:.0f} chunks/s" if rate > 0 else ""
    return f"{event.documents_per_second:.1f} docs/s" if event.documents_per_second > 0 else ""


def _vectors(run: Run) -> tuple[int, int]:
    """(chunks with vectors, chunks to embed) of the run so far."""
    counts = run.counts
    done = counts.chunks_embedded + counts.chunks_cached
    return done, done + counts.chunks_pending_embedding


def _embedded(run: Run) -> str:
    """How far the dense index is behind the keyword one, while it is."""
    done, total = _vectors(run)
    if not total or done >= total:
        return ""
    return f"dense {100 * done // total} % ({done}/{total} chunks embedded)"


def _eta(event: Event) -> str:
    return f"ETA {format_seconds(event.eta_seconds)}" if event.eta_seconds >= 0 else ""


class LiveView:
    """One rich progress bar per run; unknown totals give a pulsing bar."""

    def __init__(self, progress: Progress, names: Mapping[str, str]) -> None:
        self.progress = progress
        self.names = names
        self.tasks: dict[str, TaskID] = {}

    def _describe(self, run: Run, state: str) -> str:
        return f"{connector_label(run, self.names)} · {state}"

    def add(self, run: Run) -> None:
        self.tasks[run.id] = self.progress.add_task(
            self._describe(run, run.phase or status_label(run)),
            total=None,
            unit="docs",
            chunks="",
            rate="",
            eta="",
        )

    def update(self, event: Event) -> None:
        for warning in event.new_warnings:
            self.progress.console.print(warning_text(warning))
        run = event.run
        completed, total, unit = event.documents_done, event.documents_total or None, "docs"
        if run.phase == EMBEDDING:  # everything is read: the bar follows the vectors
            completed, vectors = _vectors(run)
            total, unit = vectors or None, "chunks embedded"
        self.progress.update(
            self.tasks[run.id],
            description=self._describe(run, run.phase),
            completed=completed,
            total=total,
            unit=unit,
            chunks=_embedded(run) or f"{event.chunks_done} chunks",
            rate=_rate(event),
            eta=_eta(event),
        )

    def finish(self, run: Run) -> None:
        counts = run.counts
        done = max(
            1,
            counts.documents_changed
            + counts.documents_unchanged
            + counts.documents_deleted
            + counts.documents_failed,
        )  # a full bar, also for a run that had nothing to do
        self.progress.update(
            self.tasks[run.id],
            description=self._describe(run, status_label(run)),
            total=done,
            completed=done,
            unit="docs",
            chunks=f"{counts.chunks_written} chunks",
            rate="",
            eta="",
        )


class PlainView:
    """Progress as lines of text, for output that is not a terminal."""

    def __init__(self, names: Mapping[str, str], err: bool, interval: float) -> None:
        self.names = names
        self.err = err
        self.interval = interval
        self.printed: dict[str, tuple[str, int, int]] = {}  # phase, documents, chunks
        self.printed_at: dict[str, float] = {}

    def _echo(self, text: str) -> None:
        click.echo(text, err=self.err)

    def add(self, run: Run) -> None:
        name = connector_label(run, self.names)
        self._echo(f"{name}: {status_label(run)} ({mode_label(run)} run {run.id})")

    def update(self, event: Event) -> None:
        for warning in event.new_warnings:
            self._echo(warning_text(warning).plain)
        run, now = event.run, time.monotonic()
        state = (run.phase, event.documents_done, event.chunks_done)
        last = self.printed.get(run.id)
        if last is None or last[0] != run.phase:
            due = 0.0
        else:
            due = self.interval if last != state else STILL_RUNNING_S
        if now - self.printed_at.get(run.id, -math.inf) >= due:
            self.printed[run.id] = state
            self.printed_at[run.id] = now
            self._echo(self._line(event))

    def _line(self, event: Event) -> str:
        total = f"/{event.documents_total}" if event.documents_total else ""
        parts = [f"{event.documents_done}{total} documents", f"{event.chunks_done} chunks"]
        parts += [text for text in (_embedded(event.run), _rate(event), _eta(event)) if text]
        name = connector_label(event.run, self.names)
        return f"{name}: {event.run.phase} {', '.join(parts)}"

    def finish(self, run: Run) -> None:
        self._echo(f"{connector_label(run, self.names)}: {status_label(run)}")


class QuietView:
    """``--no-progress``: only the warnings, as they arrive; the summaries follow anyway."""

    def __init__(self, err: bool) -> None:
        self.err = err

    def add(self, run: Run) -> None:
        pass

    def update(self, event: Event) -> None:
        for warning in event.new_warnings:
            click.echo(warning_text(warning).plain, err=self.err)

    def finish(self, run: Run) -> None:
        pass


def _live_progress(stream: IO[str]) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TextColumn("{task.fields[chunks]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
        TimeElapsedColumn(),
        console=Console(file=stream, highlight=False),
    )


@contextmanager
def runs_view(
    names: Mapping[str, str], *, err: bool = False, progress: bool = True
) -> Iterator[RunsView]:
    """The view for stdout (stderr if ``err``): live on a terminal, plain lines otherwise,
    only warnings without ``progress``."""
    stream = sys.stderr if err else sys.stdout
    if not progress:
        yield QuietView(err)
        return
    if not Console(file=stream).is_terminal:
        yield PlainView(names, err, PLAIN_INTERVAL_S)
        return
    with _live_progress(stream) as bars:
        yield LiveView(bars, names)


def follow_runs(
    client: IngestionCalls, runs: Sequence[Run], view: RunsView, interval: float = WATCH_INTERVAL_S
) -> list[Run]:
    """Watches each run to its end, in order; returns them in their final state.

    Runs of one server are executed in the order they were queued, so watching
    them one after the other keeps up with all of them.
    """
    for run in runs:
        view.add(run)
    return [_follow(client, run, view, interval) for run in runs]


def _follow(client: IngestionCalls, run: Run, view: RunsView, interval: float) -> Run:
    final = run
    with client.watch_ingestion(run.id, interval) as events:
        for event in events:
            view.update(event)
            final = event.run
    if is_active(final):  # the stream ended early (a server shutting down, say)
        final = client.get_ingestion_run(run.id)
    view.finish(final)
    return final


def render_started(runs: Sequence[Run], names: Mapping[str, str]) -> None:
    """What ``projectqa ingest --no-wait`` prints: the runs and how to follow them."""
    for run in runs:
        name = connector_label(run, names)
        click.echo(f"{name}: {status_label(run)} ({mode_label(run)} run {run.id})")
    for line in follow_hints(runs):
        click.echo(line)


def follow_hints(runs: Sequence[Run]) -> list[str]:
    """How to follow and stop each run, with its real id."""
    if len(runs) == 1:
        run_id = runs[0].id
        return [f"Follow it with `projectqa runs watch {run_id}`; stop it with "
                f"`projectqa cancel {run_id}`."]  # fmt: skip
    return [
        "Follow each with `projectqa runs watch RUN`, stop it with `projectqa cancel RUN`:",
        *(f"  projectqa runs watch {run.id}" for run in runs),
    ]
