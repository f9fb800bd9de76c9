"""The ``projectqa`` command: global options, ``serve``, ``health``, ingestion and ``admin``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from projectqa.client.cli import (
    chat,
    connectors,
    custom_tools,
    files,
    flags,
    llm,
    members,
    plugins,
    projects,
    runs,
    search,
    tools,
    users,
)
from projectqa.client.cli.evaluate import evaluate_command
from projectqa.client.cli.failures import EXIT_CODES_HELP, CommandFailed, show_library_warnings
from projectqa.client.cli.ingest import ingest
from projectqa.client.cli.login import login, logout
from projectqa.client.cli.mcp import mcp as mcp_command
from projectqa.client.cli.output import print_json
from projectqa.client.cli.quickstart import quickstart
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.cli.status import status as status_command
from projectqa.client.client import DEFAULT_TIMEOUT, health
from projectqa.client.connection import DEFAULT_ADDRESS
from projectqa.client.errors import ClientError


class ProjectQAGroup(click.Group):
    """The root group: turns a failed call anywhere below into an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as error:
            state = ctx.find_object(CliState)
            address = state.resolved_address() if state is not None else None
            raise CommandFailed.from_client_error(error, address) from error


@click.group(cls=ProjectQAGroup, epilog=EXIT_CODES_HELP)
@click.option(
    "--address",
    envvar="PROJECTQA_ADDRESS",
    help="Server host:port [env PROJECTQA_ADDRESS; default: the saved login's, else "
    f"{DEFAULT_ADDRESS}].",
)
@click.option(
    "--token",
    envvar="PROJECTQA_TOKEN",
    help="Bearer token [env PROJECTQA_TOKEN; default: the saved login's, else the "
    "server's admin.token file].",
)
@click.option("--json", "json_output", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Deadline of each call, in seconds.",
)
@click.option(
    "--tls-ca-file",
    envvar="PROJECTQA_TLS_CA_FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM root certificates; connects with TLS [env PROJECTQA_TLS_CA_FILE].",
)
@click.option(
    "--tls",
    is_flag=True,
    envvar="PROJECTQA_TLS",
    help="Connect with TLS, verified with the system's root certificates (for a server "
    "with a public certificate) [env PROJECTQA_TLS=1].",
)
@click.option(
    "--no-progress",
    is_flag=True,
    envvar="PROJECTQA_NO_PROGRESS",
    help="No progress bars or progress lines (ingest, runs watch, quickstart); "
    "only warnings and the final summaries [env PROJECTQA_NO_PROGRESS].",
)
@click.version_option(package_name="projectqa")
@click.pass_context
def cli(
    ctx: click.Context,
    address: str | None,
    token: str | None,
    json_output: bool,
    timeout: float,
    tls_ca_file: Path | None,
    tls: bool,
    no_progress: bool,
) -> None:
    """ProjectQA: answers about a software project, with citations.

    Without --address and --token, the login `projectqa login` saved is used.
    Shell completion (bash; zsh_source and fish_source for those shells):

    \b
      eval "$(_PROJECTQA_COMPLETE=bash_source projectqa)"   # in ~/.bashrc
    """
    show_library_warnings()
    ctx.obj = CliState(address, token, json_output, timeout, tls_ca_file, not no_progress, tls)


@cli.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Server settings file.",
)
def serve(config_file: Path | None) -> None:
    """Run the ProjectQA server in the foreground."""
    from projectqa.server.app import main as server_main

    sys.exit(server_main(config_file))


@cli.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Server settings file (a worker reads the server's settings).",
)
def worker(config_file: Path | None) -> None:
    """Run an ingestion worker in the foreground: it executes the runs servers queue.

    Start any number against the servers' store (the same data directory, or the same
    MongoDB); set PROJECTQA_EMBEDDED_WORKER=off on the servers to leave runs to them.
    """
    from projectqa.server.worker import main as worker_main

    sys.exit(worker_main(config_file))


@cli.command("health")
@pass_state
def health_command(state: CliState) -> None:
    """Print the server's health (SERVING, NOT_SERVING, …); exit 0 only when SERVING.

    Needs no token.
    """
    state.check_saved_login(needs_token=False)
    status = health(
        state.address, timeout=state.timeout, tls_ca_file=state.tls_ca_file, tls=state.tls
    )
    if state.json_output:
        print_json({"status": status})
    else:
        click.echo(status)
    if status != "SERVING":
        sys.exit(1)


for command in (
    login,
    logout,
    status_command,
    quickstart,
    ingest,
    runs.runs,
    runs.cancel,
    runs.reindex,
    search.search,
    search.symbols,
    chat.ask,
    chat.chat,
    chat.chats,
    files.grep,
    files.open_file,
    files.list_files,
    files.metadata,
    tools.tools,
    custom_tools.custom_tools,
    evaluate_command,
    mcp_command,
    plugins.plugins,
):
    cli.add_command(command)


@cli.group()
def admin() -> None:
    """Administer projects, users, tokens, members, connectors, LLMs, flags and tools."""


for command in (
    projects.project,
    users.user,
    users.token,
    users.whoami,
    members.member,
    connectors.connector,
    llm.llm,
    flags.flag,
    tools.tool,
):
    admin.add_command(command)


def main() -> None:
    """Entry point of the ``projectqa`` console script."""
    cli(prog_name="projectqa")
