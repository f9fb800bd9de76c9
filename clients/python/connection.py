"""Where the server is, how to authenticate, and how to open a channel to it.

Resolution order, shared by the library, the CLI, the LSP bridge and the MCP server:

- address: argument (``--address``), else ``PROJECTQA_ADDRESS``, else the saved
  login (``projectqa login``, :mod:`projectqa.client.login`), else :data:`DEFAULT_ADDRESS`;
- token: argument (``--token``), else ``PROJECTQA_TOKEN``, else the saved login's
  token when the address is the saved one, else the ``admin.token`` file the server
  writes into its data directory on first start (only for a server on this machine);
- TLS (:func:`resolve_transport`): roots from the ``tls_ca_file`` argument, else
  ``PROJECTQA_TLS_CA_FILE``; else the system's roots when the ``tls`` argument or
  ``PROJECTQA_TLS=1`` asks for TLS; else the saved login's choice when the address is
  the saved one; else plaintext.

A saved login is only ever sent to the address it was saved for. One that cannot be
used (readable by others, say) is skipped here, with a warning when it was the source
of the address or the token; the CLI refuses it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from projectqa.client.addresses import is_loopback as is_loopback  # re-exported
from projectqa.client.login import LoginFileError, SavedLogin, load_login
from projectqa.server.paths import ADMIN_TOKEN_FILE
from projectqa.server.paths import default_data_dir as server_default_data_dir

log = logging.getLogger("projectqa.client")

DEFAULT_ADDRESS = "127.0.0.1:50051"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Servers reject pings more often than every 5 minutes by default
# (GOAWAY "too_many_pings"), so the client never asks for more than that.
CHANNEL_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
)


def saved_login(*, warn: bool = True) -> SavedLogin | None:
    """The login ``projectqa login`` saved; None when there is none, or when it cannot be
    used (logged as a warning unless ``warn`` is False: the CLI refuses such a file with
    its reason instead)."""
    try:
        return load_login()
    except LoginFileError as error:
        if warn:
            log.warning("%s", error)
        return None


def login_for(address: str, *, warn: bool = True) -> SavedLogin | None:
    """The saved login when it was saved for ``address``, else None."""
    login = saved_login(warn=warn)
    return login if login is not None and login.address == address else None


def resolve_address(address: str | None) -> str:
    """The server address to dial: argument, env ``PROJECTQA_ADDRESS``, the saved
    login's, else the default."""
    if address or (address := os.environ.get("PROJECTQA_ADDRESS")):
        return address
    login = saved_login()
    return login.address if login is not None else DEFAULT_ADDRESS


@dataclass(frozen=True, slots=True)
class Transport:
    """How a channel to the server is secured."""

    tls: bool = False
    ca_file: str | Path | None = None  # PEM roots; None with tls: the system's roots

    def credentials(self) -> grpc.ChannelCredentials | None:
        """The TLS credentials of the channel; None for plaintext."""
        if self.ca_file:
            return grpc.ssl_channel_credentials(root_certificates=Path(self.ca_file).read_bytes())
        # No roots given: gRPC verifies with the system's (or GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
        return grpc.ssl_channel_credentials() if self.tls else None


PLAINTEXT = Transport()


def _env_flag(name: str) -> bool:
    # The words click accepts for the CLI's flag of the same variable, so both agree.
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "f", "no", "n", "off"):
        return False
    if value in ("1", "true", "t", "yes", "y", "on"):
        return True
    raise ValueError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {value!r}")


def resolve_transport(
    address: str, tls: bool = False, tls_ca_file: str | Path | None = None
) -> Transport:
    """How to secure the channel to ``address``.

    TLS with the roots of ``tls_ca_file``, else of env ``PROJECTQA_TLS_CA_FILE``; else
    with the system's roots when ``tls`` or env ``PROJECTQA_TLS=1`` asks for it; else as
    the saved login of that address was verified; else plaintext.
    """
    if ca_file := tls_ca_file or os.environ.get("PROJECTQA_TLS_CA_FILE"):
        return Transport(True, ca_file)
    if tls or _env_flag("PROJECTQA_TLS"):
        return Transport(True)
    # Quietly: whether the login can be used matters where it gives the address or token.
    login = login_for(address, warn=False)
    if login is not None and login.uses_tls:
        return Transport(True, login.tls_ca_file)
    return PLAINTEXT


def default_data_dir() -> Path:
    """The server's data directory as a local client sees it.

    ``PROJECTQA_DATA_DIR`` if set, else ``$XDG_DATA_HOME/projectqa``, else
    ``~/.local/share/projectqa``.
    """
    if data_dir := os.environ.get("PROJECTQA_DATA_DIR"):
        return Path(data_dir).expanduser()
    return server_default_data_dir()


def admin_token_path() -> Path:
    """Where the server writes its bootstrap global-admin token."""
    return default_data_dir() / ADMIN_TOKEN_FILE


def resolve_token(token: str | None, address: str = DEFAULT_ADDRESS) -> str | None:
    """The bearer token to send: argument, env ``PROJECTQA_TOKEN``, the saved login's
    (when ``address`` is the one it was saved for), token file.

    The local admin token file is only ever sent to a server on this machine
    (a loopback ``address``): pointing the CLI elsewhere must not leak it.
    Returns None when none of them yields a token.
    """
    if token:
        return token
    if env_token := os.environ.get("PROJECTQA_TOKEN"):
        return env_token.strip()
    if (login := login_for(address)) is not None:
        return login.token
    if not is_loopback(address):
        return None
    try:
        file_token = admin_token_path().read_text(encoding="utf-8").strip()
    except OSError:  # missing or unreadable (another user's 0600 file): no token
        return None
    return file_token or None


def _transport(transport: Transport | None, tls_ca_file: str | Path | None) -> Transport:
    if transport is not None:
        return transport
    return Transport(True, tls_ca_file) if tls_ca_file else PLAINTEXT


def open_channel(
    address: str,
    token: str | None,
    *,
    default_timeout: float | None = None,
    tls_ca_file: str | Path | None = None,
    transport: Transport | None = None,
) -> grpc.Channel:
    """A sync channel that sends the bearer token (when given) on every call; TLS as
    ``transport`` says (else with ``tls_ca_file``'s roots when given)."""
    credentials = _transport(transport, tls_ca_file).credentials()
    if credentials is not None:
        channel = grpc.secure_channel(address, credentials, options=CHANNEL_OPTIONS)
    else:
        channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(channel, BearerAuthInterceptor(token, default_timeout))


def open_aio_channel(
    address: str,
    token: str | None,
    *,
    default_timeout: float | None = None,
    tls_ca_file: str | Path | None = None,
    transport: Transport | None = None,
) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel that sends the bearer token on every call."""
    interceptors = aio_auth_interceptors(token, default_timeout)
    credentials = _transport(transport, tls_ca_file).credentials()
    if credentials is not None:
        return grpc.aio.secure_channel(
            address, credentials, options=CHANNEL_OPTIONS, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)


# The token of the caller the current task (or thread) calls for; see calls_as.
_CALLER_TOKEN: ContextVar[str | None] = ContextVar("projectqa_caller_token", default=None)


@contextmanager
def calls_as(token: str) -> Iterator[None]:
    """Inside, calls started by this task or thread (and the tasks it starts) send
    ``token`` instead of their client's own, whichever client makes them.

    One channel then serves many callers, each with their own access: the MCP server
    over HTTP makes every call of a request with that request's bearer token.
    """
    if not token:
        raise ValueError("calls_as: token must not be empty")
    previous = _CALLER_TOKEN.set(token)
    try:
        yield
    finally:
        _CALLER_TOKEN.reset(previous)


def _with_authorization(
    metadata: Iterable[tuple[str, str | bytes]] | None, token: str | None
) -> tuple[tuple[str, str | bytes], ...]:
    token = _CALLER_TOKEN.get() or token
    entries = tuple((key, value) for key, value in (metadata or ()) if key != "authorization")
    return (*entries, ("authorization", f"Bearer {token}")) if token else entries


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


# The interceptors pass every kind of message and call through untouched.
_Continuation = Callable[[grpc.ClientCallDetails, Any], Any]
_AioContinuation = Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]]


class BearerAuthInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer <token>``; gives unary calls a default deadline.

    Streaming calls get no default deadline: a chat or an ingestion watch may
    legitimately run for longer than any sensible unary timeout.
    """

    def __init__(self, token: str | None, default_timeout: float | None = None) -> None:
        self._token = token
        self._default_timeout = default_timeout

    def _details(self, details: grpc.ClientCallDetails, *, unary: bool) -> _CallDetails:
        timeout = details.timeout
        if timeout is None and unary:
            timeout = self._default_timeout
        return _CallDetails(
            details.method,
            timeout,
            _with_authorization(details.metadata, self._token),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        return continuation(self._details(client_call_details, unary=True), request)

    def intercept_unary_stream(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        return continuation(self._details(client_call_details, unary=False), request)

    def intercept_stream_unary(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return continuation(self._details(client_call_details, unary=False), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return continuation(self._details(client_call_details, unary=False), request_iterator)


class _AioBearerAuth:
    """Shared state of the ``grpc.aio`` interceptors below.

    ``grpc.aio`` files each interceptor under the first kind it matches, so
    every kind of call needs its own interceptor object.
    """

    def __init__(self, token: str | None, default_timeout: float | None = None) -> None:
        self._token = token
        self._default_timeout = default_timeout

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout if details.timeout is not None else self._default_timeout,
            grpc.aio.Metadata(*_with_authorization(details.metadata, self._token)),
            details.credentials,
            details.wait_for_ready,
        )


class _AioUnaryUnaryAuth(_AioBearerAuth, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: _AioContinuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _AioUnaryStreamAuth(_AioBearerAuth, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: _AioContinuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _AioStreamUnaryAuth(_AioBearerAuth, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: _AioContinuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _AioStreamStreamAuth(_AioBearerAuth, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: _AioContinuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def aio_auth_interceptors(
    token: str | None, default_timeout: float | None = None
) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors adding the bearer token to every kind of ``grpc.aio`` call.

    Only unary calls get ``default_timeout`` as their deadline.
    """
    return [
        _AioUnaryUnaryAuth(token, default_timeout),
        _AioUnaryStreamAuth(token),
        _AioStreamUnaryAuth(token),
        _AioStreamStreamAuth(token),
    ]
