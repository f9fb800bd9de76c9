"""``projectqa quickstart``: a server on the embedded default, used end to end in one command.

It ingests a git repository on this machine into the demo project: the one the
current directory belongs to (a ProjectQA checkout, when run as the README
says), or ``--repo``. Running it again reuses the project and its connector,
so the second ingestion is incremental.

The first question is answered as soon as keyword search is ready (the run has
read its source and a generation holding every stored chunk is served), not after
the run: the answer says that the dense index is still filling in, the rest of the
run's progress follows, and the question is asked again once the run is done
(unless ``--no-again``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from projectqa.client.cli.answers import render_turn
from projectqa.client.cli.chat import fail_on_error
from projectqa.client.cli.demo_repo import repository_root, start_repository_run
from projectqa.client.cli.failures import EXIT_UNREACHABLE, CommandFailed
from projectqa.client.cli.first_answer import follow_until_searchable
from projectqa.client.cli.index_view import echo_status_line
from projectqa.client.cli.ingest import follow_and_report, report_runs
from projectqa.client.cli.output import render_fields, render_table
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import Client, health
from projectqa.client.connection import admin_token_path, is_loopback, login_for, resolve_address
from projectqa.client.errors import ClientError
from projectqa.client.index_status import status_notes
from projectqa.v1 import admin_pb2, common_pb2, ingestion_pb2

Run = ingestion_pb2.IngestionRun

START_TIMEOUT_S = 60.0
DEFAULT_QUESTION = "Where does the program start, and how does it read its settings?"


@click.command()
@click.option(
    "-p", "--project", "slug", default="demo", show_default=True, help="Project to set up."
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Git repository to ingest (default: the one the current directory is in).",
)
@click.option(
    "--question",
    default=DEFAULT_QUESTION,
    show_default=True,
    help="Question asked once the repository is ingested.",
)
@click.option(
    "--llm",
    "use_llm",
    is_flag=True,
    help="Answer with the configured LLM (default: quote the best passages, no LLM needed).",
)
@click.option(
    "--again/--no-again",
    default=True,
    show_default=True,
    help="Ask again once the run is done, when the first answer came before it.",
)
@click.option("--stop", is_flag=True, help="Stop the server it started once the demo is done.")
@pass_state
def quickstart(
    state: CliState,
    slug: str,
    repo: Path | None,
    question: str,
    use_llm: bool,
    again: bool,
    stop: bool,
) -> None:
    """Start a server (SQLite in the data directory) unless one answers, then use it.

    Creates the project if missing, gives it a git connector for the
    repository and ingests it with a progress bar. A first question is
    answered, streamed, citing its sources by path and lines (extractively,
    from the best passages, unless --llm), as soon as keyword search is ready;
    the rest of the run follows, then what it did, and the answer once more.
    A server this command started keeps running until Ctrl-C (or exits at
    once with --stop).
    """
    repository = repository_root(repo)
    address = resolve_address(state.address)
    server = None if _serving(state, address) else _start_server(state, address)
    try:
        _demo(state, address, slug, repository, question, extractive=not use_llm, again=again)
        if server is not None and not stop:
            click.echo(f"\nServer running at {address} (pid {server.pid}); Ctrl-C stops it.")
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()


def _serving(state: CliState, address: str) -> bool:
    try:
        status = health(address, timeout=2.0, tls_ca_file=state.tls_ca_file, tls=state.tls)
    except ClientError:
        return False
    return status == "SERVING"


def _start_server(state: CliState, address: str) -> subprocess.Popen[bytes]:
    if not is_loopback(address):
        # A server can only be started here; the address (a saved login's, say) is elsewhere.
        raise CommandFailed(
            f"the ProjectQA server at {address} is not serving, and quickstart only starts "
            "a server on this machine; give --address 127.0.0.1:50051 (or another local "
            "address) to start one here",
            EXIT_UNREACHABLE,
        )
    click.echo(f"Starting a ProjectQA server on {address} …")
    # The embedding model is bundled: nothing may be fetched from the Hugging Face hub.
    quiet = {
        "PROJECTQA_LOG_FORMAT": "text",
        "PROJECTQA_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    env = {**quiet, **os.environ, "PROJECTQA_LISTEN_ADDRESS": address}
    server = subprocess.Popen([sys.executable, "-m", "projectqa.server"], env=env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandFailed(f"the server exited with code {server.returncode}; see above")
        if _serving(state, address):
            return server
        time.sleep(0.2)
    server.terminate()
    raise CommandFailed(f"the server did not answer on {address} in time", EXIT_UNREACHABLE)


def _demo(
    state: CliState,
    address: str,
    slug: str,
    repository: Path | None,
    question: str,
    *,
    extractive: bool,
    again: bool,
) -> None:
    client, me = _connect(state, address)
    click.echo(f"\nConnected to {address} as {me.user.name} (global admin: {me.user.global_admin})")
    project = _project(client, slug)
    render_table(list(client.list_projects()), ["slug", "name", "id"], "Your projects")
    asking = Asking(client, project.id, question, extractive)
    started = start_repository_run(client, project, repository)
    if started is None:
        asking.answer(f"\nAsking {slug!r}: {question}")
    else:
        _ingest_and_answer(asking, slug, *started, again=again, progress=state.progress)
    _next_steps(slug)


def _connect(state: CliState, address: str) -> tuple[Client, admin_pb2.WhoAmIResponse]:
    """The client and who it is. A saved login's token that a local server refuses (its
    data directory was reset, say) gives way to the server's admin.token, as told."""
    client = state.client()
    try:
        return client, client.whoami()
    except ClientError as error:
        fallback = _admin_token_instead(state, address, error)
        if fallback is None:
            raise
        click.echo(
            f"The token saved by `projectqa login` for {address} was refused "
            f"({error.details}); using the server's admin token from {admin_token_path()} "
            "instead.",
            err=True,
        )
    client = state.use_token(fallback)
    return client, client.whoami()


def _admin_token_instead(state: CliState, address: str, error: ClientError) -> str | None:
    """The local admin token, when ``error`` refused the saved login's token for a server
    on this machine; else None."""
    if error.code_name != "UNAUTHENTICATED" or state.token or not is_loopback(address):
        return None
    if login_for(address) is None:
        return None  # the token came from admin.token itself: nothing else to try
    try:
        token = admin_token_path().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


@dataclass(frozen=True)
class Asking:
    """The quickstart's question, asked of one project."""

    client: Client
    project_id: str
    question: str
    extractive: bool

    def answer(self, heading: str) -> None:
        click.echo(heading)
        turn = self.client.ask(self.project_id, self.question, extractive=self.extractive)
        fail_on_error(render_turn(turn))


def _ingest_and_answer(
    asking: Asking, slug: str, run: Run, names: dict[str, str], *, again: bool, progress: bool
) -> None:
    """Answers as soon as keyword search is ready, then follows the rest of the run (and
    answers again once it is done, if the first answer came from an incomplete index)."""
    client = asking.client
    final, early = follow_until_searchable(client, asking.project_id, run, names, progress=progress)
    if early is None:  # the run ended first: its summary, then the answer
        report_runs(False, [final], names)
        asking.answer(f"\nAsking {slug!r}: {asking.question}")
        return
    if status_notes(early):
        click.echo(
            f"\nKeyword search is ready ({early.chunks_indexed:,} chunks indexed, "
            f"{early.chunks_embedded:,} embedded so far): the dense index is still filling "
            "in, so this first answer may improve."
        )
    else:
        click.echo(f"\nThe project is searchable already; run {run.id} goes on.")
    asking.answer(f"\nAsking {slug!r}: {asking.question}")
    echo_status_line(early)
    click.echo(f"\nFollowing the rest of run {run.id} …")
    follow_and_report(client, [final], names, progress=progress)
    if again and status_notes(early):
        asking.answer(f"\nAsking again now that the run is done: {asking.question}")


def _project(client: Client, slug: str) -> common_pb2.Project:
    try:
        project = client.get_project(slug)
    except ClientError as error:
        if error.code_name != "NOT_FOUND":
            raise
        project = client.create_project(slug, slug.capitalize(), "Created by projectqa quickstart")
        click.echo(f"Created project {slug!r}:")
    else:
        click.echo(f"Project {slug!r} already exists:")
    render_fields(project, ["id", "slug", "name", "create_time"])
    return project


def _next_steps(slug: str) -> None:
    steps = (
        (f'projectqa ask -p {slug} "your question"', "an answer, with its sources"),
        (f"projectqa chat -p {slug}", "a conversation about the project"),
        (f'projectqa search {slug} "your question"', "passages that answer it, cited"),
        (f"projectqa grep {slug} PATTERN", "ripgrep over the indexed checkout"),
        (f"projectqa runs {slug}", "its ingestion runs"),
        ("projectqa status", "the server, its model, each project's index"),
        (f"projectqa ingest {slug}", "ingest again: incremental, only what changed"),
        ("projectqa admin --help", "projects, users, tokens, connectors, LLMs, flags"),
    )
    width = max(len(command) for command, _ in steps) + 3
    click.echo("\nNext:")
    for command, what in steps:
        click.echo(f"  {command:<{width}}{what}")
