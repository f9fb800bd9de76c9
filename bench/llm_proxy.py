"""A timestamping HTTP/1.1 proxy on loopback, between the server and an LLM peer.

``chat_turns.py`` puts one in front of each OpenAI-compatible peer (the fake or a real
server) so both are seen the same way: when each request has fully arrived, when the
peer's first token and its last byte went back to the server. The proxy passes bytes
through unchanged (one upstream connection per server connection, so keep-alive works
as it would directly) and only follows the framing (Content-Length or chunked) to know
where a response ends. Run as its own process, so the bench's client does not share an
event loop (or a GIL) with it::

    python bench/llm_proxy.py UPSTREAM_HOST:PORT RECORDS.jsonl [--script-calls]

It prints ``proxy listening on 127.0.0.1:PORT`` and writes one JSON line per request:
``tag`` (the last ``bench-turn-…`` tag of the last user message; "" if none), ``tools``
(tools were offered), ``tool_results`` (role "tool" messages sent), ``arrived``,
``first_token`` (first SSE chunk with content or a tool call; 0 if none), ``ended``
(the response's last data was read)
(all ``time.monotonic``, shared by the processes of one Linux host), ``status``,
``text`` (the streamed content, cut), ``calls`` (structured tool call names),
``scripted`` and ``connection`` (the server's connections, numbered as they open).

``--script-calls`` is for a model too small to follow "Reply exactly with:
<tool_call>…</tool_call>": a streamed request that offers tools, carries no tool
result yet and whose question holds such a call is answered by the proxy itself, in
the peer's stead, streaming that call as text content (as llama.cpp streams what a
model writes); the request after the tool result goes to the peer. The record says
``scripted``, and the proxy's own answer takes about no time.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

TAG = re.compile(r"bench-turn-(\w+)")
TEXT_KEPT = 400  # characters of streamed content kept per record
CALL = re.compile(r"<tool_call>.*?</tool_call>", re.S)


@dataclass(slots=True)
class Exchange:
    """One request and its response, as the proxy saw them."""

    tag: str = ""
    tools: bool = False
    tool_results: int = 0
    arrived: float = 0.0
    first_token: float = 0.0
    ended: float = 0.0
    status: int = 0
    text: str = ""
    calls: list[str] = field(default_factory=list)
    scripted: bool = False
    connection: int = 0  # which of the server's connections (numbered as they open)


def last_tag(text: str) -> str:
    """The last tag in ``text`` (the question comes after the passages retrieved for it)."""
    found = TAG.findall(text)
    return found[-1] if found else ""


def describe(body: bytes, seen: Exchange) -> str:
    """What the request asks: which turn (by tag), tools offered, tool results sent; returns
    the tool call its question asks the model to write ("" if none)."""
    try:
        request = json.loads(body)
    except ValueError:
        return ""
    messages = request.get("messages") or []
    seen.tools = bool(request.get("tools"))
    seen.tool_results = sum(1 for m in messages if m.get("role") == "tool")
    content = next((str(m.get("content")) for m in reversed(messages)
                    if m.get("role") == "user"), "")  # fmt: skip
    seen.tag = last_tag(content)
    call = CALL.findall(content)
    wanted = call and request.get("stream") and seen.tools and not seen.tool_results
    return call[-1] if wanted else ""


def scripted_stream(call: str) -> bytes:
    """A chunked SSE response streaming ``call`` as content, word by word, as llama.cpp does."""
    head = {"id": "chatcmpl-proxy", "object": "chat.completion.chunk", "model": "proxy"}
    pieces = [{"role": "assistant", "content": ""}]
    pieces += [{"content": word} for word in re.findall(r"\S+\s*", call)]
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
              for d in pieces]  # fmt: skip
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    lines = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
    lines.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    return (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + body)  # fmt: skip


class SseReader:
    """Follows the streamed chunks for the first token, the text and the tool calls."""

    def __init__(self, seen: Exchange) -> None:
        self._seen = seen
        self._buffer = b""

    def feed(self, data: bytes, read_at: float) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                self._chunk(line[6:], read_at)

    def _chunk(self, data: bytes, read_at: float) -> None:
        try:
            choices = json.loads(data).get("choices") or []
        except ValueError:
            return
        for choice in choices[:1]:
            delta = choice.get("delta") or {}
            calls = delta.get("tool_calls") or []
            if (delta.get("content") or calls) and not self._seen.first_token:
                self._seen.first_token = read_at
            if len(self._seen.text) < TEXT_KEPT:
                self._seen.text += delta.get("content") or ""
            self._seen.calls += [c["function"]["name"] for c in calls
                                 if (c.get("function") or {}).get("name")]  # fmt: skip


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


async def _body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str],
    sse: SseReader,
) -> float:  # fmt: skip
    """Forward a response body, chunked or sized; returns when its end was read.

    Times are taken as the peer's bytes are read, before they are passed on: a proxy
    descheduled on a busy machine then makes the model look faster, never the server."""
    if "chunked" in headers.get("transfer-encoding", ""):
        last = 0.0  # the last data: a client may stop at "[DONE]", before the closing chunk
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            read_at = time.monotonic()
            writer.write(size_line + data)
            sse.feed(data[:-2], read_at)
            await writer.drain()
            if size == 0:
                return last or read_at
            last = read_at
    data = await reader.readexactly(int(headers.get("content-length") or 0))
    read_at = time.monotonic()
    writer.write(data)
    await writer.drain()
    return read_at


class Proxy:
    def __init__(self, upstream: tuple[str, int], records: TextIO, script_calls: bool) -> None:
        self._upstream = upstream
        self._records = records
        self._script_calls = script_calls
        self._connections = 0

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        upstream = Upstream(self._upstream, self._connections)
        try:
            while await self._exchange(reader, writer, upstream):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # either side closed
        finally:
            upstream.close()
            writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
    ) -> bool:
        """One request and its response; False when the connection is to close."""
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.readexactly(int(_headers(head).get("content-length") or 0))
        seen = Exchange(arrived=time.monotonic(), connection=upstream.number)
        call = describe(body, seen) if self._script_calls else ""
        if call:
            seen.scripted = True
            peer = asyncio.StreamReader()  # the peer never sees this request
            peer.feed_data(scripted_stream(call))
            peer.feed_eof()
        else:
            peer = await upstream.send(head + body)
            if not self._script_calls:  # read once sent, so that costs the peer nothing
                describe(body, seen)
        response = await peer.readuntil(b"\r\n\r\n")
        writer.write(response)
        seen.status = int(response.split(b" ", 2)[1])
        headers = _headers(response)
        seen.ended = await _body(peer, writer, headers, SseReader(seen))
        self._records.write(json.dumps(asdict(seen)) + "\n")
        return "close" not in headers.get("connection", "").lower()


class Upstream:
    """The peer's end of one server connection, opened at its first request, once that
    request is stamped: connecting to the peer is the peer's time, as it would be direct."""

    def __init__(self, address: tuple[str, int], number: int) -> None:
        self.number = number
        self._address = address
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> asyncio.StreamReader:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(*self._address)
        self._writer.write(request)
        await self._writer.drain()
        return self._reader

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def serve(upstream: str, records_path: str, script_calls: bool) -> None:
    host, port = upstream.rsplit(":", 1)
    with open(records_path, "a", buffering=1) as records:
        proxy = Proxy((host, int(port)), records, script_calls)
        server = await asyncio.start_server(proxy.connection, "127.0.0.1", 0)
        print(f"proxy listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()


def load(path: Any) -> list[Exchange]:
    """The records a proxy wrote."""
    with open(path) as records:
        return [Exchange(**json.loads(line)) for line in records if line.strip()]


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3) or argv[2:] not in ([], ["--script-calls"]):
        raise SystemExit(__doc__)
    asyncio.run(serve(argv[0], argv[1], argv[2:] == ["--script-calls"]))


if __name__ == "__main__":
    main(sys.argv[1:])
