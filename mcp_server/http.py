"""``projectqa mcp --http HOST:PORT``: MCP over Streamable HTTP, for shared deployments.

Every request carries its caller's own ``Authorization: Bearer <ProjectQA token>``,
which is what the gRPC calls then use: per-user access rules hold through a shared MCP
server. A request without one is refused (401) — unless the server was started with
an explicit token and ``--default-token-for-anonymous``, which then serves it. Anyone
who can reach the port (other users of this machine, whatever a reverse proxy lets in)
is a caller. A non-loopback bind needs ``--allow-remote``. Host and Origin headers are
checked against the bound address (DNS-rebinding protection) on every loopback bind,
and against ``--allowed-host`` names on any bind. TLS is for a reverse proxy in front
(docs/MCP.md).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from projectqa.client.addresses import is_loopback_host
from projectqa.mcp.server import McpSettings, ProjectQAMcp

ENDPOINT = "/mcp"


def parse_bind(value: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` / ``[::1]:PORT``; ValueError naming what is wrong."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8765), got {value!r}")
    return host, int(port)


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


def transport_security(
    host: str, port: int, allowed_hosts: Sequence[str] = ()
) -> TransportSecuritySettings | None:
    """The Host and Origin values a request may carry: on a loopback bind the bound
    ``host:port`` and its localhost forms (a page of another site, its name rebound to
    this address, sends its own name), plus ``allowed_hosts`` (``NAME`` or ``NAME:PORT``,
    e.g. a reverse proxy's) on any bind. None — no check — on a remote bind without them.

    The SDK checks on its own only for exactly 127.0.0.1, localhost and ::1; every other
    loopback address (127.0.0.2, …) would go unchecked, hence explicit settings always.
    """
    hosts: list[str] = []
    if is_loopback_host(host):
        names = ["localhost", "127.0.0.1", "[::1]"] if host == "localhost" else [host]
        shown = [f"[{name}]" if ":" in name else name for name in names]
        hosts = [f"{name}:{port}" for name in dict.fromkeys([*shown, "localhost"])]
    for extra in allowed_hosts:  # a name without a port also matches any port
        hosts += [extra] if _has_port(extra) else [extra, f"{extra}:*"]
    if not hosts:
        return None
    origins = [f"{scheme}://{name}" for name in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _has_port(host: str) -> bool:
    return host.rpartition(":")[2].isdigit() and not host.endswith("]")


def http_app(mcp: ProjectQAMcp, host: str, port: int, allowed_hosts: Sequence[str] = ()) -> ASGIApp:
    """The SDK's Starlette app with explicit Host/Origin checks, behind
    :class:`RequireBearer` unless anonymous requests get the server's own token."""
    app: ASGIApp = mcp.server().streamable_http_app(
        streamable_http_path=ENDPOINT,
        stateless_http=True,
        host=host,
        transport_security=transport_security(host, port, allowed_hosts),
    )
    return app if mcp.settings.token is not None else RequireBearer(app)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


async def serve_http(
    settings: McpSettings,
    host: str,
    port: int,
    allowed_hosts: Sequence[str] = (),
    announce: Callable[[str], Any] = lambda line: print(line, file=sys.stderr, flush=True),
) -> None:
    """Serves until interrupted; ``announce`` gets the URL once the port is bound
    (``--http 127.0.0.1:0`` picks a free one)."""
    mcp = ProjectQAMcp(settings)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    app = http_app(mcp, host, bound, allowed_hosts)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    announce(f"projectqa mcp: serving Streamable HTTP on http://{shown}:{bound}{ENDPOINT}")
    try:
        await server.serve(sockets=[sock])
    finally:
        await mcp.close()
