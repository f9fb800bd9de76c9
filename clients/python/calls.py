"""How a typed call reaches the server, once for each client.

The typed call mixins (:mod:`~projectqa.client.admin`, :mod:`~projectqa.client.chat`, …)
are written once and shared by both clients. Each method builds its request and hands it
to one of three primitives:

- ``_call(method, request, pick)``: a unary call whose response ``pick`` turns into what
  the caller wants (``lambda r: r.project``);
- ``_pages(method, request, field)``: the items of ``field`` of every page of a list call;
- ``_stream(kind, method, request, timeout)``: a server stream, wrapped in ``kind.sync``
  or ``kind.aio``.

:class:`BlockingCalls` implements them for the sync :class:`~projectqa.client.Client`
(results, iterators, :class:`ServerStream`), :class:`AsyncCalls` for the
:class:`~projectqa.client.AsyncClient` (awaitables, async iterators,
:class:`AsyncServerStream`). Both streams end quietly after the caller's own ``cancel()``
and raise :class:`~projectqa.client.errors.ClientError` for anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Generic, NamedTuple, Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from projectqa.client.errors import ClientError, translate_rpc_errors

Response = TypeVar("Response", bound=Message)
Event = TypeVar("Event", bound=Message)
Picked = TypeVar("Picked")


def same(response: Any) -> Any:
    """The default ``pick``: the response itself."""
    return response


def nothing(response: Any) -> None:
    """The ``pick`` of calls whose response carries nothing worth returning."""
    return None


class _Cancellable:
    """One call of a server stream that the client may end early (both flavours)."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = False

    def cancel(self) -> None:
        """Ends the stream from the client side; iteration then ends quietly."""
        self._cancelled = True
        self._call.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (leaving a ``with`` block calls it)."""
        return self._cancelled

    def _ended_by_us(self, error: ClientError) -> bool:
        return self._cancelled and error.code == grpc.StatusCode.CANCELLED


def _cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


@contextmanager
def translate_aio_errors() -> Iterator[None]:
    """:func:`~projectqa.client.errors.translate_rpc_errors` for ``grpc.aio`` calls.

    ``grpc.aio`` ends a call cancelled on this side (a stream's ``cancel()``, the
    channel closing) with ``asyncio.CancelledError``. Unless the awaiting task is
    being cancelled (again, since the block began), that becomes a ClientError with
    code CANCELLED, so a closed client never looks like a cancelled task. A call on
    a closed channel (grpc's ``UsageError``) is a CANCELLED ClientError too.
    """
    cancelling = _cancelling()
    try:
        with translate_rpc_errors():
            yield
    except asyncio.CancelledError:
        if _cancelling() > cancelling:
            raise
        raise ClientError(
            grpc.StatusCode.CANCELLED, "the call was cancelled by the client"
        ) from None
    except grpc.aio.UsageError as error:
        raise ClientError(grpc.StatusCode.CANCELLED, str(error)) from None


class ServerStream(_Cancellable, Iterator[Event], Generic[Event]):
    """The messages of one server stream; iteration ends with the stream.

    Failures raise :class:`~projectqa.client.errors.ClientError`. ``cancel()``
    (or leaving a ``with`` block) ends the stream from the client side;
    iterating afterwards ends at once.
    """

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        if self._cancelled:
            raise StopIteration
        try:
            with translate_rpc_errors():
                return next(self._call)
        except ClientError as error:
            if self._ended_by_us(error):
                raise StopIteration from None
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


class AsyncServerStream(_Cancellable, AsyncIterator[Event], Generic[Event]):
    """The messages of one ``grpc.aio`` server stream, for ``async for``.

    The same semantics as :class:`ServerStream`: failures raise
    :class:`~projectqa.client.errors.ClientError`; ``cancel()`` (from any task, or
    leaving an ``async with`` block) ends the stream, and an ``async for`` waiting on
    it then ends quietly. Cancelling the *task* that iterates still raises
    ``asyncio.CancelledError`` (and cancels the call); closing the client fails
    the stream with a CANCELLED ClientError.
    """

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._cancelled:
            raise StopAsyncIteration
        try:
            with translate_aio_errors():
                message = await self._call.read()
        except ClientError as error:
            if self._ended_by_us(error):
                raise StopAsyncIteration from None
            raise
        if message is grpc.aio.EOF:
            raise StopAsyncIteration
        return message

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


SyncStream = TypeVar("SyncStream", bound=ServerStream[Any])
AioStream = TypeVar("AioStream", bound=AsyncServerStream[Any])


class StreamKind(NamedTuple, Generic[SyncStream, AioStream]):
    """The stream classes of one kind of server stream: one per client."""

    sync: type[SyncStream]
    aio: type[AioStream]


class StubCalls:
    """What a typed call mixin needs from the client it is mixed into.

    The annotations are those of the sync client; :class:`AsyncCalls` returns
    awaitables, async iterators and async streams of the same types instead.
    """

    def _call(
        self,
        method: Callable[..., Any],
        request: Message,
        pick: Callable[[Any], Picked] = same,
    ) -> Picked:
        raise NotImplementedError

    def _pages(self, method: Callable[..., Any], request: Any, field: str) -> Iterator[Any]:
        raise NotImplementedError

    def _stream(
        self,
        kind: StreamKind[SyncStream, Any],
        method: Callable[..., Any],
        request: Message,
        timeout: float | None,
    ) -> SyncStream:
        raise NotImplementedError


class BlockingCalls(StubCalls):
    """The primitives of the sync client: each call blocks until it has its answer."""

    def _call(
        self,
        method: Callable[..., Any],
        request: Message,
        pick: Callable[[Any], Picked] = same,
    ) -> Picked:
        with translate_rpc_errors():
            response = method(request)
        return pick(response)

    def _pages(self, method: Callable[..., Any], request: Any, field: str) -> Iterator[Any]:
        """The items of ``field`` of every page, fetched lazily until the last one."""
        while True:
            response: Any = self._call(method, request)
            yield from getattr(response, field)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def _stream(
        self,
        kind: StreamKind[SyncStream, Any],
        method: Callable[..., Any],
        request: Message,
        timeout: float | None,
    ) -> SyncStream:
        with translate_rpc_errors():
            return kind.sync(method(request, timeout=timeout))


class AsyncCalls(StubCalls):
    """The primitives of the asyncio client: coroutines, async iterators, async streams.

    ``_call`` and ``_pages`` override StubCalls' sync signatures with their async forms
    (hence the two ignores): the typed mixins are written once, annotated for the sync
    client, and return whatever the primitive returns. lsp/server_calls.py types the
    async forms of the calls the editor bridge makes.
    """

    async def _call(  # type: ignore[override]
        self,
        method: Callable[..., Any],
        request: Message,
        pick: Callable[[Any], Picked] = same,
    ) -> Picked:
        with translate_aio_errors():
            response = await method(request)
        return pick(response)

    async def _pages(  # type: ignore[override]
        self, method: Callable[..., Any], request: Any, field: str
    ) -> AsyncIterator[Any]:
        """The items of ``field`` of every page, fetched lazily until the last one."""
        while True:
            response: Any = await self._call(method, request)
            for item in getattr(response, field):
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def _stream(
        self,
        kind: StreamKind[Any, AioStream],
        method: Callable[..., Any],
        request: Message,
        timeout: float | None,
    ) -> AioStream:
        with translate_aio_errors():
            return kind.aio(method(request, timeout=timeout))


__all__ = [
    "AsyncCalls",
    "AsyncServerStream",
    "BlockingCalls",
    "ServerStream",
    "StreamKind",
    "StubCalls",
    "nothing",
    "same",
    "translate_aio_errors",
]
