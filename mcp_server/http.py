"""``projectqa mcp --http HOST:PORT``: MCP over Streamable HTTP, for shared deployments.

Each request may carry its caller's own ``Authorization: Bearer <ProjectQA token>``,
which is what the gRPC calls then use: per-user access rules hold through a shared MCP
server. A request without one falls back to the MCP server's own token — on a loopback
bind only. A non-loopback bind needs ``--allow-remote`` and then refuses (401) every
request without a bearer token, so the server's token never serves the network. TLS is
for a reverse proxy in front (docs/MCP.md).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from projectqa.mcp.server import McpSettings, ProjectQAMcp

ENDPOINT = "/mcp"


def parse_bind(value: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` / ``[::1]:PORT``; ValueError naming what is wrong."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8765), got {value!r}")
    return host, int(port)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequireBearer:
    """Answers 401 to any HTTP request without ``Authorization: Bearer …``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _has_bearer(scope.get("headers", [])):
            response = JSONResponse(
                {"error": "send 'Authorization: Bearer <ProjectQA token>'"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_bearer(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and bool(token.strip())
    return False


def http_app(mcp: ProjectQAMcp, host: str) -> ASGIApp:
    """The Starlette app of the SDK (DNS-rebinding protection on loopback hosts), behind
    :class:`RequireBearer` when it listens beyond this machine."""
    app: ASGIApp = mcp.server().streamable_http_app(
        streamable_http_path=ENDPOINT, stateless_http=True, host=host
    )
    return app if is_loopback_host(host) else RequireBearer(app)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


async def serve_http(
    settings: McpSettings,
    host: str,
    port: int,
    announce: Callable[[str], Any] = lambda line: print(line, file=sys.stderr, flush=True),
) -> None:
    """Serves until interrupted; ``announce`` gets the URL once the port is bound
    (``--http 127.0.0.1:0`` picks a free one)."""
    mcp = ProjectQAMcp(settings)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(http_app(mcp, host), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    announce(f"projectqa mcp: serving Streamable HTTP on http://{shown}:{bound}{ENDPOINT}")
    try:
        await server.serve(sockets=[sock])
    finally:
        await mcp.close()
