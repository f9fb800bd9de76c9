"""``projectqa plugins``: what the server loaded from the ``projectqa`` entry points."""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.table import Table
from rich.text import Text

from projectqa.client.cli.output import console, message_to_dict, print_json
from projectqa.client.cli.state import CliState, pass_state
from projectqa.v1 import admin_pb2


@click.command("plugins")
@pass_state
def plugins(state: CliState) -> None:
    """List the server's plugins: version, what each registered, and blocked ones with why.

    Built-in connectors are plugins too (distribution `projectqa`). A blocked
    plugin contributes nothing; its reason says what to fix (an import error, a
    misspelt hook, a duplicate entry-point name).
    """
    listed = state.client().list_plugins()
    if state.json_output:
        print_json([message_to_dict(plugin) for plugin in listed])
        return
    render_plugins(listed)


def render_plugins(listed: Sequence[admin_pb2.Plugin]) -> None:
    if not listed:
        console().print(Text("No plugins.", style="dim"))
        return
    table = Table(title="plugins", title_justify="left", title_style="bold")
    for column in ("name", "distribution", "version", "registered", "status"):
        table.add_column(column, overflow="fold")
    for plugin in listed:
        table.add_row(
            plugin.name,
            plugin.distribution or "-",
            plugin.version or "-",
            _registered(plugin),
            _status(plugin),
        )
    console().print(table)


# The reason the server gives an entry point that PROJECTQA_PLUGINS leaves out
# (server/plugin_host.py NOT_ALLOWED): turned off by the operator, not broken.
NOT_ALLOWED = "not in PROJECTQA_PLUGINS"


def _status(plugin: admin_pb2.Plugin) -> Text:
    if plugin.blocked and plugin.blocked_reason == NOT_ALLOWED:
        return Text(f"off ({NOT_ALLOWED})", style="dim")
    status = (
        Text(f"blocked: {plugin.blocked_reason}", style="red") if plugin.blocked else Text("loaded")
    )
    for problem in plugin.problems:  # contributions refused one by one
        status.append(f"\nrefused: {problem}", style="yellow")
    return status


def _registered(plugin: admin_pb2.Plugin) -> str:
    parts = [f"connector {name}" for name in plugin.connector_types]
    parts += [f"tool {name}" for name in plugin.tools]
    return ", ".join(parts) or "-"
