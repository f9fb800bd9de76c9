"""A real ProjectQA server (grpc.aio on 127.0.0.1:0, SQLite, the real embedding model)
with two ingested projects, and ``projectqa mcp`` started as a subprocess against it.

``shop`` is the CLI tests' small shop plus one large file (bounds); ``vault`` holds a
marker string that a token without access to it must never see. ``member_token`` is a
user who is a member of ``shop`` only. The plugin tools of the CLI test plugin are
enabled in ``shop``: ``count_lines`` (read-only) and ``run_checks`` (side effects).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.cli.conftest import PLAIN, Cli, RunningServer, running_server
from tests.cli.test_search_tools import write_shop
from tests.e2e.deployment import PROJECTQA

VAULT_MARKER = "ZEBRA_VAULT_MARKER_7731"
LARGE_LINES = 3000
START_TIMEOUT_S = 60.0
# Every indexed file of ``shop``, by path.
SHOP_FILES = ["README.md", "data/large.txt", "docs/refunds.md", "shop/cart.py", "shop/payment.py"]


@dataclass(frozen=True)
class Deployment:
    server: RunningServer
    member_token: str

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def admin_token(self) -> str:
        return self.server.admin_token


def _ingest(cli: Cli, slug: str, folder: Path) -> None:
    cli.ok("admin", "project", "create", slug, "--name", slug.title())
    config = json.dumps({"path": str(folder)})
    cli.ok("admin", "connector", "create", slug, "--type", "local", "--name", "files",
           "--config", config)  # fmt: skip
    cli.ok("ingest", slug, env=PLAIN)


def _write_large(root: Path) -> None:
    lines = [f"line {n}: the quick brown fox jumps over the lazy dog" for n in range(LARGE_LINES)]
    (root / "data").mkdir()
    (root / "data" / "large.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_server(tmp_path_factory.mktemp("mcp-server"), plugins=["local"]) as server:
        cli = Cli(server.address, server.admin_token)
        shop = write_shop(tmp_path_factory.mktemp("shop"))
        _write_large(shop)
        (shop / "README.md").write_text("# Shop\n\nA cart, payments and refunds.\n")
        _ingest(cli, "shop", shop)
        vault = tmp_path_factory.mktemp("vault")
        (vault / "vault.md").write_text(f"# Vault\n\nThe combination is {VAULT_MARKER}.\n")
        _ingest(cli, "vault", vault)
        cli.ok("admin", "tool", "enable", "shop", "count_lines")
        cli.ok("admin", "tool", "enable", "shop", "run_checks")
        cli.ok("admin", "user", "create", "mia")
        cli.ok("admin", "member", "add", "shop", "mia", "--role", "member")
        token = cli.json("admin", "token", "create", "--user", "mia")["secret"]
        yield Deployment(server, token)


def mcp_env(deployment: Deployment, token: str) -> dict[str, str]:
    """The subprocess's environment: this one's, minus the developer's ProjectQA settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    env.update(PROJECTQA_ADDRESS=deployment.address, PROJECTQA_TOKEN=token, HF_HUB_OFFLINE="1")
    return env


@asynccontextmanager
async def stdio_session(
    deployment: Deployment, *args: str, token: str | None = None
) -> AsyncIterator[Client]:
    """The SDK's client on ``projectqa mcp ARGS`` over stdio."""
    params = StdioServerParameters(
        command=PROJECTQA,
        args=["mcp", *args],
        env=mcp_env(deployment, token or deployment.admin_token),
    )
    async with Client(params, read_timeout_seconds=START_TIMEOUT_S) as client:
        yield client


@asynccontextmanager
async def http_server(
    deployment: Deployment, *args: str, bind: str = "127.0.0.1:0", token: str | None = None
) -> AsyncIterator[str]:
    """``projectqa mcp --http BIND ARGS`` as a subprocess (PROJECTQA_TOKEN: ``token``, else
    the admin's); yields its MCP URL. Its stderr is read to the end in the background, so
    a chatty server never blocks on a full pipe (and is shown if it fails to start)."""
    process = await asyncio.create_subprocess_exec(
        PROJECTQA, "mcp", "--http", bind, *args,
        env=mcp_env(deployment, token or deployment.admin_token),
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    drain = asyncio.create_task(_drain(process.stderr, lines, announced))
    try:
        yield await asyncio.wait_for(announced, START_TIMEOUT_S)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        await asyncio.wait_for(drain, 30)


async def _drain(
    stream: asyncio.StreamReader, lines: list[str], announced: asyncio.Future[str]
) -> None:
    while line := (await stream.readline()).decode():
        lines.append(line)
        if "serving Streamable HTTP on " in line and not announced.done():
            announced.set_result(line.rsplit(" ", 1)[1].strip())
    if not announced.done():
        announced.set_exception(
            AssertionError("projectqa mcp --http exited before serving:\n" + "".join(lines))
        )


@asynccontextmanager
async def http_session(url: str, token: str | None = None) -> AsyncIterator[Client]:
    """The SDK's client over Streamable HTTP, sending ``token`` as its bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    transport = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    async with Client(transport, read_timeout_seconds=START_TIMEOUT_S) as client:
        yield client
