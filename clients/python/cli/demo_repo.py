"""The quickstart's repository: find it, give the project a git connector for it, ingest it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click
from google.protobuf import json_format

from projectqa.client.client import Client
from projectqa.client.errors import ClientError
from projectqa.client.ingestion import is_active
from projectqa.v1 import admin_pb2, common_pb2, ingestion_pb2

CONNECTOR_NAME = "repo"


def _work_tree_root(start: Path) -> Path | None:
    try:
        found = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):  # no git installed, or it hung
        return None
    root = found.stdout.strip()
    return Path(root) if found.returncode == 0 and root else None


def repository_root(repo: Path | None) -> Path | None:
    """The top of the work tree of ``repo``, else of the current directory; None if neither.

    A ``repo`` outside any git work tree is a usage error.
    """
    if repo is None:
        return _work_tree_root(Path.cwd())
    root = _work_tree_root(repo.resolve())
    if root is None:
        raise click.BadParameter(f"{repo} is not in a git work tree", param_hint="--repo")
    return root


def _existing_connector(client: Client, project: common_pb2.Project) -> admin_pb2.Connector | None:
    found = [c for c in client.list_connectors(project.id) if c.name == CONNECTOR_NAME]
    return found[0] if found else None


def _url(connector: admin_pb2.Connector) -> str:
    return str(json_format.MessageToDict(connector.config).get("url", ""))


def _git_connector(
    client: Client, project: common_pb2.Project, repository: Path
) -> admin_pb2.Connector:
    """The project's ``repo`` connector, created or pointed at ``repository`` as needed."""
    url = str(repository)
    connector = _existing_connector(client, project)
    if connector is None:
        click.echo(f"\nCreated git connector {CONNECTOR_NAME!r} for {url}")
        return client.create_connector(project.id, "git", CONNECTOR_NAME, {"url": url})
    if _url(connector) == url:
        click.echo(f"\nGit connector {CONNECTOR_NAME!r} already reads {url}")
        return connector
    click.echo(f"\nPointed git connector {CONNECTOR_NAME!r} at {url}")
    return client.update_connector(connector.id, config={"url": url})


def _start_or_join(
    client: Client, project: common_pb2.Project, connector: admin_pb2.Connector
) -> ingestion_pb2.IngestionRun:
    """A new incremental run of the connector, or the one it already has going."""
    try:
        return client.start_ingestion(project.id, connector.id)[0]
    except ClientError as error:
        if error.code_name != "FAILED_PRECONDITION":
            raise
        for run in client.list_ingestion_runs(project.id, connector.id):
            if is_active(run):
                click.echo(f"Run {run.id} is already ingesting it; following that one.")
                return run
        raise


def start_repository_run(
    client: Client, project: common_pb2.Project, repository: Path | None
) -> tuple[ingestion_pb2.IngestionRun, dict[str, str]] | None:
    """Starts (or joins) the ingestion of ``repository`` into ``project``: the run and the
    connector names to show it with; None when there is nothing to ingest.

    Without a repository, the connector an earlier quickstart created is
    ingested again, if there is one.
    """
    connector = (
        _git_connector(client, project, repository)
        if repository is not None
        else _existing_connector(client, project)
    )
    if connector is None:
        click.echo(
            "\nThe current directory is not in a git work tree, so there is nothing to ingest; "
            "run again with --repo PATH to ingest a repository."
        )
        return None
    if repository is None:
        click.echo(f"\nGit connector {CONNECTOR_NAME!r} reads {_url(connector)}")
    click.echo(f"Ingesting {_url(connector)} (only committed files) …")
    return _start_or_join(client, project, connector), {connector.id: connector.name}
