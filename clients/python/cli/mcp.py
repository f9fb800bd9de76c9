"""``projectqa mcp``: ProjectQA as a Model Context Protocol server for agents.

The address and TLS come from the global options, resolved as every command resolves
them. On stdio the token does too (flags, environment, the saved login, the local admin
token file): the agent that started the process is its user. Over HTTP every request
brings its own bearer token; only an explicit ``--token``/``PROJECTQA_TOKEN`` with
``--default-token-for-anonymous`` serves requests without one — never the admin token
file or a saved login, which would hand their user's access to anyone who can reach
the port. The server itself lives in :mod:`projectqa.mcp`, imported when the command
runs: the rest of the CLI does not need the SDK.
"""

from __future__ import annotations

from dataclasses import replace

import click

from projectqa.client.cli.state import CliState, pass_state

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
    help="Let --http listen beyond loopback.",
)
@click.option(
    "--default-token-for-anonymous",
    is_flag=True,
    help="With --http: run requests without 'Authorization: Bearer' as the explicit "
    "--token/PROJECTQA_TOKEN (off: they get 401).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME[:PORT]",
    help="With --http: also accept this Host header (a reverse proxy's name); repeatable.",
)
@click.option(
    "--max-result-chars",
    type=click.IntRange(min=1000, max=1_000_000),
    default=DEFAULT_MAX_RESULT_CHARS,
    show_default=True,
    help="Cut longer tool results and resources (the agent is told).",
)
@pass_state
def mcp(
    state: CliState,
    project: str | None,
    allow_side_effects: bool,
    http_bind: str | None,
    allow_remote: bool,
    default_token_for_anonymous: bool,
    allowed_hosts: tuple[str, ...],
    max_result_chars: int,
) -> None:
    """Serve MCP (stdio by default) so agents can search, grep, open files and ask.

    Every tool call is a gRPC call with the caller's token, so the server's access rules
    apply. Over HTTP each request must send 'Authorization: Bearer <token>'.
    See docs/MCP.md for Claude Code, Cursor and VS Code set-up.
    """
    import anyio

    from projectqa.client.addresses import is_loopback_host
    from projectqa.mcp.http import parse_bind, serve_http
    from projectqa.mcp.server import McpSettings, serve_stdio

    address = state.resolved_address()
    settings = McpSettings(
        address=address,
        token=None,
        tls_ca_file=state.tls_ca_file,
        tls=state.tls,
        timeout=state.timeout,
        project=project,
        allow_side_effects=allow_side_effects,
        max_result_chars=max_result_chars,
    )
    if http_bind is None:
        if default_token_for_anonymous or allowed_hosts:
            raise click.UsageError("--default-token-for-anonymous and --allowed-host need --http")
        anyio.run(serve_stdio, replace(settings, token=state.resolved_token()))
        return
    try:
        host, port = parse_bind(http_bind)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--http") from None
    if not is_loopback_host(host) and not allow_remote:
        raise click.BadParameter(
            f"{host} is not a loopback address: add --allow-remote to listen on the network",
            param_hint="--http",
        )
    for name in allowed_hosts:
        if not name or any(c in name for c in "/ \t@"):
            raise click.BadParameter(
                f"expected a host name, NAME:PORT or [IPv6]:PORT, got {name!r}",
                param_hint="--allowed-host",
            )
    if default_token_for_anonymous:
        if not state.token:
            raise click.UsageError(
                "--default-token-for-anonymous needs an explicit --token or PROJECTQA_TOKEN "
                "(the admin token file and saved logins never serve anonymous requests)"
            )
        settings = replace(settings, token=state.token)
    anyio.run(serve_http, settings, host, port, allowed_hosts)
