"""``projectqa admin tool`` (which plugin tools a project may use) and ``projectqa tools``
(the project's tool catalog, and calling a tool by name)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from google.protobuf import json_format

from projectqa.client.cli.failures import EXIT_FAILURE, CommandFailed
from projectqa.client.cli.output import message_to_dict, print_json, show_resource, show_resources
from projectqa.client.cli.params import Assignment, JsonObject, page_size_option
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.toolcalls import tool_result
from projectqa.v1 import tools_pb2

TOOL_COLUMNS = ("name", "enabled", "side_effects", "plugin", "description")
TOOL_FIELDS = ("name", "enabled", "side_effects", "plugin", "description")


@click.group()
def tool() -> None:
    """Enable plugin tools per project.

    Plugin tools start disabled. P is a project id or slug.
    """


@tool.command("list", cls=ProjectCommand)
@project_argument("p", metavar="P")
@page_size_option
@pass_state
def list_tools(state: CliState, p: str, page_size: int | None) -> None:
    """List the plugin tools and whether project P has each enabled."""
    tools = state.client().list_project_tools(p, page_size=page_size or 0)
    show_resources(state.json_output, tools, TOOL_COLUMNS, "tools")


def _set_enabled(state: CliState, p: str, tool_name: str, enabled: bool) -> None:
    changed = state.client().set_project_tool_enabled(p, tool_name, enabled)
    show_resource(state.json_output, changed, TOOL_FIELDS)


@tool.command("enable", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.argument("tool_name", metavar="TOOL")
@pass_state
def enable_tool(state: CliState, p: str, tool_name: str) -> None:
    """Let project P use TOOL."""
    _set_enabled(state, p, tool_name, True)


@tool.command("disable", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.argument("tool_name", metavar="TOOL")
@pass_state
def disable_tool(state: CliState, p: str, tool_name: str) -> None:
    """Stop project P from using TOOL."""
    _set_enabled(state, p, tool_name, False)


# ------------------------------------------------------------ projectqa tools

CATALOG_COLUMNS = ("name", "origin", "side_effects", "provider", "description")


@click.group("tools")
def tools() -> None:
    """The tools of a project's catalog: list them, call them by name.

    PROJECT is a project id or slug. Built-ins are always there; plugin tools
    once enabled (`projectqa admin tool enable`); script tools once defined
    (`projectqa custom-tools create`).
    """


@tools.command("list", cls=ProjectCommand)
@project_argument()
@pass_state
def list_catalog(state: CliState, project: str) -> None:
    """List the tools PROJECT can call (with --json: their argument schemas)."""
    catalog = state.client().list_tools(project)
    show_resources(state.json_output, catalog, CATALOG_COLUMNS, "tools")


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    return kind if isinstance(kind, str) else None


def _decoded(text: str, key: str, kind: str | None) -> Any:
    if kind == "string":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if kind is None:
            return text  # no declared type: as typed
        raise click.BadParameter(
            f"{key}: {text!r} is not a JSON {kind}", param_hint="--arg"
        ) from None


def _json_array(text: str) -> list[Any] | None:
    if not text.lstrip().startswith("["):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def arguments_from_pairs(
    pairs: Sequence[tuple[str, str]], schema: Mapping[str, Any]
) -> dict[str, Any]:
    """``--arg KEY=VALUE`` pairs as typed by the tool's schema.

    Strings stay as they are; integers, numbers, booleans and objects are read
    as JSON; an array property takes a JSON array or one element per ``--arg``.
    """
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for key, text in pairs:
        prop = properties.get(key) or {}
        kind = _schema_type(prop)
        if kind != "array":
            arguments[key] = _decoded(text, key, kind)
        elif (whole := _json_array(text)) is not None:
            arguments[key] = whole
        else:
            item_kind = _schema_type(prop.get("items") or {})
            arguments.setdefault(key, []).append(_decoded(text, key, item_kind))
    return arguments


def _tool_schema(state: CliState, project: str, tool_name: str) -> dict[str, Any]:
    for entry in state.client().list_tools(project):
        if entry.name == tool_name:
            return json_format.MessageToDict(entry.arguments_schema)
    return {}  # the server answers NOT_FOUND for the call itself


def _print_result(response: tools_pb2.InvokeToolResponse) -> None:
    result = tool_result(response)
    if isinstance(result, str):
        click.echo(result)
    elif result is not None:
        print_json(result)


@tools.command("invoke", cls=ProjectCommand)
@project_argument()
@click.argument("tool_name", metavar="TOOL")
@click.option(
    "--arg",
    "pairs",
    type=Assignment(),
    multiple=True,
    help="Argument KEY=VALUE (repeatable), typed by the tool's schema.",
)
@click.option(
    "--json-args",
    type=JsonObject(),
    default=None,
    help="Arguments as a JSON object, or @file.json; --arg values override.",
)
@pass_state
def invoke(
    state: CliState,
    project: str,
    tool_name: str,
    pairs: tuple[tuple[str, str], ...],
    json_args: dict[str, Any] | None,
) -> None:
    """Call TOOL of PROJECT and print its result.

    Exit code 1 when the tool itself failed (non-zero exit, timeout, error);
    its message goes to stderr.
    """
    arguments = dict(json_args or {})
    if pairs:
        schema = _tool_schema(state, project, tool_name)
        arguments.update(arguments_from_pairs(pairs, schema))
    response = state.client().invoke_tool(project, tool_name, arguments)
    if state.json_output:
        print_json(message_to_dict(response))
    else:
        _print_result(response)
    if response.is_error:
        raise CommandFailed(f"{tool_name} failed: {response.error}", EXIT_FAILURE)
