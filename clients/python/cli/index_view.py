"""Showing where a project's indexing stands: a dim line under search hits and
answers while the index is incomplete, and the whole status in ``projectqa metadata``."""

from __future__ import annotations

import click

from projectqa.client.cli.output import render_fields
from projectqa.client.client import Client
from projectqa.client.errors import ClientError
from projectqa.client.index_status import IndexStatus, status_line

STATUS_FIELDS = (
    "generation",
    "chunks_indexed",
    "chunks_embedded",
    "chunks_stored",
    "embedder",
    "active_run_id",
    "dense_unavailable",
    "keyword_unavailable",
)


def echo_status_line(status: IndexStatus) -> None:
    """A dim line when the index is incomplete, nothing otherwise."""
    line = status_line(status)
    if line:
        click.secho(f"\n{line}", dim=True)


def echo_project_status(client: Client, project: str) -> None:
    """The status line of ``project`` (after an answer); silent if it cannot be read."""
    try:
        status = client.index_status(project)
    except ClientError:  # an older server, or a project just deleted: nothing to add
        return
    echo_status_line(status)


def render_index_status(status: IndexStatus) -> None:
    """The index part of ``projectqa metadata``: the fields, then what is missing."""
    click.echo()
    click.secho("index", bold=True)
    render_fields(status, STATUS_FIELDS)
    echo_status_line(status)
