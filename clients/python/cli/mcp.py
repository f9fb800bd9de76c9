"""``projectqa mcp``: ProjectQA as a Model Context Protocol server for agents.

The address, token and TLS come from the global options, resolved as every command
resolves them (flags, environment, the saved login, the local admin token file). The
server itself lives in :mod:`projectqa.mcp`, imported when the command runs: the rest of
the CLI does not need the SDK.
"""

from __future__ import annotations

import click

from projectqa.client.cli.failures import missing_token
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.connection import admin_token_path, resolve_address, resolve_token

DEFAULT_MAX_RESULT_CHARS = 24_000


@click.command("mcp")
@click.option("--project", "-p", help="Serve only this project (slug or id); tools then take none.")
@click.option(
    "--allow-side-effects",
    is_flag=True,
    help="Also offer the project's tools that change something (off: they are not listed).",
)
@click.option(
    "--http",
    "http_bind",
    metavar="HOST:PORT",
    help="Serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio (port 0: any free).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Let --http listen beyond loopback; every request must then bring its own token.",
)
@click.option(
    "--max-result-chars",
    type=click.IntRange(min=1000, max=1_000_000),
    default=DEFAULT_MAX_RESULT_CHARS,
    show_default=True,
    help="Cut longer tool results (the agent is told).",
)
@pass_state
def mcp(
    state: CliState,
    project: str | None,
    allow_side_effects: bool,
    http_bind: str | None,
    allow_remote: bool,
    max_result_chars: int,
) -> None:
    """Serve MCP (stdio by default) so agents can search, grep, open files and ask.

    Every tool call is a gRPC call with the token, so the server's access rules apply.
    Over HTTP a caller's own 'Authorization: Bearer <token>' is used when sent.
    See docs/MCP.md for Claude Code, Cursor and VS Code set-up.
    """
    import anyio

    from projectqa.mcp.http import is_loopback_host, parse_bind, serve_http
    from projectqa.mcp.server import McpSettings, serve_stdio

    state.check_saved_login()
    address = resolve_address(state.address)
    token = resolve_token(state.token, address)
    settings = McpSettings(
        address=address,
        token=token,
        tls_ca_file=state.tls_ca_file,
        timeout=state.timeout,
        project=project,
        allow_side_effects=allow_side_effects,
        max_result_chars=max_result_chars,
    )
    if http_bind is None:
        if token is None:
            raise missing_token(admin_token_path(), address)
        anyio.run(serve_stdio, settings)
        return
    try:
        host, port = parse_bind(http_bind)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--http") from None
    if not is_loopback_host(host) and not allow_remote:
        raise click.BadParameter(
            f"{host} is not a loopback address: add --allow-remote to listen on the network "
            "(each request must then send its own bearer token)",
            param_hint="--http",
        )
    anyio.run(serve_http, settings, host, port)
