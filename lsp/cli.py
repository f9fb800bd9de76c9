"""The ``projectqa-lsp`` command: stdio by default, TCP for debugging."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from projectqa.client.connection import is_loopback
from projectqa.lsp.server import NAME, VERSION, build


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=NAME, description="Language server bridging editors to a ProjectQA server."
    )
    parser.add_argument("--address", help="host:port of the ProjectQA server")
    parser.add_argument("--token", help="bearer token (prefer PROJECTQA_TOKEN)")
    parser.add_argument("--project", help="project id or slug (else inferred)")
    # Editors' LSP clients (vscode-languageclient, …) add --stdio: it is the default anyway.
    parser.add_argument("--stdio", action="store_true", help="serve LSP on stdio (default)")
    parser.add_argument("--tcp", action="store_true", help="serve LSP on TCP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    parser.add_argument("--log-file", help="write the bridge's log here (default: stderr)")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, …")
    parser.add_argument("--version", action="version", version=f"{NAME} {VERSION}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    # stdout carries the protocol: logs go to stderr or a file, never stdout.
    handler = logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler()
    logging.basicConfig(
        level=args.log_level.upper(),
        handlers=[handler],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pygls logs requests with their parameters (the token among the initialize options)
    # at INFO and DEBUG, and a traceback for every error response, bad input included,
    # which the editor gets anyway as the response.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.CRITICAL)
    cli_settings: dict[str, Any] = {
        key: value
        for key, value in {
            "address": args.address, "token": args.token, "project": args.project
        }.items()
        if value
    }  # fmt: skip
    if args.tcp and not is_loopback(f"{args.host}:{args.port}"):
        raise SystemExit(f"{NAME}: --host must be a loopback address (it has no authentication)")
    # Over TCP any local user may connect and name the server address: the token must be
    # set then, never taken from a local server's admin.token file.
    ls = build(cli_settings, token_file=not args.tcp)
    if args.tcp:
        ls.start_tcp(args.host, args.port)
    else:
        ls.start_io(sys.stdin.buffer, sys.stdout.buffer)
