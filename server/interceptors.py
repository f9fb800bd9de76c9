"""The one interceptor every RPC passes: authentication, error mapping, access log.

Authentication happens before any handler work. Expected failures
(``ProjectQAError``) become their gRPC status with the error's message;
anything else becomes INTERNAL with a reference the log line also carries, so
no traceback or secret reaches the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from .auth import Principal, authenticate
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ProjectQAError,
    StoreUnavailable,
    Unauthenticated,
)
from .store import Store

log = logging.getLogger("projectqa.rpc")
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_principal: ContextVar[Principal] = ContextVar("projectqa_principal")

STATUS_OF: dict[type[ProjectQAError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
}

RunBlocking = Callable[..., Awaitable[Any]]


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    return _principal.get()


def status_of(error: ProjectQAError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return grpc.StatusCode.INTERNAL


class RpcGuard(grpc.aio.ServerInterceptor):
    """Authenticates, maps errors to statuses and logs one line per RPC."""

    def __init__(self, store: Store, run_blocking: RunBlocking) -> None:
        self._store = store
        self._run_blocking = run_blocking

    async def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        handler = await continuation(details)
        if handler is None or details.method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        header = _authorization(details.invocation_metadata)
        if handler.unary_unary:
            wrapped = self._guard_unary(handler.unary_unary, details.method, header)
            return grpc.unary_unary_rpc_method_handler(
                wrapped, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            wrapped = self._guard_stream(handler.unary_stream, details.method, header)
            return grpc.unary_stream_rpc_method_handler(
                wrapped, handler.request_deserializer, handler.response_serializer
            )
        raise RuntimeError(f"{details.method}: client-streaming RPCs are not guarded yet")

    def _guard_unary(self, behavior, method: str, header: str | None):  # type: ignore[no-untyped-def]
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = _CallLog(method)
            try:
                call.user = await self._authenticate(header)
                return await behavior(request, context)
            except BaseException as exc:
                await call.fail(exc, context)
            finally:
                call.done(context)

        return guarded

    def _guard_stream(self, behavior, method: str, header: str | None):  # type: ignore[no-untyped-def]
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = _CallLog(method)
            try:
                call.user = await self._authenticate(header)
                async with contextlib.aclosing(behavior(request, context)) as responses:
                    async for response in responses:
                        yield response
            except BaseException as exc:
                await call.fail(exc, context)
            finally:
                call.done(context)

        return guarded

    async def _authenticate(self, header: str | None) -> str:
        principal = await self._run_blocking(authenticate, self._store, header)
        _principal.set(principal)
        return principal.user.id


class _CallLog:
    """Outcome of one RPC, logged once when it ends."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.user = ""
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        self.ref = ""

    async def fail(self, exc: BaseException, context: grpc.aio.ServicerContext) -> None:
        """Turn ``exc`` into the RPC's status (re-raising what grpc itself must see)."""
        if isinstance(exc, grpc.aio.AbortError):  # the handler aborted with its own status
            self.code = context.code() or grpc.StatusCode.UNKNOWN
            raise exc
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self.code = grpc.StatusCode.CANCELLED
            raise exc
        if isinstance(exc, ProjectQAError):
            self.code = status_of(exc)
            await context.abort(self.code, str(exc))
        self.code, self.ref = grpc.StatusCode.INTERNAL, secrets.token_hex(4)
        log.error("unexpected error", exc_info=exc, extra={"rpc": self.method, "ref": self.ref})
        await context.abort(self.code, f"internal error (ref {self.ref}); see the server log")

    def done(self, context: grpc.aio.ServicerContext) -> None:
        ms = round((time.perf_counter() - self.started) * 1000, 2)
        level = logging.WARNING if self.code is grpc.StatusCode.INTERNAL else logging.INFO
        extra = {"rpc": self.method, "code": self.code.name, "ms": ms, "user": self.user}
        if self.ref:
            extra["ref"] = self.ref
        log.log(level, "rpc", extra=extra)


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None
