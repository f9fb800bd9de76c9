"""``projectqa login`` and ``logout``: keep a server address and its token for later commands.

Like ``gh auth login``: the token is checked with the server (WhoAmI) before anything
is saved, and it never needs to be typed on the command line (standard input, or a
prompt without echo). See :mod:`projectqa.client.login` for the file and its mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from projectqa.client.cli.failures import EXIT_ACCESS, CommandFailed
from projectqa.client.cli.output import print_json
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import Client
from projectqa.client.connection import resolve_tls_ca_file
from projectqa.client.errors import ClientError
from projectqa.client.login import SavedLogin, remove_login, save_login


def read_token(given: str | None) -> str:
    """``given``, else standard input when it is not a terminal, else a prompt without echo."""
    if given:
        return given.strip()
    tty = sys.stdin.isatty()
    typed = click.prompt("Token", hide_input=True, err=True) if tty else sys.stdin.read()
    token = str(typed).strip()
    if not token:
        raise click.BadParameter(
            "no token was given or read from standard input", param_hint="--token"
        )
    return token


def verified_user(address: str, token: str, state: CliState, tls: str | Path | None) -> str:
    """The name of the token's user, as the server at ``address`` says (WhoAmI)."""
    with Client(address, token, timeout=state.timeout, tls_ca_file=tls) as client:
        try:
            me = client.whoami()
        except ClientError as error:
            if error.code_name == "UNAUTHENTICATED":
                raise CommandFailed(
                    f"the server at {address} refused the token ({error.details}); "
                    "nothing was saved",
                    EXIT_ACCESS,
                ) from error
            raise CommandFailed.from_client_error(error, address) from error
    admin = " (global admin)" if me.user.global_admin else ""
    return f"{me.user.name}{admin}"


@click.command()
@click.argument("address")
@click.option(
    "--token",
    "token_option",
    metavar="TOKEN",
    help="The token (visible to other local users in the process list: prefer standard "
    "input or the prompt).",
)
@pass_state
def login(state: CliState, address: str, token_option: str | None) -> None:
    """Save ADDRESS (host:port) and a token for the commands that follow.

    The token comes from --token, else the global --token or PROJECTQA_TOKEN, else
    standard input (`projectqa login qa.example.com:443 < token.txt`), else a
    prompt that does not echo. It is checked with the server first; nothing is
    saved when the server refuses it. With --tls-ca-file the roots are saved too.

    The file is $XDG_CONFIG_HOME/projectqa/config.toml (~/.config/… by default),
    mode 0600. Afterwards --address and --token still win, then PROJECTQA_ADDRESS
    and PROJECTQA_TOKEN, then the saved login, then the local admin.token file;
    the saved token is only ever sent to the saved address.
    """
    token = read_token(token_option or state.token)
    tls = resolve_tls_ca_file(state.tls_ca_file, address)
    tls = str(Path(tls).resolve()) if tls else None
    user = verified_user(address, token, state, tls)
    path = save_login(SavedLogin(address, token, tls))
    if state.json_output:
        print_json({"address": address, "user": user, "config_file": str(path)})
    else:
        click.echo(f"Logged in to {address} as {user}; saved to {path} (mode 0600).")


@click.command()
@pass_state
def logout(state: CliState) -> None:
    """Forget the saved address and token (the token stays valid on the server:
    revoke it with `projectqa admin token revoke` if it should stop working)."""
    removed = remove_login()
    if state.json_output:
        print_json({"removed": str(removed) if removed else None})
    elif removed is None:
        click.echo("Not logged in: nothing to remove.")
    else:
        click.echo(f"Logged out: removed {removed}.")
