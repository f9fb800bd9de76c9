"""Plain helpers for the service tests; the fixtures that use them live in conftest.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from projectqa.server.logs import JsonFormatter, TextFormatter
from projectqa.v1 import admin_pb2, admin_pb2_grpc

Code = grpc.StatusCode


@dataclass(frozen=True)
class Caller:
    """A user created for a test, with a stub authenticated as that user."""

    user: admin_pb2.User
    token: admin_pb2.Token
    secret: str
    stub: admin_pb2_grpc.AdminServiceStub


async def rpc_error(call: Awaitable[Any], code: grpc.StatusCode, *fragments: str) -> str:
    """Await ``call``, expect it to fail with ``code``; return the details.

    Every fragment must occur in the details, so a test says which field or
    resource the message has to name.
    """
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    error = raised.value
    details = error.details() or ""
    assert error.code() == code, f"expected {code.name}, got {error.code().name}: {details}"
    for fragment in fragments:
        assert fragment in details, f"{fragment!r} not in details {details!r}"
    return details


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def as_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


async def all_pages(
    list_rpc: Callable[[Any], Awaitable[Any]],
    request: Message,
    items_field: str,
    page_size: int = 3,
) -> list[list[Any]]:
    """Follow ``next_page_token`` from the first page to the last; return every page."""
    pages: list[list[Any]] = []
    token = ""
    while True:
        page_request = type(request)()
        page_request.CopyFrom(request)
        page_request.page_size = page_size
        page_request.page_token = token
        response = await list_rpc(page_request)
        pages.append(list(getattr(response, items_field)))
        token = response.next_page_token
        if not token:
            return pages
        assert len(pages) < 50, "pagination does not end"


def flatten(pages: Iterable[Sequence[Any]]) -> list[Any]:
    return [item for page in pages for item in page]


def rendered(record: logging.LogRecord) -> str:
    """Everything a log handler could write about ``record``: message, extras, traceback."""
    return "\n".join(
        (JsonFormatter().format(record), TextFormatter().format(record), repr(record.__dict__))
    )


def assert_never_logged(records: Sequence[logging.LogRecord], *secrets: str) -> None:
    assert records, "no log records captured: the check below would prove nothing"
    for record in records:
        text = rendered(record)
        for secret in secrets:
            assert secret not in text, f"secret leaked into log record {record.getMessage()!r}"


def assert_not_in_response(response: Message, *secrets: str) -> None:
    """No secret anywhere in the response, whatever field it might hide in."""
    wire = response.SerializeToString()
    text = str(response)
    for secret in secrets:
        assert secret.encode() not in wire, f"secret on the wire in {type(response).__name__}"
        assert secret not in text


def _with_token(details, token: str):  # type: ignore[no-untyped-def]
    header = ("authorization", f"Bearer {token}")
    return details._replace(metadata=[*(details.metadata or ()), header])


class BearerUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_token(details, self._token), request)


class BearerStream(grpc.aio.UnaryStreamClientInterceptor):
    """grpc.aio files an interceptor under one call kind only: one class per kind."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_token(details, self._token), request)


def bearer_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors adding ``authorization: Bearer <token>`` to unary and streaming calls."""
    return [BearerUnary(token), BearerStream(token)]
