"""The ``count_lines`` tool: how many lines the project's files matching a glob have.

Offline and read-only. It reads only inside the project's checkouts: the glob
is relative, ``..`` is refused, and a match whose real path (symlinks
resolved) leaves its checkout is skipped.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from projectqa.plugin import Checkout, ToolContext, ToolSpec

MAX_FILES = 10_000  # files counted per call; the rest is reported as truncated
LISTED_FILES = 100  # the largest files, by lines, listed in the result
BINARY_SNIFF = 8192
ARGUMENTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "glob": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "description": "files to count, relative to the checkout, e.g. '**/*.py'",
        },
        "connector": {
            "type": "string",
            "description": "only this connector's checkout (its name); all by default",
        },
    },
    "required": ["glob"],
    "additionalProperties": False,
}


class BadGlob(ValueError):
    """The glob would leave the checkout or is malformed."""


def count_lines(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    """The tool's function (see ``ToolSpec`` for the calling convention)."""
    pattern = _checked_glob(arguments["glob"])
    wanted = arguments.get("connector")
    counted: list[dict[str, Any]] = []
    skipped_binary = 0
    truncated = False
    for checkout in context.checkouts:
        if wanted and checkout.connector_name != wanted:
            continue
        for path in _matches(checkout, pattern):
            if len(counted) >= MAX_FILES:
                truncated = True
                break
            lines = _line_count(path)
            if lines is None:
                skipped_binary += 1
                continue
            relative = path.relative_to(checkout.root).as_posix()
            counted.append({"connector": checkout.connector_name, "path": relative, "lines": lines})
    largest = sorted(counted, key=lambda f: (-f["lines"], f["connector"], f["path"]))
    return {
        "total_lines": sum(f["lines"] for f in counted),
        "file_count": len(counted),
        "files": largest[:LISTED_FILES],
        "skipped_binary": skipped_binary,
        "truncated": truncated,
    }


def _checked_glob(pattern: str) -> str:
    parts = PurePosixPath(pattern).parts
    if pattern.startswith(("/", "\\")) or ".." in parts or not parts:
        raise BadGlob(f"glob {pattern!r} must be relative and stay inside the checkout")
    return pattern


def _matches(checkout: Checkout, pattern: str) -> list[Path]:
    root = checkout.root.resolve()
    found = []
    for path in sorted(checkout.root.glob(pattern)):
        real = path.resolve()
        inside = real.is_relative_to(root) and ".git" not in path.relative_to(checkout.root).parts
        if inside and real.is_file():
            found.append(path)
    return found


def _line_count(path: Path) -> int | None:
    """Lines in a text file (a last line without a newline counts); None for binary files."""
    with path.open("rb") as handle:
        head = handle.read(BINARY_SNIFF)
        if b"\0" in head:
            return None
        newlines, last = head.count(b"\n"), head[-1:]
        while chunk := handle.read(1 << 20):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return newlines + (1 if last not in (b"", b"\n") else 0)


COUNT_LINES_TOOL = ToolSpec(
    name="count_lines",
    description=(
        "Count the lines of the project's files matching a glob (e.g. '**/*.py'): "
        "the total, the number of files and the largest files."
    ),
    arguments_schema=ARGUMENTS_SCHEMA,
    function=count_lines,
)
