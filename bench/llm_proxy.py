"""A timestamping HTTP/1.1 proxy on loopback, between the server and an LLM peer.

``chat_turns.py`` puts one in front of each OpenAI-compatible peer (the fake or a real
server) so both are seen the same way: when each request has fully arrived, when the
peer's first token and its last byte went back to the server. The proxy passes bytes
through unchanged (one upstream connection per server connection, so keep-alive works
as it would directly) and only follows the framing (Content-Length or chunked) to know
where a response ends. Run as its own process, so the bench's client does not share an
event loop (or a GIL) with it::

    python bench/llm_proxy.py UPSTREAM_HOST:PORT RECORDS.jsonl

It prints ``proxy listening on 127.0.0.1:PORT`` and writes one JSON line per request:
``tag`` (the ``bench-turn-…`` tag of the last user message that has one), ``tools``
(tools were offered), ``tool_results`` (role "tool" messages sent), ``arrived``,
``first_token`` (first SSE chunk with content or a tool call; 0 if none), ``ended``
(all ``time.monotonic``, shared by the processes of one Linux host), ``status``,
``text`` (the streamed content, cut) and ``calls`` (structured tool call names).
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


def describe(body: bytes, seen: Exchange) -> None:
    """What the request asks: which turn (by tag), tools offered, tool results sent."""
    try:
        request = json.loads(body)
    except ValueError:
        return
    messages = request.get("messages") or []
    seen.tools = bool(request.get("tools"))
    seen.tool_results = sum(1 for m in messages if m.get("role") == "tool")
    for message in reversed(messages):
        found = TAG.findall(str(message.get("content"))) if message.get("role") == "user" else []
        if found:  # the last one: the question comes after the passages retrieved for it
            seen.tag = found[-1]
            return


class SseReader:
    """Follows the streamed chunks for the first token, the text and the tool calls."""

    def __init__(self, seen: Exchange) -> None:
        self._seen = seen
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                self._chunk(line[6:])

    def _chunk(self, data: bytes) -> None:
        try:
            choices = json.loads(data).get("choices") or []
        except ValueError:
            return
        for choice in choices[:1]:
            delta = choice.get("delta") or {}
            calls = delta.get("tool_calls") or []
            if (delta.get("content") or calls) and not self._seen.first_token:
                self._seen.first_token = time.monotonic()
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
) -> None:  # fmt: skip
    """Forward a response body, chunked or sized, until its end."""
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            writer.write(size_line + data)
            await writer.drain()
            sse.feed(data[:-2])
            if size == 0:
                return
    else:
        data = await reader.readexactly(int(headers.get("content-length") or 0))
        writer.write(data)
        await writer.drain()


class Proxy:
    def __init__(self, upstream: tuple[str, int], records: TextIO) -> None:
        self._upstream = upstream
        self._records = records

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            while await self._exchange(reader, writer, up_reader, up_writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # either side closed
        finally:
            up_writer.close()
            writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter,
    ) -> bool:  # fmt: skip
        """One request and its response; False when the connection is to close."""
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.readexactly(int(_headers(head).get("content-length") or 0))
        seen = Exchange(arrived=time.monotonic())
        up_writer.write(head + body)
        await up_writer.drain()
        describe(body, seen)
        response = await up_reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        seen.status = int(response.split(b" ", 2)[1])
        headers = _headers(response)
        await _body(up_reader, writer, headers, SseReader(seen))
        seen.ended = time.monotonic()
        self._records.write(json.dumps(asdict(seen)) + "\n")
        return "close" not in headers.get("connection", "").lower()


async def serve(upstream: str, records_path: str) -> None:
    host, port = upstream.rsplit(":", 1)
    with open(records_path, "a", buffering=1) as records:
        proxy = Proxy((host, int(port)), records)
        server = await asyncio.start_server(proxy.connection, "127.0.0.1", 0)
        print(f"proxy listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()


def load(path: Any) -> list[Exchange]:
    """The records a proxy wrote."""
    with open(path) as records:
        return [Exchange(**json.loads(line)) for line in records if line.strip()]


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    asyncio.run(serve(argv[0], argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
