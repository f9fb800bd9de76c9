"""How a failed command ends: one message on stderr and an exit code per class.

The status → exit code mapping lives here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import click

from projectqa.client.connection import is_loopback
from projectqa.client.errors import ClientError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_ACCESS = 4
EXIT_UNREACHABLE = 5
EXIT_CONFLICT = 6

EXIT_CODES: Mapping[str, int] = {
    "INVALID_ARGUMENT": EXIT_USAGE,
    "OUT_OF_RANGE": EXIT_USAGE,
    "NOT_FOUND": EXIT_NOT_FOUND,
    "UNAUTHENTICATED": EXIT_ACCESS,
    "PERMISSION_DENIED": EXIT_ACCESS,
    "UNAVAILABLE": EXIT_UNREACHABLE,
    "DEADLINE_EXCEEDED": EXIT_UNREACHABLE,
    "ALREADY_EXISTS": EXIT_CONFLICT,
    "FAILED_PRECONDITION": EXIT_CONFLICT,
}

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 other failure; 2 invalid argument or usage; 3 not found; "
    "4 unauthenticated or permission denied; 5 server unavailable or deadline exceeded; "
    "6 already exists or failed precondition."
)


def exit_code_for(code_name: str) -> int:
    """The exit code of a gRPC status code name ("NOT_FOUND" → 3)."""
    return EXIT_CODES.get(code_name, EXIT_FAILURE)


class CommandFailed(click.ClickException):
    """Ends the command with ``error: <message>`` on stderr and ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        # click declares exit_code per class (a ClassVar) but reads it from the instance it
        # catches; one class serves every status here, so the code is set per failure.
        self.exit_code = exit_code  # type: ignore[misc]

    @classmethod
    def for_status(cls, code_name: str, details: str) -> CommandFailed:
        return cls(f"{code_name}: {details}", exit_code_for(code_name))

    @classmethod
    def from_client_error(cls, error: ClientError, address: str | None = None) -> CommandFailed:
        """The failure of a call to the server at ``address`` (named when unreachable)."""
        if address is not None and error.connection_failure is not None:
            return cls(unreachable(address, error.connection_failure), EXIT_UNREACHABLE)
        return cls.for_status(error.code_name, error.details)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def unreachable(address: str, reason: str) -> str:
    """What to say when no connection to ``address`` could be made, and what to do."""
    if is_loopback(address):
        hint = (
            "Start one with `projectqa serve`, or point to yours with --address ADDRESS or "
            "PROJECTQA_ADDRESS (`projectqa login ADDRESS` saves it)."
        )
    else:
        hint = (
            "Check the address, that this machine can reach it (network, VPN, firewall), "
            "and --tls or --tls-ca-file if it serves TLS; or point elsewhere with "
            "--address ADDRESS (`projectqa login ADDRESS` saves it)."
        )
    return f"the ProjectQA server at {address} is not reachable ({reason}).\n{hint}"


class _WarningEcho(logging.Handler):
    """Shows the client library's warnings as the CLI's own: ``warning: …`` on stderr
    (click's stderr of the moment, which its test runner swaps)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"warning: {record.getMessage()}", err=True)


def show_library_warnings() -> None:
    """Routes ``projectqa.client`` warnings through :class:`_WarningEcho` (once)."""
    logger = logging.getLogger("projectqa.client")
    if not any(isinstance(handler, _WarningEcho) for handler in logger.handlers):
        logger.addHandler(_WarningEcho(logging.WARNING))


def describe(error: ClientError, address: str) -> str:
    """One failed call as the CLI shows it (e.g. inside a chat, which goes on)."""
    return CommandFailed.from_client_error(error, address).format_message()


def missing_token(token_path: Path, address: str) -> CommandFailed:
    """The failure of a command that needs a token when none was found."""
    if not is_loopback(address):
        hint = (
            f"{address} is not this machine, so {token_path} is not sent there; "
            f"pass --token or save one with `projectqa login {address}`"
        )
    elif token_path.exists():
        hint = f"cannot read {token_path}; pass --token or set PROJECTQA_TOKEN"
    else:
        hint = f"pass --token, set PROJECTQA_TOKEN or start the server once to create {token_path}"
    return CommandFailed(f"no token: {hint}", EXIT_ACCESS)
