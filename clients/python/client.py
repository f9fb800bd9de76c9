"""Clients of a ProjectQA server: :class:`Client` (sync) and :class:`AsyncClient` (asyncio).

Both resolve the address and the token the same way (see
:mod:`projectqa.client.connection`), send ``authorization: Bearer <token>`` on
every call and raise :class:`~projectqa.client.errors.ClientError` instead of
``grpc.RpcError`` from their own methods. They share every typed method (one
definition each, in the call mixins): what the sync client returns, the
asyncio client returns as an awaitable, a list as an async iterator and a
server stream as an async stream. The raw stubs stay reachable as ``.admin``,
``.ingestion``, ``.retrieval``, ``.tools`` and ``.chat`` for anything the typed
methods do not cover, through ``call(stub_method, request)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from projectqa.client.admin import AdminCalls
from projectqa.client.calls import AsyncCalls, BlockingCalls
from projectqa.client.chat import ChatCalls
from projectqa.client.connection import (
    Transport,
    open_aio_channel,
    open_channel,
    resolve_address,
    resolve_token,
    resolve_transport,
)
from projectqa.client.errors import translate_rpc_errors
from projectqa.client.ingestion import BlockingIngestionCalls, IngestionCalls
from projectqa.client.retrieval import RetrievalCalls
from projectqa.client.toolcalls import ToolCalls
from projectqa.v1 import (
    admin_pb2_grpc,
    chat_pb2_grpc,
    ingestion_pb2_grpc,
    retrieval_pb2_grpc,
    tools_pb2_grpc,
)

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)

DEFAULT_TIMEOUT = 30.0


def _health_check(
    channel: grpc.Channel,
) -> grpc.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    """``grpc.health.v1.Health/Check`` on ``channel`` (a ``grpc.aio`` one too), typed:
    the stubs typeshed ships for grpc_health declare HealthStub without its methods."""
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def _status_name(response: health_pb2.HealthCheckResponse) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def health(
    address: str | None = None,
    *,
    service: str = "",
    timeout: float = 5.0,
    tls_ca_file: str | Path | None = None,
    tls: bool = False,
) -> str:
    """The server's ``grpc.health.v1`` status name, e.g. "SERVING"; needs no token.

    Raises ClientError when the server cannot be reached. No token is looked
    up, so a health probe works even where the token file is unreadable.
    """
    address = resolve_address(address)
    channel = open_channel(address, None, transport=resolve_transport(address, tls, tls_ca_file))
    with channel, translate_rpc_errors():
        request = health_pb2.HealthCheckRequest(service=service)
        return _status_name(_health_check(channel)(request, timeout=timeout))


class _TypedClient(AdminCalls, IngestionCalls, RetrievalCalls, ToolCalls, ChatCalls):
    """What both clients share: settings, stubs and the typed methods."""

    channel: Any

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        tls_ca_file: str | Path | None = None,
        tls: bool = False,
    ) -> None:
        self.address = resolve_address(address)
        self.token = resolve_token(token, self.address)
        self.timeout = timeout
        self.transport = resolve_transport(self.address, tls, tls_ca_file)
        self.channel = self._open_channel(self.transport)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.ingestion = ingestion_pb2_grpc.IngestionServiceStub(self.channel)
        self.retrieval = retrieval_pb2_grpc.RetrievalServiceStub(self.channel)
        self.tools = tools_pb2_grpc.ToolsServiceStub(self.channel)
        self.chat = chat_pb2_grpc.ChatServiceStub(self.channel)
        self._health_check = _health_check(self.channel)

    def _open_channel(self, transport: Transport) -> Any:
        raise NotImplementedError

    def call(self, method: Callable[[Request], Response], request: Request) -> Response:
        """Calls any unary stub method of this client (``client.admin.GetProject``, …),
        raising ClientError on failure; awaitable on the :class:`AsyncClient`."""
        return self._call(method, request)

    def health(self, service: str = "") -> str:
        """The ``grpc.health.v1`` status name of ``service`` ("" is the whole server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        return self._call(self._health_check, request, _status_name)


class Client(BlockingIngestionCalls, _TypedClient, BlockingCalls):
    """A synchronous connection to a ProjectQA server.

    :param address: ``host:port``; else ``PROJECTQA_ADDRESS``, else the saved login's
        (``projectqa login``), else the default.
    :param token: bearer token; else ``PROJECTQA_TOKEN``, else the saved login's (for
        its address), else the admin token file (for a server on this machine).
    :param timeout: deadline in seconds of every unary call that sets none.
    :param tls_ca_file: PEM file of root certificates; switches to TLS.
    :param tls: TLS with the system's root certificates. Without either, TLS as
        ``PROJECTQA_TLS_CA_FILE``/``PROJECTQA_TLS`` or the saved login (for its address)
        say, else plaintext (:func:`~projectqa.client.connection.resolve_transport`).

    Unary calls return their result, ``list_*`` calls a lazy iterator over every
    page, streams (``ask``, ``send_message``, ``watch_ingestion``, …) a
    :class:`~projectqa.client.calls.ServerStream` to iterate and ``cancel()``.
    """

    channel: grpc.Channel

    def _open_channel(self, transport: Transport) -> grpc.Channel:
        return open_channel(
            self.address, self.token, default_timeout=self.timeout, transport=transport
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_TypedClient, AsyncCalls):
    """A ``grpc.aio`` connection to a ProjectQA server; same parameters as :class:`Client`.

    It has every typed method of :class:`Client`, with the same parameters; the
    annotations are the sync ones, and here

    - a unary call returns an awaitable of the annotated type
      (``hits = await client.keyword_search("shop", "cart")``);
    - a ``list_*``/``iter_*`` call returns an async iterator
      (``async for project in client.list_projects()``);
    - a stream (``ask``, ``send_message``, ``resolve_tool_calls``,
      ``watch_ingestion``) returns an :class:`~projectqa.client.calls.AsyncServerStream`
      (:class:`~projectqa.client.chat.AsyncChatStream`,
      :class:`~projectqa.client.ingestion.AsyncIngestionWatch`) for ``async for``,
      with ``cancel()`` and ``async with`` (which cancels on exit).

    ``wait_for_ingestion`` is sync-only: ``async for`` over ``watch_ingestion``
    instead. Create and use the client on one event loop.
    """

    channel: grpc.aio.Channel

    def _open_channel(self, transport: Transport) -> grpc.aio.Channel:
        return open_aio_channel(
            self.address, self.token, default_timeout=self.timeout, transport=transport
        )

    async def close(self) -> None:
        """Closes the channel; streams still open end with CANCELLED."""
        await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
