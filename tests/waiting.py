"""Waiting, bounded, for what a server does behind its answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], *, polls: int = 400) -> bool:
    """True once ``condition()`` holds; checks it ``polls`` times, 25 ms apart (bounded in
    count: a busy machine gets the same number of looks, only slower), then once more."""
    for _ in range(polls):
        if condition():
            return True
        await asyncio.sleep(0.025)
    return condition()
