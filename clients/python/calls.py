"""The base of the typed call mixins: one unary call, and a list that follows pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from google.protobuf.message import Message

Response = TypeVar("Response", bound=Message)


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
