"""OpenFile and Grep under a real swap race: a directory of the checkout exchanged with a
symlink to a folder outside it (``renameat2(RENAME_EXCHANGE)``), over and over, by another
process, while the tools read below it. Nothing from outside may ever come back.

The race is bounded in count (a fixed number of tool calls; the swapper stops when they are
done or after ``MAX_SWAPS``), never in time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from projectqa.server.errors import FailedPrecondition, InvalidArgument, NotFound
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file
from tests.swapping import Swapper, swapping

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")

MIN_SWAPS = 2000
OPEN_CALLS = 3000
GREP_CALLS = 150
INSIDE, OUTSIDE = "needle inside", "needle OUTSIDE"


@dataclass
class Race:
    root: Path
    checkout: Checkout
    swapper: Swapper

    def stop(self) -> int:
        """Stop the swapper; return how many exchanges it made."""
        return self.swapper.stop()


@pytest.fixture
def race(tmp_path: Path) -> Iterator[Race]:
    """``box`` (a folder of the checkout) exchanged with ``bait`` (a symlink out of it)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "box").mkdir(parents=True)
    outside.mkdir()
    (root / "box" / "secret.txt").write_text(f"{INSIDE}\n")
    (outside / "secret.txt").write_text(f"{OUTSIDE}\n")
    (root / "bait").symlink_to(outside, target_is_directory=True)
    with swapping(root / "box", root / "bait") as swapper:
        yield Race(root, Checkout("con_race", "race", root.resolve()), swapper)


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
