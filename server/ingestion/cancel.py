"""What stops a run: its cancellation, seen by every thread of the run."""

from __future__ import annotations

from typing import Protocol


class RunCancelled(Exception):
    """CancelIngestion was asked for this run (or its worker stops, or lost its lease)."""


class Cancellation(Protocol):
    """Set when the run must stop: cancelled, its worker stopping, or its lease lost."""

    def is_set(self) -> bool: ...
