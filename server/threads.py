"""Blocking work (store calls) kept off the event loop, on a bounded thread pool; and
work that must end even when its caller is cancelled."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class BlockingRunner:
    """``await runner(fn, *args)`` runs ``fn(*args)`` on the pool and returns its result."""

    def __init__(self, threads: int, name: str = "projectqa-store") -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


async def run_to_end(task: asyncio.Future[T]) -> T:
    """``task``'s result once it has ended, even if the caller is cancelled meanwhile:
    the cancellation is let through only then (a killed ``rg`` is reaped, a descriptor
    a thread opened is not lost). ``task`` itself is never cancelled here."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
