"""``projectqa runs``, ``cancel`` and ``reindex``: look after ingestion runs and indexes."""

from __future__ import annotations

from itertools import islice
from typing import Any

import click
from rich.table import Table

from projectqa.client.cli.ingest import connector_names, follow_and_report, stop_watching
from projectqa.client.cli.output import console, message_to_dict, print_json
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.run_views import format_seconds, render_details, render_runs
from projectqa.client.cli.state import CliState, pass_state

MAX_PAGE_SIZE = 500


class DefaultCommandGroup(click.Group):
    """A group that runs its ``default`` subcommand when no subcommand is named.

    So ``projectqa runs demo`` is ``projectqa runs list demo``, while
    ``projectqa runs show RUN_ID`` still reaches ``show``.
    """

    def __init__(self, *args: Any, default: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first is not None and first not in self.commands and first not in ctx.help_option_names:
            args = [self.default, *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup, default="list")
def runs() -> None:
    """Ingestion runs: list a project's (`runs PROJECT`), show or watch one."""


@runs.command("list", cls=ProjectCommand)
@project_argument()
@click.option("--connector", default="", metavar="NAME|ID", help="Only this connector's runs.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many runs, newest first.",
)
@pass_state
def list_runs(state: CliState, project: str, connector: str, limit: int) -> None:
    """List the runs of PROJECT (id or slug), newest first."""
    client = state.client()
    listing = client.list_ingestion_runs(project, connector, page_size=min(limit, MAX_PAGE_SIZE))
    found = list(islice(listing, limit))
    if state.json_output:
        print_json([message_to_dict(run) for run in found])
    else:
        render_runs(found, connector_names(client, project))


@runs.command("show")
@click.argument("run_id")
@pass_state
def show_run(state: CliState, run_id: str) -> None:
    """Show run RUN_ID (run_…) with its counts and the warnings it kept."""
    client = state.client()
    run = client.get_ingestion_run(run_id)
    if state.json_output:
        print_json(message_to_dict(run))
    else:
        render_details(run, connector_names(client, run.project_id))


@runs.command("watch")
@click.argument("run_id")
@pass_state
def watch_run(state: CliState, run_id: str) -> None:
    """Follow run RUN_ID to its end with a progress bar; exit 1 unless it succeeds."""
    client = state.client()
    run = client.get_ingestion_run(run_id)
    try:
        names = connector_names(client, run.project_id)
        follow_and_report(
            client, [run], names, json_output=state.json_output, progress=state.progress
        )
    except KeyboardInterrupt:
        stop_watching([run])


@click.command()
@click.argument("run_id")
@pass_state
def cancel(state: CliState, run_id: str) -> None:
    """Stop run RUN_ID (run_…); the project's indexes stay as they were.

    Exit code 6 if the run has already ended.
    """
    run = state.client().cancel_ingestion(run_id)
    if state.json_output:
        print_json(message_to_dict(run))
    else:
        click.echo(f"Cancelling run {run.id}; it stops shortly (projectqa runs show {run.id}).")


@click.command(cls=ProjectCommand)
@project_argument()
@pass_state
def reindex(state: CliState, project: str) -> None:
    """Rebuild the dense and keyword indexes of PROJECT from the Store.

    Nothing is read from the sources; use it after changing index settings or
    when an index on disk is suspect.
    """
    report = state.client().rebuild_indexes(project)
    if state.json_output:
        print_json(message_to_dict(report))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("generation", str(report.generation))
    grid.add_row("chunks", str(report.chunks))
    grid.add_row("vectors", str(report.vectors))
    grid.add_row("dense index", report.dense_kind)
    grid.add_row("took", format_seconds(report.seconds))
    click.echo(f"Rebuilt the indexes of {project}:")
    console().print(grid)
