"""A real webhook server on 127.0.0.1:0 over a real store, and a trigger that records calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from projectqa.server.models import Connector, Project, new_id, utcnow
from projectqa.server.store import SqliteStore
from projectqa.server.threads import BlockingRunner
from projectqa.server.webhooks import WebhookServer

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "whsec-7Qm2x9Lr4vTb"
MAX_BODY_BYTES = 64 * 1024
REPLAY_WINDOW_S = 600.0
FORGET_RETRY_S = 0.01  # the store "comes back" at once in these tests


@dataclass
class Clock:
    """The server's clock, moved by the tests: nothing depends on when or how long they run."""

    now: float = 1_700_000_000.0  # 2023-11-14T22:13:20Z

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def payload(name: str) -> bytes:
    """A GitHub example payload, re-serialised compactly as GitHub sends it."""
    return json.dumps(json.loads((PAYLOADS / f"{name}.json").read_text())).encode()


@dataclass
class RecordingTrigger:
    """Stands in for the ingestion scheduler: remembers each call, answers as told."""

    result: str | None = "run_0001"
    error: Exception | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, connector: Connector, reason: str) -> str | None:
        self.calls.append((connector.id, reason))
        if self.error is not None:
            raise self.error
        return self.result


@dataclass
class Site:
    url: str
    store: SqliteStore
    trigger: RecordingTrigger
    connector: Connector  # has a webhook secret
    bare_connector: Connector  # has none
    clock: Clock


def make_connector(project_id: str, name: str, secrets: dict[str, str]) -> Connector:
    now = utcnow()
    config = {"owner": "octocat", "repo": "Hello-World"}
    return Connector(new_id("con"), project_id, "github", name, config, secrets, now, now)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "data" / "store.db").open()
    yield store
    store.close()


@pytest.fixture
async def site(store: SqliteStore) -> AsyncIterator[Site]:
    now = utcnow()
    project = Project(new_id("prj"), "hello", "Hello", "", now, now)
    store.create_project(project)
    connector = make_connector(project.id, "gh", {"webhook_secret": SECRET, "token": "ghp_x"})
    bare = make_connector(project.id, "gh-bare", {"token": "ghp_x"})
    store.create_connector(connector)
    store.create_connector(bare)
    trigger, clock = RecordingTrigger(), Clock()
    async with serving(store, trigger, clock) as url:
        yield Site(url, store, trigger, connector, bare, clock)


@asynccontextmanager
async def serving(
    store: SqliteStore,
    trigger: RecordingTrigger,
    clock: Clock,
    replay_window_s: float = REPLAY_WINDOW_S,
    **options: Any,
) -> AsyncIterator[str]:
    """A webhook server on 127.0.0.1:0 over ``store``; yields its base URL."""
    run_blocking = BlockingRunner(2)
    server = WebhookServer(
        store,
        trigger,
        run_blocking,
        max_body_bytes=MAX_BODY_BYTES,
        replay_window_s=replay_window_s,
        clock=clock,
        forget_retry_s=FORGET_RETRY_S,
        **options,
    )
    port = await server.start("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop()
        run_blocking.shutdown()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
