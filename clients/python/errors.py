"""The one exception the client library raises for a failed call.

Every ``grpc.RpcError`` is turned into a :class:`ClientError` in exactly one
place (:func:`translate_rpc_errors`), so callers never need to know gRPC's
error types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc


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
