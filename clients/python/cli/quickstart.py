"""``projectqa quickstart``: a server on the embedded default, used end to end in one command.

It ingests a git repository on this machine into the demo project: the one the
current directory belongs to (a ProjectQA checkout, when run as the README
says), or ``--repo``. Running it again reuses the project and its connector,
so the second ingestion is incremental.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from projectqa.client.cli.answers import render_turn
from projectqa.client.cli.chat import fail_on_error
from projectqa.client.cli.demo_repo import ingest_repository, repository_root
from projectqa.client.cli.failures import EXIT_UNREACHABLE, CommandFailed
from projectqa.client.cli.output import render_fields, render_table
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import health
from projectqa.client.connection import resolve_address
from projectqa.client.errors import ClientError

START_TIMEOUT_S = 60.0
DEFAULT_QUESTION = "Where does the program start, and how does it read its settings?"


@click.command()
@click.option("--project", "slug", default="demo", show_default=True, help="Project to set up.")
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
@click.option("--stop", is_flag=True, help="Stop the server it started once the demo is done.")
@pass_state
def quickstart(
    state: CliState, slug: str, repo: Path | None, question: str, use_llm: bool, stop: bool
) -> None:
    """Start a server (SQLite in the data directory) unless one answers, then use it.

    Creates the project if missing, gives it a git connector for the
    repository, ingests it with a progress bar, prints what the run did and
    answers a first question, streamed, citing its sources by path and lines
    (extractively, from the best passages, unless --llm).
    A server this command started keeps running until Ctrl-C (or exits at
    once with --stop).
    """
    repository = repository_root(repo)
    address = resolve_address(state.address)
    server = None if _serving(address) else _start_server(address)
    try:
        _demo(state, address, slug, repository, question, extractive=not use_llm)
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


def _serving(address: str) -> bool:
    try:
        return health(address, timeout=2.0) == "SERVING"
    except ClientError:
        return False


def _start_server(address: str) -> subprocess.Popen[bytes]:
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
        if _serving(address):
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
) -> None:
    client = state.client()
    me = client.whoami()
    click.echo(f"\nConnected to {address} as {me.user.name} (global admin: {me.user.global_admin})")
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
    render_table(list(client.list_projects()), ["slug", "name", "id"], "Your projects")
    ingest_repository(client, project, repository)
    click.echo(f"\nAsking {slug!r}: {question}")
    fail_on_error(render_turn(client.ask(project.id, question, extractive=extractive)))
    _next_steps(slug)


def _next_steps(slug: str) -> None:
    steps = (
        (f'projectqa ask -p {slug} "your question"', "an answer, with its sources"),
        (f"projectqa chat -p {slug}", "a conversation about the project"),
        (f'projectqa search {slug} "your question"', "passages that answer it, cited"),
        (f"projectqa grep {slug} PATTERN", "ripgrep over the indexed checkout"),
        (f"projectqa runs {slug}", "its ingestion runs"),
        (f"projectqa ingest {slug}", "ingest again: incremental, only what changed"),
        ("projectqa admin --help", "projects, users, tokens, connectors, LLMs, flags"),
    )
    width = max(len(command) for command, _ in steps) + 3
    click.echo("\nNext:")
    for command, what in steps:
        click.echo(f"  {command:<{width}}{what}")
