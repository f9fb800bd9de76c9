"""A git checkout on this machine, indexed the way ``projectqa quickstart`` indexes one.

``local_checkout(tmp_path_factory)`` commits a small package to a fresh git repository
(``work/httpx-demo``; its ``httpx/_config.py`` has the underscore editors used to hide),
starts a real server with the built-in ``local`` and ``git`` connectors, and creates:

- project ``demo`` with a ``git`` connector whose ``url`` is the checkout's path (what
  quickstart creates), ingested;
- project ``monorepo`` with a ``local`` connector on ``work``, the folder holding the
  checkout (a broader fit, never ingested);
- project ``remote-shop`` with a ``git`` connector of ``REMOTE`` (never fetched), for
  checkouts whose ``origin`` it is;
- projects ``svc-a`` and ``svc-b`` with a ``git`` connector each on one more repository
  (``work/services``), ``subdirectory`` ``services/a`` and ``services/b``; ``svc-a`` ingested.

Neither slug is the checkout folder's name, so only its path can make the editor find it.
Used by the pytest-lsp tests and the headless-Neovim test.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from projectqa.server.app import create_server
from projectqa.server.config import Settings
from projectqa.v1 import admin_pb2, ingestion_pb2
from tests.service.helpers import bearer_interceptors
from tests.service.retrieval_fixtures import Caller, _caller, ingest

PROJECT = "demo"
ENCLOSING_PROJECT = "monorepo"
REMOTE_PROJECT = "remote-shop"
REMOTE = "git@github.com:acme/shop.git"
SERVICE_PROJECTS = {"svc-a": "services/a", "svc-b": "services/b"}  # slug: subdirectory
CONFIG_PY = '''\
"""Timeouts, limits and retries of the demo client."""

DEFAULT_TIMEOUT_SECONDS = 5.0


def retry_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt``: doubles each time, up to a minute."""
    return min(60.0, 0.5 * 2**attempt)
'''
FILES = {
    "httpx/__init__.py": '"""A demo HTTP client."""\n\nfrom ._config import retry_delay\n',
    "httpx/_config.py": CONFIG_PY,
    "README.md": "# httpx demo\n\nAn HTTP client whose retries back off exponentially.\n",
}
SERVICE_FILES = {
    "services/a/src/billing.py": (
        "def invoice_total(lines: list[float]) -> float:\n"
        '    """The invoice total: the sum of its lines, rounded to cents."""\n'
        "    return round(sum(lines), 2)\n"
    ),
    "services/b/src/shipping.py": (
        "def parcel_weight(items: list[float]) -> float:\n"
        '    """The parcel weight in kilograms."""\n'
        "    return sum(items)\n"
    ),
    "README.md": "# services\n\nTwo services in one repository.\n",
}


@dataclass(frozen=True)
class LocalCheckout:
    address: str
    token: str  # the global admin's
    repo: Path  # the checkout the git connector reads
    enclosing: Path  # the folder of the monorepo project's local connector
    services: Path  # the repository of svc-a and svc-b


def commit_repository(repo: Path, files: dict[str, str] = FILES) -> None:
    """A git repository at ``repo`` with ``files`` committed (git needs no user config)."""
    for relative, text in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(text, encoding="utf-8")
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "demo"]):
        subprocess.run(["git", *identity, "-C", str(repo), *command], check=True, timeout=60)


async def _connector(caller: Caller, project: str, kind: str, config: dict[str, str]) -> None:
    values = struct_pb2.Struct()
    values.update(config)
    await caller.admin.CreateConnector(
        admin_pb2.CreateConnectorRequest(project=project, type=kind, name="repo", config=values)
    )


async def _prepare(caller: Caller, repo: Path, enclosing: Path, services: Path) -> None:
    for slug in (PROJECT, ENCLOSING_PROJECT, REMOTE_PROJECT, *SERVICE_PROJECTS):
        await caller.admin.CreateProject(admin_pb2.CreateProjectRequest(slug=slug, name=slug))
    await _connector(caller, PROJECT, "git", {"url": str(repo)})
    await _connector(caller, ENCLOSING_PROJECT, "local", {"path": str(enclosing)})
    await _connector(caller, REMOTE_PROJECT, "git", {"url": REMOTE})
    for slug, subdirectory in SERVICE_PROJECTS.items():
        config = {"url": str(services), "subdirectory": subdirectory}
        await _connector(caller, slug, "git", config)
    for slug in (PROJECT, "svc-a"):
        runs = await ingest(caller, slug)
        assert [run.status for run in runs] == [ingestion_pb2.INGESTION_STATUS_SUCCEEDED], runs


@contextlib.asynccontextmanager
async def local_checkout(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCheckout]:
    """The server, projects and checkout of the module doc; everything stops on exit."""
    base = tmp_path_factory.mktemp("checkout")
    enclosing = base / "work"
    repo = enclosing / "httpx-demo"
    services = enclosing / "services"
    repo.mkdir(parents=True)
    services.mkdir()
    commit_repository(repo)
    commit_repository(services, SERVICE_FILES)
    with pytest.MonkeyPatch.context() as env:
        for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
            env.delenv(name, raising=False)
        env.setenv("HF_HUB_OFFLINE", "1")
        settings = Settings(
            data_dir=base / "data", listen_address="127.0.0.1:0", plugins=["local", "git"]
        )
        server, port = await create_server(settings)
        token = settings.admin_token_path.read_text(encoding="utf-8").strip()
        address = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(address, interceptors=bearer_interceptors(token))
        try:
            await _prepare(_caller(channel), repo, enclosing, services)
            yield LocalCheckout(address, token, repo, enclosing, services)
        finally:
            await channel.close()
            await server.stop(0)
