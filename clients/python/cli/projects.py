"""``projectqa admin project``: create, get, list, update and delete projects."""

from __future__ import annotations

import click

from projectqa.client.cli.output import show_done, show_resource, show_resources
from projectqa.client.cli.params import page_size_option
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state

PROJECT_COLUMNS = ("id", "slug", "name", "description", "create_time")


@click.group()
def project() -> None:
    """Create, show, list, change, delete projects.

    P is a project id or slug.
    """


@project.command("create")
@click.argument("slug")
@click.option("--name", help="Human-readable name (default: the slug).")
@click.option("--description", default="", help="Free-form description.")
@pass_state
def create_project(state: CliState, slug: str, name: str | None, description: str) -> None:
    """Create a project with handle SLUG (needs global admin)."""
    created = state.client().create_project(slug, name or slug, description)
    show_resource(state.json_output, created)


@project.command("get", cls=ProjectCommand)
@project_argument("p", metavar="P")
@pass_state
def get_project(state: CliState, p: str) -> None:
    """Show project P."""
    show_resource(state.json_output, state.client().get_project(p))


@project.command("list")
@page_size_option
@pass_state
def list_projects(state: CliState, page_size: int | None) -> None:
    """List the projects you can see."""
    projects = state.client().list_projects(page_size=page_size or 0)
    show_resources(state.json_output, projects, PROJECT_COLUMNS, "projects")


@project.command("update", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.option("--name", help="New name.")
@click.option("--description", help="New description ('' clears it).")
@pass_state
def update_project(state: CliState, p: str, name: str | None, description: str | None) -> None:
    """Change the name or description of project P (needs project admin)."""
    if name is None and description is None:
        raise click.UsageError("nothing to change: give --name and/or --description")
    updated = state.client().update_project(p, name=name, description=description)
    show_resource(state.json_output, updated)


@project.command("delete", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_project(state: CliState, p: str, yes: bool) -> None:
    """Delete project P with its members, connectors, LLM profiles, flags and tool settings."""
    if not yes:
        click.confirm(f"Delete project {p} and everything it holds?", abort=True, err=True)
    state.client().delete_project(p)
    show_done(state.json_output, f"Deleted project {p}.")
