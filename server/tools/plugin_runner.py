"""Running plugin tools: a plugin's function on a small thread pool of its own, bounded in time.

The calling convention (see ``ToolSpec``): ``function(arguments, context)``
returns a JSON-serialisable value; ``arguments`` have their schema's defaults
filled in. Whatever the function does — raise, hang, return something that is
not JSON — the caller gets a ``ToolResult``, never an exception, and the event
loop and the store's threads are never blocked.

``async def`` tools run on the same threads: the coroutine is awaited on an
event loop of the pool thread's own (``asyncio.run``), never on the server's
loop, so a tool that blocks where it should await stalls only its thread. The
timeout runs from the call, not from when a thread took it up: at the caller's
deadline the coroutine is cancelled, which frees the thread unless the tool
ignores the cancellation; a call still queued at its deadline is not started.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..registry import ToolSpec
from .base import ToolContext, ToolResult
from .tool_schemas import with_defaults

log = logging.getLogger(__name__)

PLUGIN_TOOL_THREADS = 4
MAX_RESULT_BYTES = 1 << 20  # a result the chat can still quote; a plugin's bug above that
MAX_ERROR_CHARS = 2000


class PluginToolThreads:
    """The threads plugin functions run on, and how many of them are lost to hung calls.

    A Python thread cannot be killed: a call that outlives its timeout keeps
    its thread until the function returns, if ever. Such threads are counted
    as stuck; when every thread is stuck, calls fail at once instead of
    queueing behind calls that may never end. The threads are daemons (unlike
    ``ThreadPoolExecutor``'s, which the interpreter joins at exit), so a hung
    plugin cannot keep the server process from exiting.
    """

    def __init__(
        self, workers: int = PLUGIN_TOOL_THREADS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.workers = workers
        self.clock = clock  # what deadlines are measured on (tests stand in for a long queue)
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False
        self._stuck = 0

    @property
    def stuck(self) -> int:
        with self._lock:
            return self._stuck

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((future, fn, args))
        with self._lock:
            if not self._started:
                self._started = True
                for number in range(self.workers):
                    name = f"projectqa-plugin-tool-{number}"
                    threading.Thread(target=self._work, name=name, daemon=True).start()
        return future

    def abandon(self, future: Future[Any]) -> None:
        """The caller stopped waiting for a call that is still running: count its thread."""
        with self._lock:
            self._stuck += 1
        future.add_done_callback(self._released)  # runs at once if it finished meanwhile

    def _released(self, _: Future[Any]) -> None:
        with self._lock:
            self._stuck -= 1

    def _work(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)


_shared: PluginToolThreads | None = None
_shared_lock = threading.Lock()


def shared_threads() -> PluginToolThreads:
    """The process-wide pool, made on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PluginToolThreads()
        return _shared


class ToolMisbehaved(Exception):
    """The tool's function raised or returned something unfit; the message says how."""


@dataclass(frozen=True)
class Deadline:
    """When the caller stops waiting: ``timeout_s`` after the call, on ``clock``."""

    at: float
    timeout_s: float
    clock: Callable[[], float]

    @classmethod
    def after(cls, timeout_s: float, clock: Callable[[], float]) -> Deadline:
        return cls(clock() + timeout_s, timeout_s, clock)

    def remaining(self) -> float:
        return self.at - self.clock()

    def missed(self) -> ToolMisbehaved:
        return ToolMisbehaved(f"timed out after {self.timeout_s:g} s")


async def run_plugin_tool(
    spec: ToolSpec,
    arguments: dict[str, Any],
    context: ToolContext,
    *,
    timeout_s: float,
    threads: PluginToolThreads | None = None,
) -> ToolResult:
    """Call ``spec.function(arguments, context)`` and return its value as plain JSON data."""
    pool = threads or shared_threads()
    started = time.monotonic()
    if pool.stuck >= pool.workers:
        return _error(
            started,
            f"tool {spec.name!r} not run: all {pool.workers} plugin tool threads are stuck "
            "in calls that timed out",
        )
    filled = with_defaults(spec.arguments_schema, copy.deepcopy(arguments))
    # Taken now: time in the queue counts, so no thread is held past the caller's wait.
    deadline = Deadline.after(timeout_s, pool.clock)
    future = pool.submit(_call, spec, filled, context, deadline)
    try:
        value = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
    except TimeoutError:
        return _error(started, f"timed out after {timeout_s:g} s")
    except ToolMisbehaved as exc:
        return _error(started, str(exc))
    except Exception as exc:  # a bug of ours; still an answer, not a failed RPC
        log.exception("running plugin tool %r failed", spec.name)
        return _error(started, _short(f"{type(exc).__name__}: {exc}"))
    finally:
        # Giving up cancels a call still queued; one already running cannot be
        # stopped (threads cannot be killed) and keeps its thread until it returns.
        if not future.done():
            pool.abandon(future)
    return ToolResult(value=value, duration_ms=_since(started))


def _call(
    spec: ToolSpec, arguments: dict[str, Any], context: ToolContext, deadline: Deadline
) -> Any:
    """Runs on a pool thread: the function (awaited if async), then the check of its value."""
    if deadline.remaining() <= 0:  # queued past the caller's wait: nobody wants the result
        raise deadline.missed()
    try:
        value = spec.function(arguments, context)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value, deadline))
    except _AsyncTimeout:
        raise deadline.missed() from None
    except BaseException as exc:  # even SystemExit: it must not reach the event loop
        log.warning("plugin tool %r raised", spec.name, exc_info=True)
        raise ToolMisbehaved(_short(f"{type(exc).__name__}: {exc}")) from None
    return as_json_data(value, MAX_RESULT_BYTES)


class _AsyncTimeout(Exception):
    """An async tool was cancelled at its timeout (not a TimeoutError of its own)."""


async def _awaited(awaitable: Awaitable[Any], deadline: Deadline) -> Any:
    """An async tool's value; cancelled at the caller's deadline (it stops waiting then)."""
    loop = asyncio.get_running_loop()
    bound = asyncio.timeout_at(loop.time() + deadline.remaining())
    try:
        async with bound:
            return await awaitable
    except TimeoutError:
        if bound.expired():
            raise _AsyncTimeout from None
        raise


def as_json_data(value: Any, max_bytes: int) -> Any:
    """``value`` round-tripped through JSON (plain dicts, lists, str, numbers, bools, None).

    Raises ``ToolMisbehaved`` naming what makes it unfit: a type JSON lacks,
    NaN or Infinity, a cycle, lone surrogates, or more than ``max_bytes``.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    parts: list[str] = []
    size = 0
    try:
        for part in encoder.iterencode(value):
            size += len(part.encode("utf-8"))
            if size > max_bytes:
                raise ToolMisbehaved(f"returned more than {max_bytes} bytes of JSON")
            parts.append(part)
    except UnicodeEncodeError:  # before ValueError, its base
        raise ToolMisbehaved("returned text that is not valid Unicode (lone surrogates)") from None
    except (TypeError, ValueError) as exc:  # a set, an object; NaN, Infinity, a cycle
        raise ToolMisbehaved(f"returned a value that is not JSON: {exc}") from None
    except RecursionError:
        raise ToolMisbehaved("returned a value nested too deeply for JSON") from None
    return json.loads("".join(parts))


def _short(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


def _since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0


def _error(started: float, message: str) -> ToolResult:
    return ToolResult(is_error=True, error=message, duration_ms=_since(started))
