"""``projectqa login`` and ``logout``: keep a server address and its token for later commands.

Like ``gh auth login``: the token is checked with the server (WhoAmI) before anything
is saved, and it never needs to be typed on the command line (standard input, or a
prompt without echo). A token is only sent in cleartext to this machine, unless
``--insecure`` says otherwise. See :mod:`projectqa.client.login` for the file and its mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from projectqa.client.cli.failures import EXIT_ACCESS, EXIT_USAGE, CommandFailed
from projectqa.client.cli.output import print_json
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import Client
from projectqa.client.connection import Transport, is_loopback, resolve_transport
from projectqa.client.errors import ClientError
from projectqa.client.login import LoginFileError, SavedLogin, remove_login, save_login


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


def transport_for(address: str, state: CliState, *, tls: bool, insecure: bool) -> Transport:
    """How ``login`` reaches ``address``: TLS as asked (or as saved for it); plaintext
    only to this machine, or where ``insecure`` says the network is trusted."""
    transport = resolve_transport(address, tls or state.tls, state.tls_ca_file)
    if transport.tls or insecure or is_loopback(address):
        return transport
    raise CommandFailed(
        f"refusing to send a token to {address} unencrypted: it is not this machine, and "
        "neither --tls nor --tls-ca-file was given. Pass --tls (a certificate the system "
        "trusts) or --tls-ca-file FILE (your CA); or --insecure to log in over plaintext "
        "anyway (only on a network you trust: anyone on the path can read the token)",
        EXIT_USAGE,
    )


def verified_user(address: str, token: str, state: CliState, transport: Transport) -> str:
    """The name of the token's user, as the server at ``address`` says (WhoAmI)."""
    ca_file, tls = transport.ca_file, transport.tls
    with Client(address, token, timeout=state.timeout, tls_ca_file=ca_file, tls=tls) as client:
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
@click.option(
    "--tls",
    "tls_option",
    is_flag=True,
    help="TLS verified with the system's root certificates (as the global --tls); saved.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow plaintext to a server on another machine (the token crosses the network "
    "unencrypted): only on a network you trust.",
)
@pass_state
def login(
    state: CliState, address: str, token_option: str | None, tls_option: bool, insecure: bool
) -> None:
    """Save ADDRESS (host:port) and a token for the commands that follow.

    The token comes from --token, else the global --token or PROJECTQA_TOKEN, else
    standard input (`projectqa login --tls qa.example.com:443 < token.txt`), else a
    prompt that does not echo. It is checked with the server first; nothing is
    saved when the server refuses it. With --tls (the system's roots) or
    --tls-ca-file (your CA's) the connection is TLS, and so are later ones: that
    choice is saved too. Plaintext to another machine is refused unless --insecure.

    The file is $XDG_CONFIG_HOME/projectqa/config.toml (~/.config/… by default),
    mode 0600. Afterwards --address and --token still win, then PROJECTQA_ADDRESS
    and PROJECTQA_TOKEN, then the saved login, then the local admin.token file;
    the saved token is only ever sent to the saved address.
    """
    transport = transport_for(address, state, tls=tls_option, insecure=insecure)
    token = read_token(token_option or state.token)
    user = verified_user(address, token, state, transport)
    ca_file = str(Path(transport.ca_file).resolve()) if transport.ca_file else None
    plaintext_elsewhere = not transport.tls and not is_loopback(address)
    saved = SavedLogin(address, token, ca_file, tls=transport.tls, insecure=plaintext_elsewhere)
    try:
        path = save_login(saved)
    except LoginFileError as error:
        raise CommandFailed(str(error), EXIT_ACCESS) from None
    if state.json_output:
        print_json(
            {"address": address, "user": user, "config_file": str(path), "tls": transport.tls}
        )
    else:
        over = "TLS" if transport.tls else "plaintext"
        click.echo(f"Logged in to {address} as {user} over {over}; saved to {path} (mode 0600).")


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
