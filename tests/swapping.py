"""A folder exchanged with a symlink over and over by another process
(``renameat2(RENAME_EXCHANGE)``), for race tests: bounded in count (the swapper stops
when told, or after ``MAX_SWAPS``)."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MAX_SWAPS = 50_000_000  # a safety net only: the swapper stops when the test is done

# Exchanges ``box`` with ``bait`` until a byte arrives on stdin, then prints how many
# exchanges it made.
SWAPPER = r"""
import ctypes, os, select, sys
libc = ctypes.CDLL(None, use_errno=True)
box, bait = (os.fsencode(p) for p in sys.argv[1:3])
limit = int(sys.argv[3])
AT_FDCWD, RENAME_EXCHANGE = -100, 2
print("ready", flush=True)
swaps = 0
while swaps < limit:
    if libc.renameat2(AT_FDCWD, box, AT_FDCWD, bait, RENAME_EXCHANGE) != 0:
        sys.exit(f"renameat2: {os.strerror(ctypes.get_errno())}")
    swaps += 1
    if swaps % 64 == 0 and select.select([sys.stdin], [], [], 0)[0]:
        break
print(swaps, flush=True)
"""


def renameat2_available() -> bool:
    return sys.platform == "linux" and hasattr(ctypes.CDLL(None), "renameat2")


class Swapper:
    """The running swapper; ``stop()`` returns how many exchanges it made."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def stop(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("x")
        self.process.stdin.close()
        swaps = int(self.process.stdout.readline())
        assert self.process.wait(timeout=60) == 0
        return swaps


@contextmanager
def swapping(box: Path, bait: Path) -> Iterator[Swapper]:
    """Exchange ``box`` and ``bait`` in a loop while the block runs (skips without
    ``renameat2``); the swapper is killed if the block did not stop it."""
    if not renameat2_available():
        pytest.skip("needs renameat2 (Linux)")
    argv = [sys.executable, "-c", SWAPPER, str(box), str(bait), str(MAX_SWAPS)]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield Swapper(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
