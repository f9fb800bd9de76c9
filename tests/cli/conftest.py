"""A real ProjectQA server in a background event loop, and a CLI runner aimed at it.

``CliRunner`` is synchronous while the server is ``grpc.aio``: the server gets
its own event loop in a daemon thread for the whole session. Tests share it
and keep apart by using unique names (the ``unique`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from projectqa.client.cli import cli

SECRET_FIELD = "api_token"


def _empty_source(context: object) -> Iterator[object]:
    """A source with nothing in it: the CLI tests configure connectors, never ingest."""
    return iter(())


class CliTestPlugin:
    """Contributes a connector type with a secret field and two tools."""

    def __init__(self) -> None:
        from projectqa.server.hookspecs import hookimpl

        self.projectqa_register_connectors = hookimpl(self._connectors)
        self.projectqa_register_tools = hookimpl(self._tools)

    @staticmethod
    def _connectors(register: Callable[[Any], None]) -> None:
        from projectqa.server.registry import ConnectorType

        schema = {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "branch": {"type": "string"},
                SECRET_FIELD: {"type": "string", "writeOnly": True},
            },
            "required": ["url"],
            "additionalProperties": False,
        }
        register(ConnectorType("clitest", "Test source for the CLI tests.", schema, _empty_source))

    @staticmethod
    def _tools(register: Callable[[Any], None]) -> None:
        from projectqa.server.registry import ToolSpec

        schema = {"type": "object", "properties": {"target": {"type": "string"}}}
        register(ToolSpec("run_checks", "Runs the checks.", schema, lambda args, ctx: "ok", True))
        register(ToolSpec("count_lines", "Counts lines.", schema, lambda args, ctx: 0))


@dataclass(frozen=True)
class RunningServer:
    address: str
    admin_token: str
    data_dir: Path


def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="projectqa-server", daemon=True)
    thread.start()
    return loop, thread


@contextmanager
def running_server(data_dir: Path, **settings: Any) -> Iterator[RunningServer]:
    """A real server on 127.0.0.1:<free port> in its own event-loop thread."""
    from projectqa.server.app import create_server
    from projectqa.server.config import Settings

    with pytest.MonkeyPatch.context() as env:
        for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
            env.delenv(name, raising=False)
        # Only the test plugin unless the caller names built-ins (``plugins=["git"]``).
        config = Settings(
            **{"data_dir": data_dir, "listen_address": "127.0.0.1:0", "plugins": [], **settings}
        )
    loop, thread = _start_loop()
    started = create_server(config, extra_plugins=[("clitest", CliTestPlugin())])
    server, port = asyncio.run_coroutine_threadsafe(started, loop).result(timeout=60)
    token = (data_dir / "admin.token").read_text(encoding="utf-8").strip()
    try:
        yield RunningServer(f"127.0.0.1:{port}", token, data_dir)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(autouse=True)
def no_saved_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config folder: a developer's own `projectqa login` never reaches a test."""
    config_home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server shared by the whole session."""
    with running_server(tmp_path_factory.mktemp("server")) as started:
        yield started


@pytest.fixture
def start_server() -> Callable[..., AbstractContextManager[RunningServer]]:
    """``with start_server(data_dir, **settings) as server:`` for tests needing their own."""
    return running_server


def local_server(folder_name: str) -> Any:
    """A module-scoped ``server`` fixture with the ``local`` connector, overriding the session
    server of this conftest: ``server = local_server("ls-server")`` in a test module."""

    @pytest.fixture(scope="module", name="server")
    def server_with_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
        with running_server(tmp_path_factory.mktemp(folder_name), plugins=["local"]) as started:
            yield started

    return server_with_local


# Keeps the developer's own settings out of every CLI run.
CLEAN_ENV: Mapping[str, str | None] = {
    "PROJECTQA_ADDRESS": None,
    "PROJECTQA_TOKEN": None,
    "PROJECTQA_TLS_CA_FILE": None,
}
# No live progress: a run's output is what a pipe gets.
PLAIN = {"TTY_COMPATIBLE": "0"}


def run(
    *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
) -> Result:
    """The CLI with nothing but what the test gives: no --address, no --token."""
    return CliRunner().invoke(cli, list(args), input=input, env={**CLEAN_ENV, **(env or {})})


class Cli:
    """Runs ``projectqa --address <server> --token <token> …`` in-process."""

    def __init__(self, address: str, token: str | None) -> None:
        self.address = address
        self.token = token

    def as_user(self, token: str) -> Cli:
        return Cli(self.address, token)

    def __call__(
        self, *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
    ) -> Result:
        argv = ["--address", self.address]
        if self.token is not None:
            argv += ["--token", self.token]
        runner = CliRunner()
        return runner.invoke(
            cli,
            [*argv, *args],
            input=input,
            env={**CLEAN_ENV, **(env or {})},
            catch_exceptions=False,
        )

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Runs the command and asserts that it succeeded."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Runs the command with ``--json`` and returns the parsed output."""
        return json.loads(self.ok("--json", *args, **kwargs).stdout)


def ingest_folder(cli: Cli, slug: str, folder: Path) -> str:
    """Creates project ``slug`` whose ``local`` connector ``files`` reads ``folder``, ingests it
    and returns the slug."""
    cli.ok("admin", "project", "create", slug, "--name", slug.capitalize())
    config = json.dumps({"path": str(folder)})
    cli.ok("admin", "connector", "create", slug, "--type", "local", "--name", "files",
           "--config", config)  # fmt: skip
    cli.ok("ingest", slug, env=PLAIN)
    return slug


@pytest.fixture
def admin_cli(server: RunningServer) -> Cli:
    """The CLI authenticated with the server's bootstrap global-admin token."""
    return Cli(server.address, server.admin_token)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names unique across the session's shared server: ``unique("proj")``."""
    suffix = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}-{suffix}"


@pytest.fixture
def project(admin_cli: Cli, unique: Callable[[str], str]) -> str:
    """The slug of a fresh project."""
    slug = unique("proj")
    admin_cli.ok("admin", "project", "create", slug, "--name", "Test project")
    return slug


@pytest.fixture
def member_cli(admin_cli: Cli, unique: Callable[[str], str]) -> Cli:
    """The CLI authenticated as a fresh user without any role."""
    name = unique("user")
    admin_cli.ok("admin", "user", "create", name)
    issued = admin_cli.json("admin", "token", "create", "--user", name)
    return admin_cli.as_user(issued["secret"])


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Everything logged from now on, ``extra`` fields included, as one text."""
    caplog.set_level(logging.DEBUG)
    return lambda: "\n".join(str(vars(record)) for record in caplog.records)
