"""``projectqa admin tool``: which plugin tools a project may use."""

from __future__ import annotations

import click

from projectqa.client.cli.output import show_resource, show_resources
from projectqa.client.cli.params import page_size_option
from projectqa.client.cli.state import CliState, pass_state

TOOL_COLUMNS = ("name", "enabled", "side_effects", "plugin", "description")
TOOL_FIELDS = ("name", "enabled", "side_effects", "plugin", "description")


@click.group()
def tool() -> None:
    """Enable plugin tools per project.

    Plugin tools start disabled. P is a project id or slug.
    """


@tool.command("list")
@click.argument("p")
@page_size_option
@pass_state
def list_tools(state: CliState, p: str, page_size: int | None) -> None:
    """List the plugin tools and whether project P has each enabled."""
    tools = state.client().list_project_tools(p, page_size=page_size or 0)
    show_resources(state.json_output, tools, TOOL_COLUMNS, "tools")


def _set_enabled(state: CliState, p: str, tool_name: str, enabled: bool) -> None:
    changed = state.client().set_project_tool_enabled(p, tool_name, enabled)
    show_resource(state.json_output, changed, TOOL_FIELDS)


@tool.command("enable")
@click.argument("p")
@click.argument("tool_name", metavar="TOOL")
@pass_state
def enable_tool(state: CliState, p: str, tool_name: str) -> None:
    """Let project P use TOOL."""
    _set_enabled(state, p, tool_name, True)


@tool.command("disable")
@click.argument("p")
@click.argument("tool_name", metavar="TOOL")
@pass_state
def disable_tool(state: CliState, p: str, tool_name: str) -> None:
    """Stop project P from using TOOL."""
    _set_enabled(state, p, tool_name, False)
