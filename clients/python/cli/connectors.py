"""``projectqa admin connector``: the sources a project ingests.

Secrets are merged into the config sent to the server and never printed:
the server answers with the config minus its secret fields, plus the names of
the secret fields that hold a value. A URL written with credentials
(``https://user:password@host/…``) is a secret too: the server shows it
without them and names its field among the secrets set.
"""

from __future__ import annotations

from typing import Any

import click
from google.protobuf import json_format

from projectqa.client.cli.output import show_done, show_resource, show_resources
from projectqa.client.cli.params import (
    Assignment,
    JsonObject,
    page_size_option,
    read_env_secret,
    read_stdin_secret,
)
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state

TYPE_COLUMNS = ("name", "plugin", "description", "secret_fields")
CONNECTOR_COLUMNS = ("id", "name", "type", "config", "secret_fields_set", "update_time")


def secret_options(function: Any) -> Any:
    """The options that give secret config fields, in the order they apply."""
    options = (
        click.option(
            "--config",
            type=JsonObject(),
            default=None,
            help="Config as a JSON object, or @file.json.",
        ),
        click.option(
            "--secret",
            "secrets",
            type=Assignment(),
            multiple=True,
            help="Secret field as KEY=VALUE (repeatable), also a URL field with "
            "credentials (url=https://user:password@host/…). Prefer --secret-env or "
            "--secret-stdin: values given here land in shell history.",
        ),
        click.option(
            "--secret-env",
            type=Assignment(),
            multiple=True,
            metavar="KEY=VAR",
            help="Secret field KEY read from environment variable VAR (repeatable).",
        ),
        click.option(
            "--secret-stdin",
            metavar="KEY",
            help="Secret field KEY read from standard input.",
        ),
    )
    for option in reversed(options):
        function = option(function)
    return function


def read_secrets(
    secrets: tuple[tuple[str, str], ...],
    secret_env: tuple[tuple[str, str], ...],
    secret_stdin: str | None,
) -> dict[str, str]:
    """The secret fields given on the command line, from the environment or stdin."""
    values = dict(secrets)
    for key, variable in secret_env:
        values[key] = read_env_secret(variable, "--secret-env")
    if secret_stdin:
        values[secret_stdin] = read_stdin_secret("--secret-stdin")
    return values


@click.group()
def connector() -> None:
    """Connector types and project connectors.

    P is a project id or slug.
    """


@connector.command("types")
@page_size_option
@pass_state
def list_connector_types(state: CliState, page_size: int | None) -> None:
    """List the connector types plugins registered (with --json: their config schemas)."""
    types = state.client().list_connector_types(page_size=page_size or 0)
    show_resources(state.json_output, types, TYPE_COLUMNS, "connector types")


@connector.command("create", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.option("--type", "type_name", required=True, help="Connector type (see `types`).")
@click.option("--name", required=True, help="Name unique within the project.")
@secret_options
@pass_state
def create_connector(
    state: CliState,
    p: str,
    type_name: str,
    name: str,
    config: dict[str, Any] | None,
    secrets: tuple[tuple[str, str], ...],
    secret_env: tuple[tuple[str, str], ...],
    secret_stdin: str | None,
) -> None:
    """Add a connector to project P; its config is validated against the type's schema."""
    full_config = {**(config or {}), **read_secrets(secrets, secret_env, secret_stdin)}
    created = state.client().create_connector(p, type_name, name, full_config)
    show_resource(state.json_output, created)


def _stored_config(state: CliState, connector_id: str) -> dict[str, Any]:
    return json_format.MessageToDict(state.client().get_connector(connector_id).config)


@connector.command("update")
@click.argument("connector_id")
@click.option("--name", help="New name.")
@secret_options
@click.option(
    "--clear-secret",
    multiple=True,
    metavar="KEY",
    help="Erase secret field KEY, or the credentials of URL field KEY (repeatable).",
)
@pass_state
def update_connector(
    state: CliState,
    connector_id: str,
    name: str | None,
    config: dict[str, Any] | None,
    secrets: tuple[tuple[str, str], ...],
    secret_env: tuple[tuple[str, str], ...],
    secret_stdin: str | None,
    clear_secret: tuple[str, ...],
) -> None:
    """Change connector CONNECTOR_ID (con_…).

    --config replaces every non-secret field. Secrets given without --config
    are merged into the stored config; secret fields not given keep their values,
    and so do the credentials of a URL given back without them.
    """
    new_secrets = read_secrets(secrets, secret_env, secret_stdin)
    if name is None and config is None and not new_secrets and not clear_secret:
        raise click.UsageError(
            "nothing to change: give --name, --config, a secret or --clear-secret"
        )
    if new_secrets and config is None:
        config = _stored_config(state, connector_id)
    full_config = None if config is None else {**config, **new_secrets}
    updated = state.client().update_connector(
        connector_id, name=name, config=full_config, clear_secret_fields=clear_secret
    )
    show_resource(state.json_output, updated)


@connector.command("delete")
@click.argument("connector_id")
@pass_state
def delete_connector(state: CliState, connector_id: str) -> None:
    """Remove connector CONNECTOR_ID (con_…)."""
    state.client().delete_connector(connector_id)
    show_done(state.json_output, f"Deleted connector {connector_id}.")


@connector.command("get")
@click.argument("connector_id")
@pass_state
def get_connector(state: CliState, connector_id: str) -> None:
    """Show connector CONNECTOR_ID (con_…), without its secrets."""
    show_resource(state.json_output, state.client().get_connector(connector_id))


@connector.command("list", cls=ProjectCommand)
@project_argument("p", metavar="P")
@page_size_option
@pass_state
def list_connectors(state: CliState, p: str, page_size: int | None) -> None:
    """List the connectors of project P."""
    connectors = state.client().list_connectors(p, page_size=page_size or 0)
    show_resources(state.json_output, connectors, CONNECTOR_COLUMNS, "connectors")
