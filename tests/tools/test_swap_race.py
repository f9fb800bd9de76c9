"""OpenFile and Grep under a real swap race: a directory of the checkout exchanged with a
symlink to a folder outside it (``renameat2(RENAME_EXCHANGE)``), over and over, by another
process, while the tools read below it. Nothing from outside may ever come back.

The race is bounded in count (a fixed number of tool calls; the swapper stops when they are
done or after ``MAX_SWAPS``), never in time.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from projectqa.server.errors import FailedPrecondition, InvalidArgument, NotFound
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")

MIN_SWAPS = 2000
MAX_SWAPS = 50_000_000  # a safety net only: the swapper stops when the calls are done
OPEN_CALLS = 3000
GREP_CALLS = 150
INSIDE, OUTSIDE = "needle inside", "needle OUTSIDE"

# The swapper: exchanges ``box`` (a folder of the checkout) with ``bait`` (a symlink out of
# it) until a byte arrives on stdin, then prints how many exchanges it made.
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
    return hasattr(ctypes.CDLL(None), "renameat2")


@dataclass
class Race:
    root: Path
    checkout: Checkout
    swapper: subprocess.Popen[str]

    def stop(self) -> int:
        """Stop the swapper; return how many exchanges it made."""
        assert self.swapper.stdin is not None and self.swapper.stdout is not None
        self.swapper.stdin.write("x")
        self.swapper.stdin.close()
        swaps = int(self.swapper.stdout.readline())
        assert self.swapper.wait(timeout=60) == 0
        return swaps


@pytest.fixture
def race(tmp_path: Path) -> Iterator[Race]:
    if not renameat2_available():
        pytest.skip("libc has no renameat2")
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "box").mkdir(parents=True)
    outside.mkdir()
    (root / "box" / "secret.txt").write_text(f"{INSIDE}\n")
    (outside / "secret.txt").write_text(f"{OUTSIDE}\n")
    (root / "bait").symlink_to(outside, target_is_directory=True)
    argv = [sys.executable, "-c", SWAPPER, str(root / "box"), str(root / "bait"), str(MAX_SWAPS)]
    swapper = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert swapper.stdout is not None and swapper.stdout.readline().strip() == "ready"
    race = Race(root, Checkout("con_race", "race", root.resolve()), swapper)
    try:
        yield race
    finally:
        if swapper.poll() is None:
            swapper.kill()
            swapper.wait()


def test_open_file_never_reads_through_a_swapped_directory(race: Race) -> None:
    read = escapes = 0
    for _ in range(OPEN_CALLS):
        try:
            content = open_file([race.checkout], "box/secret.txt").content
        except (InvalidArgument, NotFound, FailedPrecondition):
            continue  # the folder was a symlink out of the checkout at that moment
        read += 1
        escapes += OUTSIDE in content
    swaps = race.stop()
    print(f"open_file: {OPEN_CALLS} calls, {read} read, {escapes} escapes, {swaps} swaps")
    assert swaps >= MIN_SWAPS
    assert read > 0  # the race let some calls through: the test tested something
    assert escapes == 0


async def test_grep_never_reads_through_a_swapped_directory(race: Race) -> None:
    matches = escapes = 0
    for _ in range(GREP_CALLS):
        result = await grep([race.checkout], GrepQuery("needle"))
        matches += len(result.matches)
        escapes += sum(OUTSIDE in match.line.text for match in result.matches)
    swaps = race.stop()
    print(f"grep: {GREP_CALLS} calls, {matches} matches, {escapes} escapes, {swaps} swaps")
    assert swaps >= MIN_SWAPS
    assert matches > 0
    assert escapes == 0


def test_the_swapper_really_swaps(race: Race) -> None:
    """Sanity: while the swapper runs, the name ``box`` is sometimes the symlink."""
    kinds = {os.path.islink(race.root / "box") for _ in range(20_000)}
    assert race.stop() >= MIN_SWAPS
    assert kinds == {True, False}
