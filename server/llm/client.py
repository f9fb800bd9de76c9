"""Chat completions against any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, …).

The ``openai`` client does the HTTP: connection pooling, and retries with
backoff on connection errors, 408/409/429/5xx (honouring ``retry-after`` and
``retry-after-ms``), except a 5xx whose body says the request itself is invalid
(see ``server_errors``: such a request fails the same way every time). This module
turns its stream into the few events the chat agent needs, and its exceptions
into one ``LlmError`` whose ``reason`` the turn reports. Messages name the
endpoint (base URL, model) and never carry the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2  # the openai client's HTTP library
import openai
from openai.types import CompletionUsage

from ..chat.records import Usage
from .server_errors import Overflow, context_overflow, says_invalid_request
from .textual_calls import TextualCalls
from .tokens import estimate_tokens, messages_tokens

OPENAI_BASE_URL = "https://api.openai.com/v1"
EMPTY_STREAM = (
    "the stream ended without any data (the server failed after accepting the request, "
    "e.g. llama-cpp-python's chatml-function-calling format cannot stream tool_choice "
    "auto; the server's log says why)"
)
KEYLESS = "unused"  # the openai client insists on a key; keyless servers ignore it
AFTER_DONE_S = 0.25  # how long the end of a body may follow its [DONE]
AFTER_DONE_LINES = 4  # lines read after [DONE] before giving the connection up
CACHED_CLIENTS = 32  # per event loop; distinct (base_url, key, timeout, retries) in use


@dataclass(frozen=True, slots=True)
class LlmEndpoint:
    """A resolved profile: everything needed to call a model."""

    name: str  # profile name, or "environment"
    profile_id: str  # "" for the environment
    base_url: str | None  # None: api.openai.com
    api_key: str  # "" for keyless servers (Ollama, local vLLM)
    model: str
    temperature: float
    max_output_tokens: int  # 0: the endpoint's default (max_tokens not sent)
    timeout_s: float
    retries: int = 2
    context_tokens: int = 8000  # history budget the agent fits into
    # also take tool calls the model writes as text after some prose (see textual_calls)
    tool_calls_in_text: bool = False

    def __repr__(self) -> str:  # keeps the key out of logs and tracebacks
        return f"LlmEndpoint(name={self.name!r}, model={self.model!r}, base_url={self.base_url!r})"

    @property
    def where(self) -> str:
        url = urlsplit(self.base_url or OPENAI_BASE_URL)
        # never credentials embedded in the URL: user:pass@, ?api_key=…, a fragment
        host = url.netloc.rpartition("@")[2]
        shown = url._replace(netloc=host, query="", fragment="")
        return f"model {self.model!r} at {urlunsplit(shown)}"


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    id: str
    name: str
    arguments: str  # raw JSON text as the model wrote it ("{}" when it wrote nothing)


@dataclass(frozen=True, slots=True)
class StreamEnd:
    finish_reason: str  # stop | tool_calls | length | content_filter | …
    usage: Usage
    # True: the server reported no usage (llama.cpp servers, some proxies) and ``usage``
    # is counted here, about four characters a token, like the prompt budgeting
    usage_estimated: bool = False


StreamEvent = TextDelta | ToolCallDone | StreamEnd


@dataclass(frozen=True, slots=True)
class Completion:
    """A non-streamed answer; ``finish_reason`` "length" means the text was cut."""

    text: str
    usage: Usage
    finish_reason: str  # stop | length | content_filter | …


class LlmError(Exception):
    """A failed LLM call; ``reason`` is llm_unreachable|llm_timeout|llm_error|llm_bad_response,
    or context_overflow (the prompt does not fit the model's context; the token counts
    when the server gave them)."""

    def __init__(
        self,
        reason: str,
        message: str,
        status: int | None = None,
        overflow: Overflow | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.prompt_tokens = overflow.prompt_tokens if overflow else None
        self.context_tokens = overflow.context_tokens if overflow else None


class LlmClient:
    """Calls one endpoint; ``transport`` shares an ``AsyncOpenAI`` (see ``client_for``)."""

    def __init__(
        self, endpoint: LlmEndpoint, *, transport: openai.AsyncOpenAI | None = None
    ) -> None:
        self.endpoint = endpoint
        self._owned = transport is None
        self._openai = transport or _transport(endpoint)

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str = "auto",
    ) -> AsyncGenerator[StreamEvent, None]:
        """Text as it arrives, then each tool call, then the end.

        With tools offered, calls the model wrote as text (``textual_calls``) become
        tool calls too; text that may be such a call is held back until decided.

        Close the generator (``contextlib.aclosing``) when abandoning it early:
        that closes the HTTP response. Cancellation propagates and closes it too.
        """
        request = self._request(messages, max_tokens=self.endpoint.max_output_tokens)
        answer = _Answer()
        if tools:
            request.update(tools=tools, tool_choice=tool_choice)
            names = [tool["function"]["name"] for tool in tools if tool.get("function")]
            answer.textual = TextualCalls(names, after_prose=self.endpoint.tool_calls_in_text)
        # The raw response: the openai client still sends, retries and raises status
        # errors, but the SSE lines are decoded here with json.loads. Building a pydantic
        # chunk per token cost about 3x the CPU, which mattered with many turns at once.
        opening = self._openai.chat.completions.with_streaming_response.create(
            **_as_given(request), stream=True, stream_options={"include_usage": True}
        )
        try:
            response = await opening.__aenter__()
        except (openai.OpenAIError, ValueError) as exc:
            raise self._failure(exc, started=False) from exc
        try:
            lines = response.iter_lines()
            while (chunk := await self._next_chunk(lines)) is not None:
                if shown := answer.take(chunk):
                    yield TextDelta(shown)
            await _read_to_end(lines)
        finally:
            await opening.__aexit__(None, None, None)
        if not answer.finish:
            if not answer.chunks:
                raise await self._error_behind_empty_stream(request) or self._error(
                    "llm_bad_response", EMPTY_STREAM
                )
            raise self._error("llm_bad_response", "the stream ended before the model finished")
        for event in answer.ending(request):
            yield event

    async def complete(self, messages: list[dict[str, Any]], max_tokens: int = 512) -> Completion:
        """One non-streamed answer (for summaries): its text, usage and finish reason."""
        limit = self.endpoint.max_output_tokens
        request = self._request(messages, max_tokens=min(max_tokens, limit or max_tokens))
        try:
            answer = await self._openai.chat.completions.create(**_as_given(request))
        except (openai.OpenAIError, ValueError) as exc:
            raise self._failure(exc, started=False) from exc
        if not getattr(answer, "choices", None):
            raise self._error("llm_bad_response", "the answer has no choices")
        choice = answer.choices[0]
        text = (choice.message.content if choice.message else "") or ""
        usage = _usage(answer.usage) or Usage()
        return Completion(text, usage, choice.finish_reason or "")

    async def _error_behind_empty_stream(self, request: dict[str, Any]) -> LlmError | None:
        """Why a stream ended without any data, when the server says it without streaming.

        llama-cpp-python checks the prompt's length only once its event stream has
        begun: a context overflow is a 200 with an empty body, and a 400 with the
        numbers only when asked again without streaming (one token). One retry: the
        pool may hand the probe the connection the server just dropped.
        """
        probe = self._openai.with_options(max_retries=1).chat.completions
        try:
            await probe.create(**_as_given({**request, "max_tokens": 1}))
        except (openai.OpenAIError, ValueError) as exc:
            refused = self._failure(exc, started=False)
            return refused if refused.status is not None else None
        return None

    async def aclose(self) -> None:
        """Close the connection pool, unless it is shared through ``client_for``."""
        if self._owned:
            await self._openai.close()

    def _request(self, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": messages,
            "temperature": self.endpoint.temperature,
        }
        if max_tokens:
            request["max_tokens"] = max_tokens
        return request

    async def _next_chunk(self, lines: AsyncIterator[str]) -> dict[str, Any] | None:
        """The next ``data:`` chunk of the event stream, None at ``[DONE]`` or the end;
        an idle gap of ``timeout_s`` is a timeout."""
        while True:
            try:
                async with asyncio.timeout(self.endpoint.timeout_s):
                    line = await anext(lines)
            except StopAsyncIteration:
                return None
            except TimeoutError as exc:
                raise self._error(
                    "llm_timeout", f"no data for {self.endpoint.timeout_s:g}s mid-answer"
                ) from exc
            except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
                raise self._failure(exc, started=True) from exc
            if not line.startswith("data:"):
                continue  # blank separators, comments, "event:" lines
            data = line[5:].strip()
            if data == "[DONE]":
                return None
            try:
                chunk = json.loads(data)
            except ValueError as exc:
                raise self._failure(exc, started=True) from exc
            if not isinstance(chunk, dict):
                raise self._error("llm_bad_response", "malformed answer (a chunk is not an object)")
            if chunk.get("error"):  # an error event inside the stream
                error = chunk["error"]
                if overflow := context_overflow(error):
                    raise self._overflow(overflow)
                text = error.get("message", error) if isinstance(error, dict) else error
                raise self._error("llm_error", f"the server reported: {text}")
            return chunk

    def _failure(self, exc: Exception, started: bool) -> LlmError:
        timeout = self.endpoint.timeout_s
        if isinstance(exc, openai.APITimeoutError):
            return self._error("llm_timeout", f"no answer within {timeout:g}s")
        if isinstance(exc, openai.APIConnectionError):
            if started or isinstance(exc.__cause__, httpx2.RemoteProtocolError):
                # the server accepted the request, then the answer broke off
                return self._error("llm_bad_response", "the connection closed mid-answer")
            return self._error("llm_unreachable", f"cannot connect ({_cause(exc)})")
        if isinstance(exc, httpx2.TimeoutException):  # reading the raw stream
            return self._error("llm_timeout", f"no data within {timeout:g}s")
        if isinstance(exc, httpx2.HTTPError):  # the raw stream broke off
            return self._error("llm_bad_response", f"the connection closed mid-answer ({exc})")
        if isinstance(exc, openai.APIResponseValidationError):
            return self._error("llm_bad_response", f"unexpected answer ({exc.message})")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if overflow := context_overflow(exc.body):
                return self._overflow(overflow, status)
            return self._error("llm_error", f"HTTP {status}: {_server_message(exc)}", status)
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            if overflow := context_overflow(exc.body):
                return self._overflow(overflow)
            return self._error("llm_error", f"the server reported: {_server_message(exc)}")
        if isinstance(exc, ValueError):  # JSON decoding, or chunks of the wrong shape
            return self._error("llm_bad_response", f"malformed answer ({exc})")
        return self._error("llm_error", str(exc))

    def _error(self, reason: str, message: str, status: int | None = None) -> LlmError:
        text = f"LLM {self.endpoint.where}: {message}"
        return LlmError(reason, _redact(text, self.endpoint.api_key), status)

    def _overflow(self, overflow: Overflow, status: int | None = None) -> LlmError:
        text = f"LLM {self.endpoint.where}: {overflow.describe()}"
        return LlmError("context_overflow", text, status, overflow)


class _Answer:
    """What a stream brought so far: text, tool-call fragments, finish reason, usage."""

    def __init__(self) -> None:
        self.calls = _ToolCalls()
        self.textual: TextualCalls | None = None  # with tools offered: calls written as text
        self.finish = ""
        self.usage: Usage | None = None
        self.written: list[str] = []
        self.chunks = 0

    def take(self, chunk: dict[str, Any]) -> str:
        """Record a chunk; the text it adds that can be shown now."""
        self.chunks += 1
        self.usage = _usage(chunk.get("usage")) or self.usage
        shown = ""
        for choice in (chunk.get("choices") or ())[:1]:
            delta = choice.get("delta") or {}  # None from some servers at the end
            if text := delta.get("content"):
                self.written.append(text)
                shown = self.textual.feed(text) if self.textual else text
            self.calls.add(delta.get("tool_calls") or ())
            self.finish = choice.get("finish_reason") or self.finish
        return shown

    def ending(self, request: dict[str, Any]) -> list[StreamEvent]:
        """The events after the last chunk: held-back text, the tool calls, the end."""
        events: list[StreamEvent] = []
        done, finish = self.calls.done(), self.finish
        if self.textual:
            rest, found = self.textual.finish()
            events += [TextDelta(rest)] if rest else []
            done += [ToolCallDone(f"call_{uuid.uuid4().hex[:24]}", *call) for call in found]
            finish = "tool_calls" if found and finish == "stop" else finish
        events += done
        if self.usage is None or self.usage == Usage():
            counted = estimated_usage(request, "".join(self.written), done)
            return [*events, StreamEnd(finish, counted, usage_estimated=True)]
        return [*events, StreamEnd(finish, self.usage)]


def _as_given(request: dict[str, Any]) -> dict[str, Any]:
    """``create()`` arguments that send ``request``'s messages and tools as they are.

    The openai client walks every argument to transform it to its API types, which took
    1.3 ms per call with a turn's sources and tool results (bench/chat_turns.py); chat
    messages and function tools have nothing to transform. ``extra_body`` is sent as
    given and overrides the placeholder."""
    heavy = {key: request[key] for key in ("messages", "tools") if key in request}
    light = {key: value for key, value in request.items() if key not in heavy}
    return {**light, "messages": [], "extra_body": heavy}


async def _read_to_end(lines: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` (normally just the end of the body), so the connection
    goes back to the pool: closing an unfinished response closes its connection, and every
    LLM call then paid a new TCP (and TLS) connection. A server still sending after
    ``[DONE]`` loses its connection instead."""
    with contextlib.suppress(StopAsyncIteration, TimeoutError, httpx2.HTTPError, openai.APIError):
        async with asyncio.timeout(AFTER_DONE_S):
            for _ in range(AFTER_DONE_LINES):
                await anext(lines)


class _ToolCalls:
    """Tool-call fragments gathered by their index until the stream ends."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]

    def add(self, deltas: list[dict[str, Any]] | tuple[()]) -> None:
        for delta in deltas:
            index = delta.get("index")
            index = index if isinstance(index, int) else self._index_of(delta.get("id"))
            call = self._calls.setdefault(index, ["", "", ""])
            call[0] = delta.get("id") or call[0]
            function = delta.get("function")
            if isinstance(function, dict):
                name = function.get("name") or ""
                if name != call[1]:  # some servers repeat the name on every fragment
                    call[1] += name
                call[2] += function.get("arguments") or ""

    def done(self) -> list[ToolCallDone]:
        return [
            ToolCallDone(id or f"call_{index}", name, arguments.strip() or "{}")
            for index, (id, name, arguments) in sorted(self._calls.items())
        ]

    def _index_of(self, call_id: str | None) -> int:
        """For servers that send no index: the call with this id, else a new one."""
        for index, call in self._calls.items():
            if call_id and call[0] == call_id:
                return index
        return len(self._calls)


def _transport(endpoint: LlmEndpoint) -> openai.AsyncOpenAI:
    timeout = openai.Timeout(endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s))
    http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [_no_retry_if_invalid]})
    client = openai.AsyncOpenAI(
        base_url=endpoint.base_url or OPENAI_BASE_URL,  # never OPENAI_BASE_URL from the env
        api_key=endpoint.api_key or KEYLESS,
        timeout=timeout,
        max_retries=endpoint.retries,
        http_client=http,
    )
    if endpoint.profile_id:
        # The client reads OPENAI_ORG_ID/OPENAI_PROJECT_ID from the environment; they
        # belong to the operator's own key, not to a profile's endpoint.
        client.organization = None
        client.project = None
    return client


async def _no_retry_if_invalid(response: httpx2.Response) -> None:
    """Mark a 5xx that says the request is invalid ``x-should-retry: false``.

    The openai client retries every 5xx unless that header says not to; some servers
    (llama-cpp-python) answer a request they cannot validate with a 500, and sending
    it again only repeats the failure (after a tool already ran).
    """
    if response.status_code < 500 or "x-should-retry" in response.headers:
        return
    await response.aread()  # kept: the openai client reads the error body from it again
    if says_invalid_request(response.text):
        response.headers["x-should-retry"] = "false"


# (base_url, api_key, timeout_s, retries, reads the environment's organisation)
_PoolKey = tuple[str | None, str, float, int, bool]
_CACHE: weakref.WeakKeyDictionary[Any, OrderedDict[_PoolKey, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def client_for(endpoint: LlmEndpoint) -> LlmClient:
    """A client sharing one connection pool per (base_url, key, timeout, retries) and loop.

    Pools belong to the event loop that opened their connections, hence one
    cache per loop; the least recently used pool beyond ``CACHED_CLIENTS`` is
    dropped (not closed: a turn may still be streaming through it).
    """
    try:
        loop: Any = asyncio.get_running_loop()
    except RuntimeError:
        return LlmClient(endpoint)
    cache = _CACHE.setdefault(loop, OrderedDict())
    key: _PoolKey = (
        endpoint.base_url,
        endpoint.api_key,
        endpoint.timeout_s,
        endpoint.retries,
        not endpoint.profile_id,
    )
    transport = cache.get(key)
    if transport is None:
        transport = cache[key] = _transport(endpoint)
        while len(cache) > CACHED_CLIENTS:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return LlmClient(endpoint, transport=transport)


async def close_clients() -> None:
    """Close the pools ``client_for`` opened on this loop (at server shutdown)."""
    cache = _CACHE.pop(asyncio.get_running_loop(), OrderedDict())
    for transport in cache.values():
        await transport.close()


def estimated_usage(request: dict[str, Any], text: str, calls: list[ToolCallDone]) -> Usage:
    """Usage counted here: the request's messages and tools, the text and calls written."""
    prompt = messages_tokens(request["messages"])
    if request.get("tools"):
        prompt += estimate_tokens(json.dumps(request["tools"]))
    written = text + "".join(call.name + call.arguments for call in calls)
    return Usage(prompt, estimate_tokens(written))


def _usage(reported: CompletionUsage | dict[str, Any] | None) -> Usage | None:
    if reported is None:
        return None
    if isinstance(reported, dict):
        prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
    else:
        prompt, completion = reported.prompt_tokens, reported.completion_tokens
    return Usage(int(prompt or 0), int(completion or 0))


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return (str(cause) or type(cause).__name__) if cause is not None else str(exc)


def _server_message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message


_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_*\-]{6,}")


def _redact(text: str, api_key: str) -> str:
    """Drop the key (and anything shaped like a vendor key, e.g. OpenAI's masked echo)."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)
