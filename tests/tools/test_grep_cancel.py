"""Grep cancelled at any moment reaps every ``rg`` it started through asyncio's child
watcher (issue #13 follow-up, item 6). A spawn cancelled halfway made asyncio close the
transport, whose ``poll()`` could reap an ``rg`` that had already exited before the
watcher did: the watcher then logged "Unknown child process pid …, will report
returncode 255". Bounded in count (``CALLS`` cancelled searches over a tiny tree).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path

import pytest

from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import GrepQuery, grep

CALLS = 400
STEPS = 20  # cancelled after 0, 0.5, …, 9.5 ms: before, during and after the spawns


def join_child_watchers() -> None:
    """Let asyncio's waitpid threads (ThreadedChildWatcher) finish and log."""
    for thread in threading.enumerate():
        if thread.name.startswith("waitpid-"):
            thread.join(timeout=10)


async def test_cancelled_greps_leave_no_child_to_the_watcher(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for number in range(3):
        (tmp_path / f"f{number}.txt").write_text("needle\n")
    checkouts = [Checkout("con_c", "c", tmp_path.resolve())]
    caplog.set_level(logging.WARNING, logger="asyncio")
    for call in range(CALLS):
        search = asyncio.ensure_future(grep(checkouts, GrepQuery("needle")))
        await asyncio.sleep((call % STEPS) * 0.0005)
        search.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await search
    join_child_watchers()
    unknown = [r.getMessage() for r in caplog.records if "Unknown child" in r.getMessage()]
    assert unknown == []
