"""``projectqa status``: which server answers, what it runs, and where each project's index stands.

One screen for "is it working?": the address (and where it came from), health,
version, embedder, store backend, default LLM and uptime (AdminService.GetServerInfo),
the caller, then one row per project the caller can see (GetIndexStatus and the
newest ingestion run). Exit code 0 when the server is SERVING, 5 when it cannot be
reached, 1 otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from click.core import ParameterSource
from rich.table import Table
from rich.text import Text

from projectqa.client.cli.failures import CommandFailed
from projectqa.client.cli.output import console, format_timestamp, message_to_dict, print_json
from projectqa.client.cli.run_views import format_seconds, status_label, status_text
from projectqa.client.cli.state import CliState
from projectqa.client.client import Client, health
from projectqa.client.connection import login_for
from projectqa.client.errors import ClientError
from projectqa.client.index_status import IndexStatus, dense_share, status_notes
from projectqa.client.ingestion import is_active
from projectqa.v1 import admin_pb2, common_pb2, ingestion_pb2

Run = ingestion_pb2.IngestionRun
ServerInfo = admin_pb2.GetServerInfoResponse
LABEL_WIDTH = len("default LLM")


@dataclass(frozen=True)
class ProjectState:
    """One project's index status and newest run, or why they could not be read."""

    project: common_pb2.Project
    index: IndexStatus | None = None
    last_run: Run | None = None
    error: str = ""

    def summary(self) -> str:
        """In words: "ready", "ingesting (run …)", "dense index 40 % (…)", …"""
        if self.error or self.index is None:
            return f"error: {self.error}"
        parts = status_notes(self.index)
        if self.index.active_run_id:
            parts.insert(0, f"ingesting (run {self.index.active_run_id})")
        run = self.last_run
        if (
            run is not None
            and not is_active(run)
            and run.status != ingestion_pb2.INGESTION_STATUS_SUCCEEDED
        ):
            parts.append(f"last run {status_label(run)}")
        return "; ".join(parts) or "ready"


def address_source(ctx: click.Context, address: str) -> str:
    """Where the address came from: --address, PROJECTQA_ADDRESS, the saved login, default."""
    source = ctx.find_root().get_parameter_source("address")
    if source is ParameterSource.COMMANDLINE:
        return "--address"
    if source is ParameterSource.ENVIRONMENT:
        return "PROJECTQA_ADDRESS"
    return "saved login" if login_for(address) is not None else "default"


def project_state(client: Client, project: common_pb2.Project) -> ProjectState:
    try:
        index = client.index_status(project.id)
        runs = client.list_ingestion_runs(project.id, page_size=1)
        return ProjectState(project, index, next(iter(runs), None))
    except ClientError as error:  # deleted meanwhile, or an older server
        return ProjectState(project, error=f"{error.code_name}: {error.details}")


def server_info(client: Client) -> ServerInfo | None:
    """GetServerInfo; None from a server older than the RPC."""
    try:
        return client.server_info()
    except ClientError as error:
        if error.code_name == "UNIMPLEMENTED":
            return None
        raise


def llm_text(info: ServerInfo) -> str:
    if info.default_llm_model:
        return info.default_llm_model
    return "none: answers are extractive unless a project or chat names an LLM profile"


def uptime(info: ServerInfo, now: datetime) -> str:
    up = (now - info.started_at.ToDatetime(tzinfo=UTC)).total_seconds()
    return f"{format_timestamp(info.started_at)} (up {format_seconds(up)})"


def server_rows(info: ServerInfo | None, user: admin_pb2.User) -> list[tuple[str, str]]:
    admin = " (global admin)" if user.global_admin else ""
    rows = [("you", f"{user.name}{admin}")]
    if info is None:
        return [("server info", "- (the server predates GetServerInfo)"), *rows]
    return [
        ("version", info.version),
        ("embedder", info.embedder),
        ("store", info.store_backend),
        ("default LLM", llm_text(info)),
        ("started", uptime(info, datetime.now(UTC))),
        *rows,
    ]


def render_rows(rows: list[tuple[str, str]]) -> None:
    """``label  value`` lines; one label width for every block, so the server line printed
    first lines up with the rest. Plain lines, not a grid: a grid pads every cell to its
    column's width, leaving trailing spaces after the shorter values."""
    out = console()
    for name, value in rows:
        out.print(Text.assemble((name.ljust(LABEL_WIDTH), "bold"), "  ", value))


def _embedded(index: IndexStatus | None) -> str:
    if index is None or index.generation <= 0:
        return "-"
    return f"{int(100 * dense_share(index))} %"


def _last_run(run: Run | None) -> Text:
    if run is None:
        return Text("never", style="dim")
    text = status_text(run)
    if run.HasField("finish_time"):
        text.append(f"  {format_timestamp(run.finish_time)}", style="dim")
    return text


def render_projects(states: list[ProjectState]) -> None:
    if not states:
        console().print(Text("\nNo projects (none you can see).", style="dim"))
        return
    # The heading printed as a line of its own: a table's title is padded to its width.
    console().print(Text("\nprojects", style="bold"))
    table = Table()
    for column in ("project", "generation", "chunks", "embedded", "last run", "state"):
        table.add_column(column, overflow="fold", no_wrap=column == "project")
    for state in states:
        index = state.index
        table.add_row(
            Text(state.project.slug),
            str(index.generation) if index else "-",
            f"{index.chunks_indexed:,}" if index else "-",
            _embedded(index),
            _last_run(state.last_run),
            Text(state.summary()),
        )
    console().print(table)


def status_json(
    address: str, source: str, serving: str, info: ServerInfo | None,
    user: admin_pb2.User, states: list[ProjectState],
) -> dict[str, Any]:  # fmt: skip
    return {
        "address": address,
        "address_source": source,
        "health": serving,
        "server": message_to_dict(info) if info is not None else None,
        "user": {"name": user.name, "global_admin": user.global_admin},
        "projects": [
            {
                "id": s.project.id,
                "slug": s.project.slug,
                "index_status": message_to_dict(s.index) if s.index is not None else None,
                "last_run": message_to_dict(s.last_run) if s.last_run is not None else None,
                "state": s.summary(),
            }
            for s in states
        ],
    }


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the server (address, health, version, embedder, store, default LLM, uptime),
    who you are, and each of your projects' index state.

    Exit code 0 when the server is SERVING, 5 when it cannot be reached, 1 otherwise.
    """
    state = ctx.ensure_object(CliState)
    state.check_saved_login()
    address = state.resolved_address()
    source = address_source(ctx, address)
    if not state.json_output:
        render_rows([("server", f"{address} ({source})")])
    try:
        serving = health(
            address, timeout=state.timeout, tls_ca_file=state.tls_ca_file, tls=state.tls
        )
    except ClientError as error:
        raise CommandFailed.from_client_error(error, address) from error
    if serving != "SERVING":
        if state.json_output:
            print_json({"address": address, "address_source": source, "health": serving})
        else:
            render_rows([("health", serving)])
        sys.exit(1)
    client = state.client()
    info, user = server_info(client), client.whoami().user
    states = [project_state(client, project) for project in client.list_projects()]
    if state.json_output:
        print_json(status_json(address, source, serving, info, user, states))
        return
    render_rows([("health", serving), *server_rows(info, user)])
    render_projects(states)
