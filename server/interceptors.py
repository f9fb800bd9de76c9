"""The one interceptor every RPC passes: budgets, authentication, decoding, errors, access log.

A call is admitted in the order that keeps refusing cheap (see ``limits``):
its credential's share and its kind's total budget, authentication, the
user's share; only then is the request decoded, by the guard rather than by
grpc, so that bytes the protobuf decoder rejects answer INVALID_ARGUMENT
instead of UNKNOWN (grpc.aio decodes before any interceptor code runs and
reports a decoder error as UNKNOWN with a logged traceback). Expected failures
(``ProjectQAError``) become their gRPC status with the error's message;
anything else becomes INTERNAL with a reference the log line also carries, so
no traceback or secret reaches the client. Refused calls get one rate-limited
log line per caller, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

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
from .limits import Holder, Limit, OverBudget, RpcBudgets
from .logs import ThrottledLog
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
    OverBudget: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
TOKEN_ID = re.compile(r"tok_[0-9a-f]{24}")
REFUSAL_LOG_INTERVAL_S = 10.0  # at most one "rpc refused" line per caller this often

RunBlocking = Callable[..., Awaitable[Any]]
Deserializer = Callable[[bytes], Any] | None
Context = grpc.aio.ServicerContext[Any, Any]
Behavior = Callable[[Any, Context], Awaitable[Any]]
# A string: grpc's RpcMethodHandler is generic only in its stubs.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    return _principal.get()


def status_of(error: ProjectQAError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return grpc.StatusCode.INTERNAL


class RpcGuard(grpc.aio.ServerInterceptor):
    """Admits calls within their budgets, authenticates, decodes, maps errors, logs."""

    def __init__(
        self,
        store: Store,
        run_blocking: RunBlocking,
        budgets: RpcBudgets,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._run_blocking = run_blocking
        self._budgets = budgets
        self._refusals = ThrottledLog(log, REFUSAL_LOG_INTERVAL_S, clock)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        public = details.method.startswith(PUBLIC_METHOD_PREFIXES)
        if handler is None or (public and handler.request_streaming):
            return handler  # reflection (opt-in) streams requests: grpc decodes each itself
        rpc = _Rpc(
            details.method,
            None if public else _authorization(details.invocation_metadata),
            public,
            handler.response_streaming,
            handler.request_deserializer,
        )
        # The guard decodes (no deserializer for grpc): see the module docstring.
        if handler.unary_unary:
            wrapped = self._guard_unary(handler.unary_unary, rpc)
            return grpc.unary_unary_rpc_method_handler(wrapped, None, handler.response_serializer)
        if handler.unary_stream:
            wrapped = self._guard_stream(handler.unary_stream, rpc)
            return grpc.unary_stream_rpc_method_handler(wrapped, None, handler.response_serializer)
        raise RuntimeError(f"{details.method}: client-streaming RPCs are not guarded yet")

    # grpc's stubs type handlers for the sync server; under grpc.aio each behaviour is a
    # coroutine function (unary) or an async generator or coroutine function (streams).
    def _guard_unary(self, behavior: Callable[..., Any], rpc: _Rpc) -> Behavior:
        async def guarded(raw: bytes, context: Context) -> Any:
            async with self._admitted(rpc, raw, context) as request:
                return await behavior(request, context)

        return guarded

    def _guard_stream(self, behavior: Callable[..., Any], rpc: _Rpc) -> Callable[..., Any]:
        if not inspect.isasyncgenfunction(behavior):  # writes with context.write (health Watch)

            async def guarded_writer(raw: bytes, context: Context) -> None:
                async with self._admitted(rpc, raw, context) as request:
                    await behavior(request, context)

            return guarded_writer

        async def guarded(raw: bytes, context: Context) -> AsyncIterator[Any]:
            async with (
                self._admitted(rpc, raw, context) as request,
                contextlib.aclosing(behavior(request, context)) as responses,
            ):
                async for response in responses:
                    yield response

        return guarded

    @contextlib.asynccontextmanager
    async def _admitted(self, rpc: _Rpc, raw: bytes, context: Context) -> AsyncIterator[Any]:
        """The decoded request of a call admitted within its budget; maps what the call raises."""
        call = _CallLog(rpc.method, quiet=rpc.public)
        ticket = self._budgets.of_call(streaming=rpc.streaming, public=rpc.public).ticket()
        try:
            if rpc.streaming:
                self._budgets.check_stream_request(len(raw))
            # Before anything costs (no store call, no decoding): the credential's share, the total.
            ticket.take_share(("peer", _peer_host(context)) if rpc.public else rpc.credential)
            ticket.take()
            if not rpc.public:
                call.user = await self._authenticate(rpc.header)
                ticket.take_share(("user", call.user))  # one user, however many tokens
            yield _decode(rpc.deserializer, raw)
        except BaseException as exc:
            await call.fail(exc, context)
        finally:
            ticket.give_back()
            self._done(call, rpc, context)

    async def _authenticate(self, header: str | None) -> str:
        principal = await self._run_blocking(authenticate, self._store, header)
        _principal.set(principal)
        return principal.user.id

    def _done(self, call: _CallLog, rpc: _Rpc, context: Context) -> None:
        if call.refused is None:
            call.done()
            return
        peer = context.peer() or ""
        extra = {
            "rpc": call.method,
            "limit": call.refused.setting,
            "user": call.user,
            "token": _token_id(rpc.header),  # never the header itself: it holds the secret
            "peer": peer,
        }
        # Before authentication the caller is whoever the header claims: throttle by host.
        key = ("user", call.user) if call.user else ("peer", _host(peer))
        self._refusals.log(logging.WARNING, key, "rpc refused", extra)


@dataclass(frozen=True, slots=True)
class _Rpc:
    """What the guard knows of a call before it is admitted."""

    method: str
    header: str | None  # the authorization header (None for public methods)
    public: bool
    streaming: bool  # server-streaming: spends the stream budget
    deserializer: Deserializer

    @property
    def credential(self) -> Holder:
        # The whole header: only who knows the token can spend its share (never logged).
        return ("credential", self.header or "")


def _decode(deserializer: Deserializer, raw: bytes) -> Any:
    if deserializer is None:
        return raw
    try:
        return deserializer(raw)
    except DecodeError as exc:
        raise InvalidArgument("request", f"cannot be decoded: {_decode_reason(exc)}") from None


def _decode_reason(exc: DecodeError) -> str:
    """upb's reason without the message type ("String field had bad UTF-8")."""
    reason = str(exc).rpartition(": ")[2] or "malformed"
    if "MaxDepth" in reason:
        return "messages (or Struct values) nested too deeply"
    return reason


class _CallLog:
    """Outcome of one RPC, logged once when it ends (public calls: never)."""

    def __init__(self, method: str, quiet: bool = False) -> None:
        self.method = method
        self.quiet = quiet
        self.user = ""
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        self.ref = ""
        self.refused: Limit | None = None

    async def fail(self, exc: BaseException, context: Context) -> None:
        """Turn ``exc`` into the RPC's status (re-raising what grpc itself must see)."""
        if isinstance(exc, grpc.aio.AbortError):  # the handler aborted with its own status
            self.code = context.code() or grpc.StatusCode.UNKNOWN
            raise exc
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self.code = grpc.StatusCode.CANCELLED
            raise exc
        if isinstance(exc, OverBudget):
            self.refused = exc.limit
        if isinstance(exc, ProjectQAError):
            self.code = status_of(exc)
            await context.abort(self.code, str(exc))
        self.code, self.ref = grpc.StatusCode.INTERNAL, secrets.token_hex(4)
        log.error("unexpected error", exc_info=exc, extra={"rpc": self.method, "ref": self.ref})
        await context.abort(self.code, f"internal error (ref {self.ref}); see the server log")

    def done(self) -> None:
        if self.quiet and not self.ref:
            return
        ms = round((time.perf_counter() - self.started) * 1000, 2)
        level = logging.WARNING if self.code is grpc.StatusCode.INTERNAL else logging.INFO
        extra = {"rpc": self.method, "code": self.code.name, "ms": ms, "user": self.user}
        if self.ref:
            extra["ref"] = self.ref
        log.log(level, "rpc", extra=extra)


def _peer_host(context: Context) -> str:
    """Who an anonymous caller is, as far as budgets go: its host (``ipv4:127.0.0.1``)."""
    return _host(context.peer() or "")


def _host(peer: str) -> str:
    return peer.rpartition(":")[0] or peer


def _token_id(header: str | None) -> str:
    """The id of the token a header presents (not secret: ListTokens shows it), or ""."""
    token_id = (header or "").partition(" ")[2].strip().partition(".")[0]
    return token_id if TOKEN_ID.fullmatch(token_id) else ""


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None
