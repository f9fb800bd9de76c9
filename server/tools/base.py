"""Records shared by every kind of tool."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Checkout:
    """A folder of files a connector indexed, as tools may read it.

    For a git connector, the private clone at the commit its last successful
    run indexed; for a local folder, the folder itself (``commit`` empty).
    """

    connector_id: str
    connector_name: str
    root: Path  # resolved, absolute
    commit: str = ""


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may know about the project it runs for."""

    project_id: str
    project_slug: str
    checkouts: tuple[Checkout, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call: a JSON value, or an error the caller can read.

    A tool's own failure (raised, timed out, exited non-zero, flooded output,
    returned something that is not JSON) is a result with ``is_error`` set,
    never an exception out of the runner.
    """

    value: Any = None
    is_error: bool = False
    error: str = ""
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
