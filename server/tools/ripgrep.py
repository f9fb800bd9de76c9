"""Running ripgrep and reading its ``--json`` stream record by record.

Records are read as they arrive and never buffered whole: ``--max-columns``
does not apply to ``--json`` output, so a record can be as long as a line of a
minified file plus its submatches. A record over ``MAX_RECORD_BYTES`` is cut
to its head (type, path, the start of the line) and the line number is picked
out of the rest as it streams past.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import FailedPrecondition
from ..threads import run_to_end

CHUNK_BYTES = 64 * 1024
MAX_RECORD_BYTES = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
MAX_STDERR_BYTES = 16 * 1024
# Structural in rg's JSON: inside a JSON string a quote is always escaped, so `,"` never is.
_LINE_NUMBER = re.compile(rb',"line_number":(\d+)[,}]')
_CARRY = 32
_HEAD = re.compile(
    r'^\{"type":"(match|context)","data":\{"path":\{"(text|bytes)":"((?:[^"\\]|\\.)*)"\},'
    r'"lines":\{"(text|bytes)":"((?:[^"\\]|\\.)*)'
)


def rg_binary() -> str:
    """The ``rg`` of the ``ripgrep`` wheel (next to the interpreter), else the one on PATH."""
    bundled = Path(sys.executable).parent / "rg"
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("rg")
    if found is None:
        raise FailedPrecondition("ripgrep (rg) is not installed on the server")
    return found


class RgProcess:
    """One ``rg`` run in a folder; ``records()`` yields its JSON records as dicts."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._stderr = asyncio.ensure_future(_read_capped(proc.stderr))

    async def records(self) -> AsyncIterator[dict[str, Any]]:
        assert self._proc.stdout is not None
        records = _RecordSplitter()
        while chunk := await self._proc.stdout.read(CHUNK_BYTES):
            for record in records.feed(chunk):
                yield record

    async def paths(self) -> AsyncIterator[bytes]:
        """The paths of ``rg --files --null`` as they come, raw, without a leading ``./``."""
        assert self._proc.stdout is not None
        rest = b""
        while chunk := await self._proc.stdout.read(CHUNK_BYTES):
            *done, rest = (rest + chunk).split(b"\0")
            for path in done:
                yield path.removeprefix(b"./")

    async def finish(self) -> tuple[int, str]:
        """Wait for the exit; return the exit code and (the start of) stderr."""
        code = await self._proc.wait()
        return code, (await self._stderr).decode("utf-8", "replace")

    async def stop(self) -> None:
        """Kill ``rg`` if it still runs and reap it."""
        if self._proc.returncode is None:
            # os.kill, not Process.kill: Popen.send_signal polls first, and that poll can reap
            # an rg that just exited under asyncio's child watcher ("Unknown child process").
            # The pid cannot be reused yet: until the watcher's callback sets returncode, the
            # child is unreaped or reaped only microseconds ago.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
        # Process.wait() returns only once the pipes are closed as well, and a stdout left
        # full pauses its transport before it sees the end: read what is left (rg is dead,
        # so that is at most a pipe's worth) and let the stderr reader reach its end.
        assert self._proc.stdout is not None
        while await self._proc.stdout.read(CHUNK_BYTES):
            pass
        await self._stderr
        await self._proc.wait()


@contextlib.asynccontextmanager
async def run_rg(
    arguments: list[str],
    cwd: Path,
    paths: Sequence[str] = (".",),
    pass_fds: Sequence[int] = (),
) -> AsyncIterator[RgProcess]:
    """Start ``rg arguments -- paths`` in ``cwd`` (``pass_fds``: descriptors it inherits);
    it is killed when the block exits, however."""
    binary = rg_binary()
    spawning = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            binary,
            *arguments,
            "--",
            *paths,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=tuple(pass_fds),
        )
    )
    try:
        # Never cancelled halfway: asyncio's own clean-up of a cancelled spawn closes the
        # transport, whose poll() can reap an rg that already exited before the child
        # watcher does ("Unknown child process pid …, will report returncode 255").
        proc = await run_to_end(spawning)
    except asyncio.CancelledError:
        if not spawning.cancelled() and spawning.exception() is None:
            await run_to_end(asyncio.ensure_future(RgProcess(spawning.result()).stop()))
        raise
    except OSError as exc:  # the checkout went away (connector deleted) or cannot be entered
        raise FailedPrecondition(f"cannot search the checkout: {exc.strerror}") from None
    process = RgProcess(proc)
    try:
        yield process
    finally:
        await run_to_end(asyncio.ensure_future(process.stop()))  # rg always reaped


def text_of(value: dict[str, Any] | None) -> str:
    """A ``{"text": …}`` or ``{"bytes": base64}`` field of rg's JSON as text."""
    if not value:
        return ""
    if "text" in value:
        return str(value["text"])
    raw = base64.b64decode(value.get("bytes", ""), validate=False)
    return raw.decode("utf-8", "replace")


class _RecordSplitter:
    """Cuts rg's output into JSON records, keeping at most ``MAX_RECORD_BYTES`` of any."""

    def __init__(self) -> None:
        self._record = bytearray()
        self._oversized: _Oversized | None = None

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            self._add(chunk[start:] if end < 0 else chunk[start:end])
            if end < 0:
                return
            parsed = self._oversized.parse() if self._oversized else _parse(self._record)
            self._record.clear()
            self._oversized = None
            if parsed is not None:
                yield parsed
            start = end + 1

    def _add(self, piece: bytes) -> None:
        if self._oversized is not None:
            self._oversized.feed(piece)
            return
        self._record += piece
        if len(self._record) > MAX_RECORD_BYTES:
            self._oversized = _Oversized(bytes(self._record))
            self._record.clear()


def _parse(record: bytearray) -> dict[str, Any] | None:
    if not record.strip():
        return None
    try:
        parsed = json.loads(record)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class _Oversized:
    """A record too long to keep: its head, and its line number found on the way."""

    def __init__(self, start: bytes) -> None:
        self._head = start[:HEAD_BYTES]
        self._carry = b""
        self._line_number: int | None = None
        self.feed(start)

    def feed(self, piece: bytes) -> None:
        if self._line_number is not None:
            return
        window = self._carry + piece
        found = _LINE_NUMBER.search(window)
        if found:
            self._line_number = int(found[1])
        self._carry = window[-_CARRY:]

    def parse(self) -> dict[str, Any] | None:
        # rg writes valid UTF-8 (else base64 "bytes"): only a character cut in two is lost.
        head = _HEAD.match(self._head.decode("utf-8", "ignore"))
        if head is None or self._line_number is None:
            return None  # not a line record (cannot happen with rg's output)
        kind, path_kind, path, lines_kind, lines = head.groups()
        return {
            "type": kind,
            "data": {
                "path": {path_kind: _json_string(path)},
                "lines": {lines_kind: _partial_string(lines, lines_kind)},
                "line_number": self._line_number,
                "submatches": [],
            },
        }


def _json_string(escaped: str) -> str:
    return json.loads(f'"{escaped}"')


def _partial_string(escaped: str, kind: str) -> str:
    """Decode the cut-off start of a JSON string (``kind`` "bytes": of base64)."""
    if kind == "bytes":
        return escaped[: len(escaped) // 4 * 4]
    # Drop a trailing escape the cut left unfinished (``\`` or ``\u12``).
    escaped = re.sub(r"\\u[0-9a-fA-F]{0,3}$", "", escaped)
    if (len(escaped) - len(escaped.rstrip("\\"))) % 2 == 1:
        escaped = escaped[:-1]
    text = _json_string(escaped)
    return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from the cut


async def _read_capped(stream: asyncio.StreamReader | None) -> bytes:
    """Read a stream to its end, keeping only its first ``MAX_STDERR_BYTES``."""
    kept = bytearray()
    while stream is not None and (chunk := await stream.read(CHUNK_BYTES)):
        kept += chunk[: max(0, MAX_STDERR_BYTES - len(kept))]
    return bytes(kept)
