"""A fake OpenAI-compatible LLM: real HTTP on 127.0.0.1 speaking Chat Completions.

``POST /v1/chat/completions`` (and ``/chat/completions``) answers as OpenAI does:
a ``chat.completion`` JSON object, or with ``"stream": true`` a
``text/event-stream`` of ``data: {chat.completion.chunk}`` lines ending with
``data: [DONE]`` — text in ``choices[0].delta.content`` (one word-sized token
per chunk), tool calls as ``delta.tool_calls`` items whose ``function.arguments``
arrive in fragments over several chunks, then a chunk with the finish reason,
then (when ``stream_options.include_usage`` is set) a chunk with empty
``choices`` and the ``usage``. Errors are ``{"error": {message, type, param, code}}``.

Scripting::

    with FakeLlm() as fake:
        fake.script(Reply(status=429, headers={"retry-after-ms": "10"}),
                    Reply(tool_calls=[("search", {"query": "retry"})]),
                    Reply(text="It retries [1]."))
        client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")
        ...
        assert fake.requests[0].authorization == "Bearer sk-test"

Scripted replies are consumed one per request, in order; when none are left,
``fake.handler(request_json) -> Reply`` answers (by default a short text).
``Reply`` also scripts faults: delays, a hang before answering, a malformed
line mid-stream, a connection cut before ``[DONE]``; ``context_overflow`` and
``invalid_request`` build the error replies real servers send (llama.cpp's
llama-server, llama-cpp-python, vLLM, OpenAI, Ollama). ``FakeLlm(strict=True)``
refuses the message shapes llama-cpp-python refuses (``refusal``), e.g. an assistant
message with ``"content": null``.

Standalone, for load benches (every request streams ``--tokens`` tokens)::

    python -m tests.fakes.llm_server --port 8089 --tokens 300 --first-token-ms 50 --token-ms 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import select
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = ("/v1/chat/completions", "/chat/completions")
ARGUMENT_FRAGMENT = 8  # characters of tool-call arguments per chunk, as OpenAI splits them


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model makes; ``id`` "" becomes ``call_<n>``."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)  # str: sent verbatim
    id: str = ""


@dataclass
class Reply:
    """How the fake answers one request (everything optional)."""

    text: str = ""
    tool_calls: list[ToolCall | tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    status: int = 200  # not 200: an error body instead of an answer
    error_message: str = ""  # "" : OpenAI's usual message for the status
    error_body: dict[str, Any] | None = None  # sent verbatim instead (a vendor's own error form)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"retry-after-ms": "10"}
    first_token_delay_s: float = 0.0  # before the first token (headers and role chunk come first)
    token_delay_s: float = 0.0  # between chunks
    malformed: bool = False  # an invalid JSON data line halfway through (or as the body)
    hang_s: float = 0.0  # wait before sending anything (for client timeouts)
    cut: bool = False  # close the connection halfway, without [DONE]
    finish_reason: str = ""  # "" : "tool_calls" with tool calls, else "stop"
    usage: tuple[int, int] | None = None  # (prompt, completion); None: estimated
    stream_usage: bool = True  # False: no usage chunk even when asked (as llama.cpp servers)
    # with "stream": true, a 200 whose body ends without any data instead of the error
    # (llama-cpp-python fails inside its event stream, e.g. on a context overflow)
    empty_stream: bool = False


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it (header names in lower case)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def default_handler(body: dict[str, Any]) -> Reply:
    return Reply(text="This is a fake answer.")


class FakeLlm:
    """The fake server on 127.0.0.1:``port`` (0: a free one); started on construction."""

    def __init__(self, port: int = 0, *, record: bool = True, strict: bool = False) -> None:
        self.handler: Callable[[dict[str, Any]], Reply] = default_handler
        self.strict = strict
        self.requests: list[Seen] = []
        self.request_count = 0
        self.disconnects = 0  # streams the client closed before the end
        self.connections_opened = 0  # TCP connections accepted (keep-alive reuses one)
        self._record = record
        self._queue: deque[Reply] = deque()
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()

        class Handler(_Handler):
            fake = self

        self._server = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, before ``handler`` takes over."""
        with self._changed:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget scripted replies, recorded requests and the handler (between tests)."""
        with self._changed:
            self._queue.clear()
            self.requests.clear()
            self.request_count = 0
            self.disconnects = 0
            self.handler = default_handler

    def wait_for_disconnect(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until ``count`` streams were abandoned by their client (False on timeout)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.disconnects >= count, timeout)

    def close(self) -> None:
        """Stop serving; hanging and streaming replies end at once."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._changed:
            connections = list(self._connections)
        for connection in connections:  # unblocks keep-alive reads of handler threads
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def __enter__(self) -> FakeLlm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------ handler side
    def _take(self, seen: Seen) -> Reply:
        with self._changed:
            self.request_count += 1
            if self._record:
                self.requests.append(seen)
            scripted = self._queue.popleft() if self._queue else None
            self._changed.notify_all()
        refused = refusal(seen.body) if self.strict else None
        return refused or scripted or self.handler(seen.body)

    def _gone(self) -> None:
        with self._changed:
            self.disconnects += 1
            self._changed.notify_all()

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._changed:
            if open_:
                self._connections.add(connection)
                self.connections_opened += 1
            else:
                self._connections.discard(connection)

    def _sleep(self, seconds: float) -> bool:
        """Sleep; False when the fake is closing meanwhile."""
        if seconds < 0.5:  # token gaps: time.sleep is far cheaper than Event.wait under load
            if seconds > 0:
                time.sleep(seconds)
            return not self._closing.is_set()
        return not self._closing.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # load benches open hundreds of streams at once


class _Closing(Exception):
    """The fake is shutting down mid-reply."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as real endpoints
    fake: FakeLlm

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self) -> None:
        self.fake._track(self.connection, False)
        super().finish()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path not in PATHS:
            self._send_json(404, _error_body(404, f"Unknown request URL: POST {path}.", ""))
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._send_json(400, _error_body(400, "We could not parse the JSON body.", ""))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.fake._take(Seen(path, headers, body))
        try:
            self._answer(body, reply, headers.get("authorization", ""))
        except (BrokenPipeError, ConnectionResetError):
            self.fake._gone()
            self.close_connection = True
        except _Closing:
            self.close_connection = True

    def _answer(self, body: dict[str, Any], reply: Reply, authorization: str) -> None:
        self._hang(reply.hang_s)
        if reply.empty_stream and body.get("stream"):
            self._stream(body, Reply(), lines=False)
        elif reply.status != 200:
            message = reply.error_message or _usual_message(reply.status, body, authorization)
            error = reply.error_body or _error_body(reply.status, message, "")
            self._send_json(reply.status, error, reply.headers)
        elif body.get("stream"):
            self._stream(body, reply)
        else:
            self._complete(body, reply)

    def _hang(self, seconds: float) -> None:
        """Wait ``seconds`` before answering, watching the connection as a real server does:
        a client that closes it meanwhile counts as a disconnect (ConnectionResetError)."""
        deadline = time.monotonic() + seconds
        while not self.fake._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                raise ConnectionResetError("the client closed the connection")
        raise _Closing

    def _complete(self, body: dict[str, Any], reply: Reply) -> None:
        if not self.fake._sleep(reply.first_token_delay_s):
            raise _Closing
        payload = b'{"id": "chatcmpl-broken", "choices": [' if reply.malformed else None
        answer = completion(body, reply)
        self._send_json(200, answer, reply.headers, payload=payload, cut=reply.cut)

    def _stream(self, body: dict[str, Any], reply: Reply, lines: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not lines:  # as llama-cpp-python: an empty body, then the connection closes
            self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True
            return
        lines = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks(body, reply)]
        lines.append(b"data: [DONE]\n\n")
        half = max(1, (len(lines) - 1) // 2)
        if reply.malformed:
            lines.insert(half, b'data: {"id": "chatcmpl-broken", "choices": [{"delta": \n\n')
        for index, line in enumerate(lines):
            if index == half and reply.cut:
                self.close_connection = True  # the body ends without its last chunk
                return
            delay = reply.token_delay_s if index > 1 else reply.first_token_delay_s * index
            if not self.fake._sleep(delay):
                raise _Closing
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.write(b"0\r\n\r\n")

    def _send_json(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        payload: bytes | None = None,
        cut: bool = False,
    ) -> None:
        data = payload if payload is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


# ------------------------------------------------------------ wire format
def tokens(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


def _tool_calls(reply: Reply) -> list[ToolCall]:
    calls = [c if isinstance(c, ToolCall) else ToolCall(c[0], c[1]) for c in reply.tool_calls]
    return [ToolCall(c.name, c.arguments, c.id or f"call_{uuid.uuid4().hex[:24]}") for c in calls]


def _arguments(call: ToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _usage(body: dict[str, Any], reply: Reply, generated: int) -> dict[str, int]:
    prompt, completion_ = reply.usage or (len(json.dumps(body.get("messages", []))) // 4, generated)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_,
        "total_tokens": prompt + completion_,
    }


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A ``chat.completion`` object answering ``body`` with ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    calls = _tool_calls(reply)
    if calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c)},
            }
            for c in calls
        ]
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _finish_reason(reply),
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
        "choices": [choice],
        "usage": _usage(body, reply, len(tokens(reply.text)) + len(calls)),
    }


def chunks(body: dict[str, Any], reply: Reply) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, in order."""
    with_usage = reply.stream_usage and bool(
        (body.get("stream_options") or {}).get("include_usage")
    )
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
    }
    if with_usage:
        head["usage"] = None  # OpenAI sends it on every chunk, null until the last

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice]}

    deltas = [{"content": token} for token in tokens(reply.text)]
    for index, call in enumerate(_tool_calls(reply)):
        function = {"name": call.name, "arguments": ""}
        deltas.append({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                       "function": function}]})  # fmt: skip
        text = _arguments(call)
        for start in range(0, len(text), ARGUMENT_FRAGMENT):
            fragment = {"arguments": text[start : start + ARGUMENT_FRAGMENT]}
            deltas.append({"tool_calls": [{"index": index, "function": fragment}]})
    yield chunk({"role": "assistant", "content": "", "refusal": None})
    yield from (chunk(delta) for delta in deltas)
    yield chunk({}, _finish_reason(reply))
    if with_usage:
        yield {**head, "choices": [], "usage": _usage(body, reply, len(deltas))}


def _usual_message(status: int, body: dict[str, Any], authorization: str) -> str:
    key = authorization.removeprefix("Bearer ")
    masked = f"{key[:3]}{'*' * max(len(key) - 7, 0)}{key[-4:]}" if len(key) > 7 else "***"
    return {
        401: f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        404: f"The model `{body.get('model', '')}` does not exist or you do not have access to it.",
        429: "Rate limit reached for requests. Please try again later.",
        503: "The engine is currently overloaded, please try again later.",
    }.get(status, "The server had an error while processing your request. Sorry about that!")


def _error_body(status: int, message: str, param: str) -> dict[str, Any]:
    kind, code = {
        401: ("invalid_request_error", "invalid_api_key"),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": param or None, "code": code}}


# ------------------------------------------------ real servers' refusals
OVERFLOW_FORMS = ("llama-server", "llama-cpp-python", "vllm", "vllm-max-tokens", "openai", "ollama")


def context_overflow(form: str, prompt: int, context: int, max_tokens: int = 0) -> Reply:
    """The reply of a server whose context cannot hold a ``prompt``-token request.

    Ollama truncates the prompt silently unless told otherwise; newer versions refuse
    with the message used here (no numbers).
    """
    requested = prompt + max_tokens
    vllm = (
        f"This model's maximum context length is {context} tokens. However, you requested "
        f"{requested} tokens ({prompt} in the messages, {max_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    error: dict[str, Any] = {
        "llama-server": {
            "code": 400,
            "message": f"request ({prompt} tokens) exceeds the available context size "
            f"({context} tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt,
            "n_ctx": context,
        },
        "llama-cpp-python": {
            "message": f"This model's maximum context length is {context} tokens. However, you "
            f"requested {prompt} tokens ({prompt} in the messages, None in the completion). "
            "Please reduce the length of the messages or completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
        "vllm": {"message": vllm, "type": "BadRequestError", "param": None, "code": 400},
        "vllm-max-tokens": {
            "message": f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. "
            f"This model's maximum context length is {context} tokens and your request has "
            f"{prompt} input tokens ({max_tokens} > {context} - {prompt}). None",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        "openai": {
            "message": f"This model's maximum context length is {context} tokens. However, "
            f"your messages resulted in {prompt} tokens. Please reduce the length of the "
            "messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
        "ollama": {
            "message": "the input length exceeds the context length",
            "type": "api_error",
            "param": None,
            "code": None,
        },
    }[form]
    status = 500 if form == "ollama" else 400
    # llama-cpp-python reports it only without streaming; a stream just ends empty
    empty_stream = form == "llama-cpp-python"
    return Reply(status=status, error_body={"error": error}, empty_stream=empty_stream)


def invalid_request(form: str = "llama-cpp-python", problem: str = "") -> Reply:
    """A 500 whose body says the request itself is invalid (retrying cannot help).

    ``problem`` names what llama-cpp-python found (see ``refusal``).
    """
    message = {
        # llama-cpp-python 0.3 answers pydantic's validation errors with a 500 (abridged)
        "llama-cpp-python": "7 validation errors:\n  {'type': 'literal_error', 'loc': ('body', "
        "'messages', 1, 'ChatCompletionRequestSystemMessage', 'role'), 'msg': \"Input should be "
        f"'system'\", 'input': 'assistant'}}\n  {problem or LLAMA_CPP_PYTHON_NULL_CONTENT}",
        # ... and a message its chat template cannot render with a 500 from jinja2
        "llama-cpp-python-template": "'dict object' has no attribute 'content'",
        # llama-server answers a JSON type mismatch with nlohmann::json's exception text
        "llama-server": "[json.exception.type_error.302] type must be string, but is null",
        "ollama": "json: cannot unmarshal number into Go struct field Message.messages.content "
        "of type string",
    }[form]
    kinds = {"llama-server": "server_error", "ollama": "api_error"}
    kind = kinds.get(form, "internal_server_error")
    error = {"message": message, "type": kind, "param": None, "code": None}
    return Reply(status=500, error_body={"error": error})


LLAMA_CPP_PYTHON_NULL_CONTENT = (
    "{'type': 'string_type', 'loc': ('body', 'messages', 1, "
    "'ChatCompletionRequestAssistantMessage', 'content'), 'msg': 'Input should be a valid "
    "string', 'input': None}"
)


def refusal(body: dict[str, Any]) -> Reply | None:
    """llama-cpp-python 0.3's 500 for message shapes it refuses (seen against it), or None:
    assistant ``content`` null or missing, a tool result without ``tool_call_id`` or
    whose content is not a string, tool-call ``arguments`` that are not a JSON string."""
    for message in body.get("messages") or ():
        role = message.get("role")
        if role == "assistant" and "content" not in message:
            return invalid_request("llama-cpp-python-template")
        if role == "assistant" and message["content"] is None:
            return invalid_request("llama-cpp-python")
        if role == "tool" and "tool_call_id" not in message:
            return invalid_request("llama-cpp-python", _missing("tool_call_id"))
        if role == "tool" and not isinstance(message.get("content"), str):
            return invalid_request("llama-cpp-python", _not_a_string("content"))
        for call in message.get("tool_calls") or ():
            if not isinstance((call.get("function") or {}).get("arguments"), str):
                return invalid_request("llama-cpp-python", _not_a_string("arguments"))
    return None


def _missing(field: str) -> str:
    return (
        f"{{'type': 'missing', 'loc': ('body', 'messages', 2, '{field}'), 'msg': 'Field required'}}"
    )


def _not_a_string(field: str) -> str:
    return (
        f"{{'type': 'string_type', 'loc': ('body', 'messages', 2, '{field}'), "
        "'msg': 'Input should be a valid string'}"
    )


# ---------------------------------------------------------------- bench
def bench_reply(token_count: int, first_token_ms: float, token_ms: float) -> Reply:
    return Reply(
        text=" ".join(f"word{i}" for i in range(token_count)),
        first_token_delay_s=first_token_ms / 1000,
        token_delay_s=token_ms / 1000,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible LLM for load benches")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per streamed answer")
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    parser.add_argument("--token-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    reply = bench_reply(args.tokens, args.first_token_ms, args.token_ms)
    with FakeLlm(args.port, record=False) as fake:
        fake.handler = lambda body: reply
        print(f"fake LLM serving at {fake.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        print(f"served {fake.request_count} requests", flush=True)


if __name__ == "__main__":
    main()
