"""``projectqa ingest``: start ingestion runs and follow them to the end."""

from __future__ import annotations

from collections.abc import Sequence

import click

from projectqa.client.cli.failures import EXIT_FAILURE, CommandFailed
from projectqa.client.cli.output import message_to_dict, print_json
from projectqa.client.cli.progress import follow_hints, follow_runs, render_started, runs_view
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.run_views import connector_label, render_summary, status_label
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import Client
from projectqa.client.errors import ClientError
from projectqa.v1 import ingestion_pb2

Run = ingestion_pb2.IngestionRun

# What a shell reports for a command ended by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def connector_names(client: Client, project: str) -> dict[str, str]:
    """Connector names by id, for display; empty if the caller may not list them."""
    try:
        return {c.id: c.name for c in client.list_connectors(project, page_size=500)}
    except ClientError:
        return {}


def report_runs(json_output: bool, runs: Sequence[Run], names: dict[str, str]) -> None:
    """Prints the finished runs (summaries or a JSON array); fails unless all succeeded."""
    if json_output:
        print_json([message_to_dict(run) for run in runs])
    else:
        for run in runs:
            click.echo()
            render_summary(run, names)
    unsuccessful = [r for r in runs if r.status != ingestion_pb2.INGESTION_STATUS_SUCCEEDED]
    if unsuccessful:
        raise CommandFailed("; ".join(_failure(run, names) for run in unsuccessful), EXIT_FAILURE)


def _failure(run: Run, names: dict[str, str]) -> str:
    text = f"run {run.id} ({connector_label(run, names)}) {status_label(run)}"
    return f"{text}: {run.error}" if run.error else text


def follow_and_report(
    client: Client,
    runs: Sequence[Run],
    names: dict[str, str],
    *,
    json_output: bool = False,
    progress: bool = True,
) -> list[Run]:
    """Shows the runs' progress (unless not ``progress``) until they end, then their
    summaries. With ``json_output`` the progress goes to stderr, so stdout holds only JSON.
    """
    with runs_view(names, err=json_output, progress=progress) as view:
        finished = follow_runs(client, runs, view)
    report_runs(json_output, finished, names)
    return finished


def stop_watching(runs: Sequence[Run]) -> None:
    """Ctrl-C while following: the runs go on; say how to find or stop them."""
    ids = ", ".join(run.id for run in runs)
    click.echo(f"\nStopped watching; the server goes on with {ids}.", err=True)
    for line in follow_hints(runs):
        click.echo(line, err=True)
    click.get_current_context().exit(EXIT_INTERRUPTED)


@click.command(cls=ProjectCommand)
@project_argument()
@click.option(
    "--connector",
    default="",
    metavar="NAME|ID",
    help="Ingest only this connector (default: every connector of the project).",
)
@click.option(
    "--full",
    is_flag=True,
    help="Read everything again and delete documents the source no longer has "
    "(default: incremental, only what changed since the last successful run).",
)
@click.option("--no-wait", is_flag=True, help="Start the runs and return at once.")
@pass_state
def ingest(state: CliState, project: str, connector: str, full: bool, no_wait: bool) -> None:
    """Ingest PROJECT (id or slug): read its sources, chunk, embed and index them.

    Shows a progress bar per run until the runs end, then what each did. Exit
    code 1 if a run failed or was cancelled. Ctrl-C stops watching only: the
    runs go on on the server (`projectqa cancel RUN_ID` stops one).
    """
    client = state.client()
    runs = client.start_ingestion(project, connector, "full" if full else "incremental")
    names = connector_names(client, project)
    if no_wait:
        if state.json_output:
            print_json([message_to_dict(run) for run in runs])
        else:
            render_started(runs, names)
        return
    try:
        follow_and_report(
            client, runs, names, json_output=state.json_output, progress=state.progress
        )
    except KeyboardInterrupt:
        stop_watching(runs)
