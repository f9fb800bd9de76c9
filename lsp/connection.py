"""The bridge's one connection to the ProjectQA server, and what to do when it is gone.

Every request goes through :meth:`Connection.call`. A failure that means the server
is out of reach (UNAVAILABLE, a deadline) or refuses the token (UNAUTHENTICATED),
confirmed by a health check on the same channel, takes the connection down: the editor
is told once, requests fail fast with the same message, and a background probe
reconnects with a fresh channel (so gRPC's own reconnect backoff, up to two minutes,
never delays recovery) and says so. A workspace that fits no project is not an outage:
it waits for a settings change instead of being retried.

The reasons (``status().message``, the message of a failed request) carry no "ProjectQA:"
prefix: editors add their own; ``window/showMessage``, which has no source, gets one.
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
from projectqa.lsp.editors import GENERIC, SettingNames
from projectqa.lsp.errors import RequestFailed, failed
from projectqa.lsp.server_calls import ServerCalls, server_calls
from projectqa.lsp.settings import BridgeSettings
from projectqa.lsp.workspace import ProjectNotResolved, ProjectView, resolve_project

log = logging.getLogger(__name__)

T = TypeVar("T")

CALL_TIMEOUT_S = 10.0
HEALTH_TIMEOUT_S = 2.0  # confirms an outage before the connection is declared down
SETTLE_TIMEOUT_S = 15.0  # a request waits this long for a connection attempt under way
STALE_CLOSE_S = 30.0  # calls still running on a replaced channel get this long to end
PROBE_DELAYS_S = (0.5, 1.0, 2.0, 3.0, 5.0)  # then every 5 s
_Code = grpc.StatusCode
OUTAGE_CODES = frozenset({_Code.UNAVAILABLE, _Code.DEADLINE_EXCEEDED, _Code.UNAUTHENTICATED})

Notify = Callable[[bool, str], None]  # (is_error, message) for window/showMessage


@dataclass(frozen=True, slots=True)
class Ready:
    client: ServerCalls
    project: ProjectView
    user: str


class Connection:
    """Connects, resolves the project, reports outages once and reconnects by itself.

    :param token_file: whether a local server's ``admin.token`` may be used when no token
        is set (not when the bridge serves TCP, where any local user could point it at a
        listener of their own).
    """

    def __init__(self, notify: Notify, *, token_file: bool = True) -> None:
        self._notify = notify
        self._token_file = token_file
        self._settings = BridgeSettings()
        self._workspace: Path | None = None
        self._ready: Ready | None = None
        self._problem = "not connected yet"
        self._outage = False  # the last attempt failed for a reason a retry may cure
        self._probe: asyncio.Task[None] | None = None
        self._generation = 0  # bumped by configure(); an attempt of an older one is dropped
        self._lock = asyncio.Lock()
        self._settled = asyncio.Event()  # no connection attempt of configure() under way
        self._configured = False
        self.names: SettingNames = GENERIC  # the editor's words for settings (initialize)

    @property
    def settings(self) -> BridgeSettings:
        return self._settings

    @property
    def address(self) -> str:
        return resolve_address(self._settings.address)

    async def configure(self, settings: BridgeSettings, workspace: Path | None) -> None:
        """Connects with ``settings``, unless they are what the bridge already uses.

        Calls are serialised; the outcome is reported once (an unchanged configuration
        during an outage is left to the probe already running).
        """
        async with self._lock:
            same = (
                self._configured
                and settings.connection() == self._settings.connection()
                and settings.project == self._settings.project
                and workspace == self._workspace
            )
            self._settings, self._workspace = settings, workspace
            if same and (self._ready is not None or self._probing()):
                return
            self._configured = True
            self._generation += 1
            self._settled.clear()
            try:
                await self._drop()
                if not await self._connect(self._generation):
                    self._notify(True, self._problem)
                    if self._outage:
                        self._start_probe()
            finally:
                self._settled.set()

    async def settled(self) -> None:
        """Returns once no connection attempt of :meth:`configure` is under way (bounded)."""
        if not self._settled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), SETTLE_TIMEOUT_S)

    @property
    def ready(self) -> Ready | None:
        """The live connection, if there is one now (``require`` waits for one)."""
        return self._ready

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
            raise await self._failure(ready, error) from None

    async def _failure(self, ready: Ready, error: ClientError) -> RequestFailed:
        if error.code == grpc.StatusCode.CANCELLED and self._ready is not ready:
            return failed(self._problem)  # the channel was replaced under the call
        if error.code not in OUTAGE_CODES or not await self._confirm_outage(ready, error):
            return failed(f"{error.code_name}: {error.details}")
        if self._ready is ready:  # the first request to notice tells the editor
            self._problem = self._describe(error)
            self._ready = None
            self._outage = True
            self._notify(True, self._problem)
            self._start_probe(stale=ready.client)
        return failed(self._problem)

    async def _confirm_outage(self, ready: Ready, error: ClientError) -> bool:
        """Whether the server is really gone (one slow call or a busy store is not)."""
        if error.code == grpc.StatusCode.UNAUTHENTICATED:
            return True
        try:
            await asyncio.wait_for(ready.client.health(), HEALTH_TIMEOUT_S)
        except (ClientError, TimeoutError):
            return True
        return False

    def _describe(self, error: ClientError) -> str:
        if error.code == grpc.StatusCode.UNAUTHENTICATED:
            return (
                f"the server at {self.address} rejected the token ({error.details}): "
                f"set {self.names.token}"
            )
        return f"the server at {self.address} is unreachable ({error.code_name}): {error.details}"

    async def _connect(self, generation: int) -> bool:
        """One attempt: a fresh channel, the caller's identity, the project.

        Publishes the connection only if no newer :meth:`configure` started meanwhile;
        a client that is not published is always closed.
        """
        settings = self._settings
        if not settings.token and not self._token_file:
            self._problem = f"set {self.names.token}: the bridge serves TCP"
            self._outage = False
            return False
        client: ServerCalls | None = None
        published = False
        try:
            client = server_calls(
                AsyncClient(
                    settings.address,
                    settings.token,
                    timeout=CALL_TIMEOUT_S,
                    tls_ca_file=settings.tls_ca_file,
                )
            )
            who = await client.whoami()
            project = await resolve_project(
                client, settings.project, self._workspace, self.names.project
            )
            if generation != self._generation:
                return False
            self._ready = Ready(client, project, who.user.name)
            self._outage = False
            published = True
            return True
        except ClientError as error:
            self._outage = error.code in OUTAGE_CODES
            if self._outage:
                self._problem = self._describe(error)
            else:
                self._problem = f"{error.code_name}: {error.details}"
            return False
        except ProjectNotResolved as error:
            self._problem, self._outage = str(error), False
            return False
        except Exception as error:  # an unreadable CA file, a bad address, …
            log.exception("connecting to %s failed", self.address)
            self._problem = f"cannot connect to {self.address}: {error}"
            self._outage = False
            return False
        finally:
            if client is not None and not published:
                await client.close()

    def _probing(self) -> bool:
        return self._probe is not None and not self._probe.done()

    def _start_probe(self, stale: ServerCalls | None = None) -> None:
        if stale is not None:  # calls still on it fail by themselves or end in time
            asyncio.get_running_loop().call_later(
                STALE_CLOSE_S, lambda: asyncio.ensure_future(stale.close())
            )
        if not self._probing():
            self._probe = asyncio.create_task(self._reconnect(self._generation))

    async def _reconnect(self, generation: int) -> None:
        attempt = 0
        while generation == self._generation and self._ready is None:
            await asyncio.sleep(PROBE_DELAYS_S[min(attempt, len(PROBE_DELAYS_S) - 1)])
            attempt += 1
            if generation != self._generation:
                return
            if await self._connect(generation):
                project = self._ready.project.slug if self._ready else ""
                self._notify(False, f"connected to {self.address} (project {project})")
                return
            if not self._outage:  # the server answers but the settings need changing
                self._notify(True, self._problem)
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
