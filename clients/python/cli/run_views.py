"""How ingestion runs read at a terminal: a table, a summary per finished run, details.

Every view takes the connector names by id (``names``) because a run only
carries its connector's id; an id without a name is shown as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from rich.table import Table
from rich.text import Text

from projectqa.client.cli.enums import enum_label
from projectqa.client.cli.output import console, format_timestamp
from projectqa.v1 import ingestion_pb2

Run = ingestion_pb2.IngestionRun

STATUS_STYLES = {
    ingestion_pb2.INGESTION_STATUS_SUCCEEDED: ("✔", "green"),
    ingestion_pb2.INGESTION_STATUS_FAILED: ("✖", "red"),
    ingestion_pb2.INGESTION_STATUS_CANCELLED: ("⊘", "yellow"),
}


def status_label(run: Run) -> str:
    return enum_label(ingestion_pb2.IngestionStatus.DESCRIPTOR, run.status)


def mode_label(run: Run) -> str:
    return enum_label(ingestion_pb2.IngestionMode.DESCRIPTOR, run.mode)


def status_text(run: Run) -> Text:
    """The status with its mark and colour, e.g. a green "✔ succeeded"."""
    mark, style = STATUS_STYLES.get(run.status, ("…", "cyan"))
    return Text(f"{mark} {status_label(run)}", style=style)


def connector_label(run: Run, names: Mapping[str, str]) -> str:
    return names.get(run.connector_id, run.connector_id)


def run_seconds(run: Run, now: datetime | None = None) -> float | None:
    """Seconds from start to finish (to ``now`` while running); None before it started."""
    if not run.HasField("start_time"):
        return None
    started = run.start_time.ToDatetime(tzinfo=UTC)
    if run.HasField("finish_time"):
        ended = run.finish_time.ToDatetime(tzinfo=UTC)
    else:
        ended = now or datetime.now(UTC)
    return max(0.0, (ended - started).total_seconds())


def format_seconds(seconds: float | None) -> str:
    """``4.2 s``, ``3m 05s``, ``2h 10m``; "-" for None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def documents_text(counts: ingestion_pb2.IngestionCounts) -> str:
    return (
        f"{counts.documents_seen} seen, {counts.documents_changed} changed, "
        f"{counts.documents_unchanged} unchanged, {counts.documents_deleted} deleted, "
        f"{counts.documents_failed} failed"
    )


def chunks_text(counts: ingestion_pb2.IngestionCounts) -> str:
    return (
        f"{counts.chunks_written} written, {counts.chunks_embedded} embedded, "
        f"{counts.chunks_cached} from the embedding cache"
    )


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _nothing_changed(run: Run) -> bool:
    counts = run.counts
    return (
        run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED
        and run.mode == ingestion_pb2.INGESTION_MODE_INCREMENTAL
        and counts.documents_changed == counts.documents_deleted == counts.documents_failed == 0
    )


def render_summary(run: Run, names: Mapping[str, str]) -> None:
    """What a finished run did, as ``projectqa ingest`` prints it at the end."""
    heading = Text.assemble(
        (connector_label(run, names), "bold"),
        ": ",
        status_text(run),
        f" in {format_seconds(run_seconds(run))} ({mode_label(run)} run {run.id})",
    )
    grid = _grid()
    if _nothing_changed(run):
        grid.add_row("documents", "none changed since the last successful run")
    else:
        grid.add_row("documents", documents_text(run.counts))
        grid.add_row("chunks", chunks_text(run.counts))
    if run.revision:
        grid.add_row("revision", run.revision)
    if run.warning_count:
        grid.add_row("warnings", f"{run.warning_count} (projectqa runs show {run.id})")
    if run.error:
        grid.add_row("error", Text(run.error, style="red"))
    out = console()
    out.print(heading)
    out.print(grid)


def render_runs(runs: Sequence[Run], names: Mapping[str, str]) -> None:
    """The table of ``projectqa runs``."""
    if not runs:
        console().print(Text("No runs.", style="dim"))
        return
    table = Table(title="runs", title_justify="left", title_style="bold")
    for header in ("id", "connector", "mode", "trigger", "status", "documents", "chunks"):
        table.add_column(header, no_wrap=header == "id", overflow="fold")
    for header in ("started", "duration", "error"):
        table.add_column(header, overflow="fold")
    for run in runs:
        counts = run.counts
        table.add_row(
            run.id,
            connector_label(run, names),
            mode_label(run),
            run.trigger,
            status_text(run),
            f"{counts.documents_seen} seen, {counts.documents_changed} changed",
            str(counts.chunks_written),
            format_timestamp(run.start_time) if run.HasField("start_time") else "-",
            format_seconds(run_seconds(run)),
            Text(run.error, style="red"),
        )
    console().print(table)


def _timestamp(run: Run, field: Literal["create_time", "start_time", "finish_time"]) -> str:
    return format_timestamp(getattr(run, field)) if run.HasField(field) else "-"


def render_details(run: Run, names: Mapping[str, str]) -> None:
    """Everything about one run, its kept warnings included (``projectqa runs show``)."""
    grid = _grid()
    name = connector_label(run, names)
    rows: list[tuple[str, str | Text]] = [
        ("id", run.id),
        ("project", run.project_id),
        ("connector", name if name == run.connector_id else f"{name} ({run.connector_id})"),
        ("mode", mode_label(run)),
        ("trigger", run.trigger),
        ("status", status_text(run)),
        ("phase", run.phase),
        ("revision", run.revision or "-"),
        ("worker", run.worker or "-"),
        ("attempts", _attempts_text(run.attempts)),
        ("documents", documents_text(run.counts)),
        ("chunks", chunks_text(run.counts)),
        ("created", _timestamp(run, "create_time")),
        ("started", _timestamp(run, "start_time")),
        ("finished", _timestamp(run, "finish_time")),
        ("duration", format_seconds(run_seconds(run))),
        ("error", Text(run.error or "-", style="red" if run.error else "")),
        ("warnings", str(run.warning_count)),
    ]
    for key, value in rows:
        grid.add_row(key, value)
    out = console()
    out.print(grid)
    for warning in run.warnings:
        out.print(warning_text(warning))
    if run.warning_count > len(run.warnings):
        hidden = run.warning_count - len(run.warnings)
        out.print(Text(f"… and {hidden} more (only the first {len(run.warnings)} are kept)"))


def warning_text(warning: ingestion_pb2.IngestionWarning) -> Text:
    """``⚠ path/to/file: binary file skipped``."""
    return Text(f"⚠ {warning.document_key}: {warning.message}", style="yellow")


def _attempts_text(attempts: int) -> str:
    if attempts > 1:
        resumed = attempts - 1
        return f"{attempts} (resumed from its last checkpoint {resumed} time{'s' * (resumed > 1)})"
    return str(attempts) if attempts else "-"
