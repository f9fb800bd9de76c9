"""``projectqa admin user``, ``token`` and ``whoami``: identities and API tokens."""

from __future__ import annotations

import click

from projectqa.client.cli.output import (
    message_to_dict,
    print_json,
    render_fields,
    render_table,
    show_resource,
    show_resources,
)
from projectqa.client.cli.params import Duration, page_size_option
from projectqa.client.cli.state import CliState, pass_state

USER_COLUMNS = ("id", "name", "display_name", "global_admin", "create_time")
TOKEN_COLUMNS = ("id", "user_id", "description", "create_time", "expire_time", "revoke_time")
MEMBERSHIP_COLUMNS = ("project_slug", "project_id", "role", "update_time")


@click.group()
def user() -> None:
    """Create and list users."""


@user.command("create")
@click.argument("name")
@click.option("--display-name", default="", help="Name shown to people.")
@click.option("--global-admin", is_flag=True, help="Make the user administer the whole server.")
@pass_state
def create_user(state: CliState, name: str, display_name: str, global_admin: bool) -> None:
    """Create user NAME (needs global admin)."""
    created = state.client().create_user(name, display_name=display_name, global_admin=global_admin)
    show_resource(state.json_output, created)


@user.command("list")
@page_size_option
@pass_state
def list_users(state: CliState, page_size: int | None) -> None:
    """List every user (needs global admin)."""
    users = state.client().list_users(page_size=page_size or 0)
    show_resources(state.json_output, users, USER_COLUMNS, "users")


@click.group()
def token() -> None:
    """Issue, list and revoke API tokens.

    A token's secret is shown once, when it is issued.
    """


@token.command("create")
@click.option("--user", "user_ref", default="", help="User id or name (default: yourself).")
@click.option("--description", default="", help="What the token is for.")
@click.option(
    "--ttl",
    type=Duration(),
    default=0,
    help="Lifetime: seconds, or a number with s/m/h/d/w (30d, 12h); default never expires.",
)
@pass_state
def create_token(state: CliState, user_ref: str, description: str, ttl: int) -> None:
    """Issue a token and print its secret, which cannot be shown again."""
    issued = state.client().create_token(user=user_ref, description=description, ttl_seconds=ttl)
    if state.json_output:
        print_json(message_to_dict(issued))
        return
    render_fields(issued.token)
    click.echo()
    click.secho("Secret (shown only now; store it somewhere safe):", bold=True, err=True)
    click.echo(issued.secret)


@token.command("list")
@click.option("--user", "user_ref", default="", help="User id or name (default: yourself).")
@page_size_option
@pass_state
def list_tokens(state: CliState, user_ref: str, page_size: int | None) -> None:
    """List a user's tokens (metadata only)."""
    tokens = state.client().list_tokens(user=user_ref, page_size=page_size or 0)
    show_resources(state.json_output, tokens, TOKEN_COLUMNS, "tokens")


@token.command("revoke")
@click.argument("token_id")
@pass_state
def revoke_token(state: CliState, token_id: str) -> None:
    """Revoke token TOKEN_ID (tok_…) at once."""
    show_resource(state.json_output, state.client().revoke_token(token_id))


@click.command()
@pass_state
def whoami(state: CliState) -> None:
    """Show who you are: user, token in use and project memberships."""
    me = state.client().whoami()
    if state.json_output:
        print_json(message_to_dict(me))
        return
    render_fields(me.user)
    click.echo()
    render_fields(me.token, ("id", "description", "create_time", "expire_time"))
    click.echo()
    render_table(list(me.memberships), MEMBERSHIP_COLUMNS, "memberships")
