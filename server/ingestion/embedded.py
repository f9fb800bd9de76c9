"""The worker child process of ``projectqa serve``: started with the server, started
again if it dies, stopped with the server (and ending by itself if the server is
killed: see ``server/worker.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time

from ..config import Settings, settings_as_json

log = logging.getLogger(__name__)
RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long restarts at once, not after a back-off


class EmbeddedWorker:
    """Supervises one ``python -m projectqa.server.worker --embedded`` child."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.starts = 0  # how many children were started (restarts show here)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Start the child now (spawned from the event loop's thread: the kernel's
        parent-death signal follows the thread that forked)."""
        self._process = await self._spawn_or_none()
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="worker")

    async def stop(self, grace: float) -> None:
        """SIGTERM: the child hands its runs back within ``grace``; then SIGKILL."""
        self._stopping.set()
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), grace + 5.0)
            except TimeoutError:
                log.warning("worker process did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _spawn(self) -> asyncio.subprocess.Process:
        command = [sys.executable, "-m", "projectqa.server.worker", "--embedded", str(os.getpid())]
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )
        assert process.stdin is not None
        # Settings (secrets included) through a pipe: never on a command line.
        process.stdin.write(settings_as_json(self._settings).encode())
        await process.stdin.drain()
        process.stdin.close()
        self.starts += 1
        log.info("ingestion worker process started", extra={"pid": process.pid})
        return process

    async def _supervise(self) -> None:
        delay = RESTART_MIN_S
        while True:
            started = time.monotonic()
            if self._process is not None:
                code = await self._process.wait()
                if self._stopping.is_set():
                    return
                if time.monotonic() - started > HEALTHY_AFTER_S:
                    delay = RESTART_MIN_S
                log.error(
                    "ingestion worker process exited with code %s; starting another in %gs",
                    code,
                    delay,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            delay = min(2 * delay, RESTART_MAX_S)
            self._process = await self._spawn_or_none()

    async def _spawn_or_none(self) -> asyncio.subprocess.Process | None:
        """A new child; None (and another try after the back-off) when the system
        refuses one (no memory, no file descriptors, a child dead before it read)."""
        try:
            return await self._spawn()
        except (OSError, ValueError) as exc:
            log.error("could not start the ingestion worker process: %s", exc)
            return None
