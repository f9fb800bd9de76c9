"""The one exception the client library raises for a failed call.

Every ``grpc.RpcError`` is turned into a :class:`ClientError` in exactly one
place (:func:`translate_rpc_errors`), so callers never need to know gRPC's
error types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

# What only the gRPC runtime writes when it cannot reach a server (lowercase): a server's
# own UNAVAILABLE (its store down, say) may quote "connection refused" from its database.
RUNTIME_CONNECT_MARKERS = (
    "failed to connect to all addresses",
    "errors resolving",
    "dns resolution failed",
    "socket closed",
)
# What such a failure means to a user; the first marker found gives the reason.
CONNECTION_FAILURES: tuple[tuple[str, str], ...] = (
    ("connection refused", "connection refused: nothing listens there"),
    ("errors resolving", "the host name does not resolve"),
    ("dns resolution failed", "the host name does not resolve"),
    ("handshake", "the TLS handshake failed: does one side use TLS and not the other?"),
    ("ssl", "the TLS connection failed: does one side use TLS and not the other?"),
    ("timed out", "the connection timed out"),
    ("socket closed", "the connection was closed: is it a ProjectQA server, with TLS?"),
)


class ClientError(Exception):
    """A call failed; carries the gRPC status code and the server's message.

    ``code_name`` is the status code's name ("NOT_FOUND", "UNAVAILABLE", …),
    ``details`` the message the server (or the gRPC runtime) gave.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details

    @property
    def code_name(self) -> str:
        return self.code.name

    @property
    def connection_failure(self) -> str | None:
        """Why no connection to the server could be made ("connection refused", …), or
        None when the server was reached (it may still have answered UNAVAILABLE itself,
        e.g. while its store is down)."""
        if self.code != grpc.StatusCode.UNAVAILABLE:
            return None
        details = self.details.lower()
        if not any(marker in details for marker in RUNTIME_CONNECT_MARKERS):
            return None
        found = (reason for marker, reason in CONNECTION_FAILURES if marker in details)
        return next(found, "cannot connect")

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> ClientError:
        """Builds the error from a failed call (sync or ``grpc.aio``)."""
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else None
        return cls(code or grpc.StatusCode.UNKNOWN, details or "(the server gave no details)")


@contextmanager
def translate_rpc_errors() -> Iterator[None]:
    """Re-raises any ``grpc.RpcError`` inside the block as a :class:`ClientError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise ClientError.from_rpc_error(error) from error
