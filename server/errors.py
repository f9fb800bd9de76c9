"""Typed domain errors.

Domain code raises these; each transport converts them once: the gRPC edge to
a status code (``services/errors.py``), the CLI to an exit code and message.
"""

from __future__ import annotations


class ProjectQAError(Exception):
    """Base of every expected failure. ``str(error)`` is safe to show a user."""


class InvalidArgument(ProjectQAError):
    """A request field is missing or malformed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(ProjectQAError):
    """The resource does not exist, or the caller may not know it does."""


class AlreadyExists(ProjectQAError):
    """A unique name or slug is taken."""


class Unauthenticated(ProjectQAError):
    """No credentials, or credentials that identify nobody."""


class PermissionDenied(ProjectQAError):
    """The caller is known but lacks the role the operation needs."""


class FailedPrecondition(ProjectQAError):
    """The system is not in a state that allows the operation."""


class RunLost(ProjectQAError):
    """A write fenced by a run's owner found another worker owning the run."""


class StoreUnavailable(ProjectQAError):
    """The store cannot be reached or did not answer in time."""


class StoreError(ProjectQAError):
    """The store could not be opened or migrated (configuration or disk problem)."""
