"""``projectqa admin flag``: feature flags, global or per project."""

from __future__ import annotations

import click

from projectqa.client.cli.output import print_json, show_resource, show_resources
from projectqa.client.cli.state import CliState, pass_state

FLAG_COLUMNS = ("key", "enabled", "scope")

_PROJECT_HELP = "Project id or slug (default: the global flags)."


@click.group()
def flag() -> None:
    """Feature flags, global or per project.

    A project's value overrides the global one.
    """


@flag.command("list")
@click.option("--project", default="", help=_PROJECT_HELP)
@pass_state
def list_flags(state: CliState, project: str) -> None:
    """List the effective flags of a project, or the global ones."""
    flags = state.client().get_feature_flags(project)
    show_resources(state.json_output, flags, FLAG_COLUMNS, "feature flags")


@flag.command("set")
@click.argument("key")
@click.argument("value", type=click.Choice(["on", "off"], case_sensitive=False))
@click.option("--project", default="", help=_PROJECT_HELP)
@pass_state
def set_flag(state: CliState, key: str, value: str, project: str) -> None:
    """Turn flag KEY on or off."""
    changed = state.client().set_feature_flag(key, value.lower() == "on", project=project)
    show_resource(state.json_output, changed)


@flag.command("reset")
@click.argument("key")
@click.option("--project", default="", help=_PROJECT_HELP)
@pass_state
def reset_flag(state: CliState, key: str, project: str) -> None:
    """Remove the value of flag KEY at this scope (a project falls back to the global one)."""
    effective = state.client().reset_feature_flag(key, project=project)
    if effective is not None:
        show_resource(state.json_output, effective)
    elif state.json_output:
        print_json({})
    else:
        click.echo(f"Flag {key} has no value now.")
