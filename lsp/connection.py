"""The bridge's one connection to the ProjectQA server, and what to do when it is gone.

Every request goes through :meth:`Connection.call`. A failure that means the server
is out of reach (UNAVAILABLE, a deadline) or refuses the token (UNAUTHENTICATED)
takes the connection down: the editor is told once, requests fail fast with the same
message, and a background probe reconnects with a fresh channel (so gRPC's own
reconnect backoff, up to two minutes, never delays recovery) and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from projectqa.client import AsyncClient, ClientError, resolve_address
from projectqa.lsp.errors import RequestFailed, failed
from projectqa.lsp.settings import BridgeSettings
from projectqa.lsp.workspace import ProjectNotResolved, ProjectView, resolve_project

log = logging.getLogger(__name__)

T = TypeVar("T")

CALL_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 15.0  # a request waits this long for a connection attempt under way
PROBE_DELAYS_S = (0.5, 1.0, 2.0, 3.0, 5.0)  # then every 5 s
OUTAGE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

Notify = Callable[[bool, str], None]  # (is_error, message) for window/showMessage


@dataclass(frozen=True, slots=True)
class Ready:
    client: AsyncClient
    project: ProjectView
    user: str


class Connection:
    """Connects, resolves the project, reports outages once and reconnects by itself."""

    def __init__(self, notify: Notify) -> None:
        self._notify = notify
        self._settings = BridgeSettings()
        self._workspace: Path | None = None
        self._ready: Ready | None = None
        self._problem = "not connected yet"
        self._probe: asyncio.Task[None] | None = None
        self._generation = 0  # bumped by configure(); a stale probe gives up
        self._settled = asyncio.Event()  # no connection attempt of configure() under way

    @property
    def settings(self) -> BridgeSettings:
        return self._settings

    @property
    def address(self) -> str:
        return resolve_address(self._settings.address)

    async def configure(self, settings: BridgeSettings, workspace: Path | None) -> None:
        """Connects with ``settings`` (again, when they changed); reports the outcome once."""
        unchanged = (
            self._ready is not None
            and settings.connection() == self._settings.connection()
            and settings.project == self._settings.project
            and workspace == self._workspace
        )
        self._settings, self._workspace = settings, workspace
        if unchanged:
            return
        self._generation += 1
        self._settled.clear()
        try:
            await self._drop()
            if not await self._connect():
                self._notify(True, self._problem)
                self._start_probe()
        finally:
            self._settled.set()

    async def settled(self) -> None:
        """Returns once no connection attempt of :meth:`configure` is under way (bounded)."""
        if not self._settled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), SETTLE_TIMEOUT_S)

    def status(self) -> dict[str, object]:
        """What ``projectqa.status`` answers."""
        ready = self._ready
        return {
            "connected": ready is not None,
            "address": self.address,
            "project": ready.project.slug if ready else self._settings.project or "",
            "user": ready.user if ready else "",
            "message": "connected" if ready else self._problem,
        }

    async def require(self) -> Ready:
        """The live connection, or RequestFailed saying why there is none.

        A request that arrives while the bridge connects (just after ``initialized``, or
        after a settings change) waits for that attempt, rather than failing at once.
        """
        await self.settled()
        if self._ready is None:
            raise failed(self._problem)
        return self._ready

    async def call(self, work: Callable[[Ready], Awaitable[T]]) -> T:
        """Runs ``work`` on the live connection; a server failure becomes RequestFailed."""
        ready = await self.require()
        try:
            return await work(ready)
        except ClientError as error:
            raise self._failure(ready, error) from None

    def _failure(self, ready: Ready, error: ClientError) -> RequestFailed:
        if error.code in OUTAGE_CODES or error.code == grpc.StatusCode.UNAUTHENTICATED:
            if self._ready is ready:  # the first request to notice tells the editor
                self._problem = self._describe(error)
                self._ready = None
                self._notify(True, self._problem)
                self._start_probe(stale=ready.client)
            return failed(self._problem)
        return failed(f"{error.code_name}: {error.details}")

    def _describe(self, error: ClientError) -> str:
        if error.code == grpc.StatusCode.UNAUTHENTICATED:
            return (
                f"ProjectQA server at {self.address} rejected the token ({error.details}): "
                "set projectqa.token or PROJECTQA_TOKEN"
            )
        return (
            f"ProjectQA server at {self.address} is unreachable ({error.code_name}): "
            f"{error.details}"
        )

    async def _connect(self) -> bool:
        """One attempt: a fresh channel, the caller's identity, the project."""
        settings = self._settings
        try:
            client = AsyncClient(
                settings.address,
                settings.token,
                timeout=CALL_TIMEOUT_S,
                tls_ca_file=settings.tls_ca_file,
            )
        except (OSError, ValueError) as error:  # unreadable CA file, malformed address
            self._problem = f"ProjectQA: cannot connect to {self.address}: {error}"
            return False
        try:
            who = await client.whoami()
            project = await resolve_project(client, settings.project, self._workspace)
        except ClientError as error:
            await client.close()
            if error.code in OUTAGE_CODES or error.code == grpc.StatusCode.UNAUTHENTICATED:
                self._problem = self._describe(error)
            else:
                self._problem = f"ProjectQA: {error.code_name}: {error.details}"
            return False
        except ProjectNotResolved as error:
            await client.close()
            self._problem = f"ProjectQA: {error}"
            return False
        self._ready = Ready(client, project, who.user.name)
        return True

    def _start_probe(self, stale: AsyncClient | None = None) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._reconnect(self._generation, stale))

    async def _reconnect(self, generation: int, stale: AsyncClient | None) -> None:
        if stale is not None:
            await stale.close()
        attempt = 0
        while generation == self._generation and self._ready is None:
            await asyncio.sleep(PROBE_DELAYS_S[min(attempt, len(PROBE_DELAYS_S) - 1)])
            attempt += 1
            if generation != self._generation:
                return
            if await self._connect():
                project = self._ready.project.slug if self._ready else ""
                self._notify(False, f"ProjectQA: connected to {self.address} (project {project})")
                return
            log.info("reconnect attempt %d failed: %s", attempt, self._problem)

    async def _drop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self._ready is not None:
            await self._ready.client.close()
            self._ready = None

    async def close(self) -> None:
        self._generation += 1
        await self._drop()
