"""The base of the typed call mixins: one unary call, a list that follows pages, and a
server stream the caller can cancel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import grpc
from google.protobuf.message import Message

from projectqa.client.errors import ClientError, translate_rpc_errors

Response = TypeVar("Response", bound=Message)
Event = TypeVar("Event", bound=Message)


class ServerStream(Iterator[Event], Generic[Event]):
    """The messages of one server stream; iteration ends with the stream.

    Failures raise :class:`~projectqa.client.errors.ClientError`. ``cancel()``
    (or leaving a ``with`` block) ends the stream from the client side;
    iterating afterwards ends at once.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        if self._cancelled:
            raise StopIteration
        try:
            with translate_rpc_errors():
                return next(self._call)
        except ClientError as error:
            if self._cancelled and error.code == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


class StubCalls:
    """What a typed call mixin needs from the client it is mixed into."""

    def _call(self, method: Callable[[Message], Response], request: Message) -> Response:
        raise NotImplementedError

    def _pages(self, method: Callable[[Any], Any], request: Any, field: str) -> Iterator[Any]:
        """The items of ``field`` of every page, fetched lazily until the last one."""
        while True:
            response = self._call(method, request)
            yield from getattr(response, field)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token
