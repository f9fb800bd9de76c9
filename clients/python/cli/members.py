"""``projectqa admin member``: who holds which role in a project."""

from __future__ import annotations

import click

from projectqa.client.cli.enums import EnumChoice
from projectqa.client.cli.output import show_done, show_resource, show_resources
from projectqa.client.cli.params import page_size_option
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.v1 import common_pb2

MEMBER_COLUMNS = ("user_name", "user_id", "role", "update_time")


@click.group()
def member() -> None:
    """Who holds which role in a project.

    P is a project id or slug, USER a user id or name.
    """


@member.command("add", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.argument("user")
@click.option(
    "--role",
    type=EnumChoice(common_pb2.ProjectRole.DESCRIPTOR),
    default="member",
    show_default=True,
    help="member: read and chat; admin: also manage the project.",
)
@pass_state
def add_member(state: CliState, p: str, user: str, role: common_pb2.ProjectRole.ValueType) -> None:
    """Give USER a role in project P, or change the role they have."""
    show_resource(state.json_output, state.client().add_member(p, user, role))


@member.command("remove", cls=ProjectCommand)
@project_argument("p", metavar="P")
@click.argument("user")
@pass_state
def remove_member(state: CliState, p: str, user: str) -> None:
    """Take USER out of project P."""
    state.client().remove_member(p, user)
    show_done(state.json_output, f"Removed {user} from {p}.")


@member.command("list", cls=ProjectCommand)
@project_argument("p", metavar="P")
@page_size_option
@pass_state
def list_members(state: CliState, p: str, page_size: int | None) -> None:
    """List the members of project P."""
    members = state.client().list_members(p, page_size=page_size or 0)
    show_resources(state.json_output, members, MEMBER_COLUMNS, "members")
