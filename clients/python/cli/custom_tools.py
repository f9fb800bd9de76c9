"""``projectqa custom-tools``: script tools a project admin defines.

A script tool is an argv run in the project's checkout, never through a
shell. Items of the command that are ``{name}`` take the argument ``name`` of
the tool's JSON Schema (an array argument gives one item per element); the
command comes last, after ``--``::

    projectqa custom-tools create shop lint --description "Lint a path" \\
        --schema '{"type": "object", "properties": {"path": {"type": "string"}}}' \\
        -- ruff check {path}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from projectqa.client.admin import present, to_struct
from projectqa.client.cli.output import show_done, show_resource, show_resources
from projectqa.client.cli.params import JsonObject, page_size_option
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import Client
from projectqa.v1 import admin_pb2

TOOL_COLUMNS = ("name", "enabled", "side_effects", "timeout_seconds", "command", "description")
TOOL_FIELDS = (
    "id",
    "name",
    "description",
    "command",
    "arguments_schema",
    "timeout_seconds",
    "max_output_bytes",
    "side_effects",
    "connector",
    "enabled",
    "create_time",
    "update_time",
)


def _limits(function: Any) -> Any:
    """Options create and update share."""
    options = (
        click.option(
            "--schema",
            type=JsonObject(),
            default=None,
            help="JSON Schema of the arguments (an object schema), or @file.json.",
        ),
        click.option(
            "--timeout",
            type=click.IntRange(0, 600),
            default=None,
            help="Seconds before it is killed (1-600; 0: the default).",
        ),
        click.option(
            "--max-output-bytes",
            type=click.IntRange(min=0),
            default=None,
            help="Output kept, in bytes (0: the default).",
        ),
        click.option(
            "--connector", default=None, metavar="NAME|ID", help="Whose checkout to run in."
        ),
    )
    for option in reversed(options):
        function = option(function)
    return function


@click.group("custom-tools")
def custom_tools() -> None:
    """Script tools of a project: create, update, delete, list.

    PROJECT is a project id or slug. Creating, changing and deleting need
    project admin; tools with side effects are asked about before the chat
    runs them.
    """


@custom_tools.command("create", cls=ProjectCommand)
@project_argument()
@click.argument("name")
@click.argument("command", nargs=-1, required=True)
@click.option("--description", required=True, help="What it does, for users and the LLM.")
@_limits
@click.option("--side-effects", is_flag=True, help="It changes something (needs approval).")
@click.option("--disabled", is_flag=True, help="Define it without adding it to the catalog.")
@pass_state
def create(
    state: CliState,
    project: str,
    name: str,
    command: tuple[str, ...],
    description: str,
    schema: dict[str, Any] | None,
    timeout: int | None,
    max_output_bytes: int | None,
    connector: str | None,
    side_effects: bool,
    disabled: bool,
) -> None:
    """Define script tool NAME of PROJECT running COMMAND (after `--`).

    Zero or absent limits take the server's defaults (30 s, 64 KiB).
    """
    tool = admin_pb2.CustomTool(
        name=name,
        description=description,
        command=list(command),
        arguments_schema=to_struct(schema or {}),
        timeout_seconds=timeout or 0,
        max_output_bytes=max_output_bytes or 0,
        side_effects=side_effects,
        connector=connector or "",
        enabled=not disabled,
    )
    client = state.client()
    request = admin_pb2.CreateCustomToolRequest(project=project, tool=tool)
    created = client.call(client.admin.CreateCustomTool, request).tool
    show_resource(state.json_output, created, TOOL_FIELDS)


@custom_tools.command("update", cls=ProjectCommand)
@project_argument()
@click.argument("name")
@click.argument("command", nargs=-1)
@click.option("--description", default=None, help="New description.")
@_limits
@click.option("--side-effects/--no-side-effects", default=None, help="New side-effects flag.")
@click.option("--enable/--disable", "enabled", default=None, help="Add to or drop from catalog.")
@pass_state
def update(
    state: CliState,
    project: str,
    name: str,
    command: tuple[str, ...],
    description: str | None,
    schema: dict[str, Any] | None,
    timeout: int | None,
    max_output_bytes: int | None,
    connector: str | None,
    side_effects: bool | None,
    enabled: bool | None,
) -> None:
    """Change script tool NAME of PROJECT; a COMMAND after `--` replaces the old one.

    Options not given keep their values.
    """
    changes = present(
        description=description,
        arguments_schema=None if schema is None else to_struct(schema),
        timeout_seconds=timeout,
        max_output_bytes=max_output_bytes,
        side_effects=side_effects,
        connector=connector,
        enabled=enabled,
    )
    if not changes and not command:
        raise click.UsageError("nothing to change: give an option or a new command after --")
    request = admin_pb2.UpdateCustomToolRequest(
        project=project, name=name, command=list(command), replace_command=bool(command), **changes
    )
    client = state.client()
    updated = client.call(client.admin.UpdateCustomTool, request).tool
    show_resource(state.json_output, updated, TOOL_FIELDS)


@custom_tools.command("delete", cls=ProjectCommand)
@project_argument()
@click.argument("name")
@pass_state
def delete(state: CliState, project: str, name: str) -> None:
    """Delete script tool NAME of PROJECT."""
    client = state.client()
    request = admin_pb2.DeleteCustomToolRequest(project=project, name=name)
    client.call(client.admin.DeleteCustomTool, request)
    show_done(state.json_output, f"Deleted tool {name}.")


def list_custom_tools(
    client: Client, project: str, page_size: int = 0
) -> Iterator[admin_pb2.CustomTool]:
    """Every script tool of ``project``, following page tokens."""
    request = admin_pb2.ListCustomToolsRequest(project=project, page_size=page_size)
    while True:
        response = client.call(client.admin.ListCustomTools, request)
        yield from response.tools
        if not response.next_page_token:
            return
        request.page_token = response.next_page_token


@custom_tools.command("list", cls=ProjectCommand)
@project_argument()
@page_size_option
@pass_state
def list_tools(state: CliState, project: str, page_size: int | None) -> None:
    """List the script tools of PROJECT."""
    found = list_custom_tools(state.client(), project, page_size or 0)
    show_resources(state.json_output, found, TOOL_COLUMNS, "custom tools")
