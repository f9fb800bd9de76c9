"""OpenFile: lines of a file of a project's checkout, within a size cap.

Files are read as a stream: only the lines returned are kept, the rest of the
file is merely counted, so a large log costs time but not memory. Text is
decoded as the ingestion decodes it (UTF-8 with a BOM dropped, UTF-16 with a
BOM), so the lines a citation names are the lines shown.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..chunking.languages import language_of
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from .base import Checkout
from .checkouts import resolve_checkout
from .confine import confine, normalise

MAX_LINES = 2000
MAX_CONTENT_BYTES = 256 * 1024
SNIFF_BYTES = 8192
READ_BYTES = 64 * 1024
MAX_UTF16_BYTES = 16 * 1024 * 1024  # UTF-16 files are decoded whole
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True, slots=True)
class OpenedFile:
    connector_id: str
    path: str  # as requested, normalised
    commit: str  # of the checkout; "" for a local folder
    start_line: int  # first line returned
    end_line: int  # last line returned (start_line - 1 when none are)
    total_lines: int
    content: str  # the lines joined with "\n"
    truncated: bool  # fewer lines than asked, because of the size cap
    language: str  # from the file name; "" if unknown


@dataclass(slots=True)
class _Window:
    lines: list[str]
    seen: int  # lines read so far (counting one read past the window)
    truncated: bool
    exhausted: bool  # the whole file was read


def open_file(
    checkouts: list[Checkout] | tuple[Checkout, ...],
    path: str,
    start_line: int = 0,
    end_line: int = 0,
    connector: str = "",
) -> OpenedFile:
    """Lines ``start_line``-``end_line`` (1-based, inclusive; 0: first/last) of ``path``."""
    if start_line < 0:
        raise InvalidArgument("start_line", "must be 1 or more (0 means 1)")
    if end_line < 0:
        raise InvalidArgument("end_line", "must be 1 or more (0 means the end of the file)")
    start = start_line or 1
    if end_line and end_line < start:
        raise InvalidArgument("end_line", f"must not be before start_line ({start})")
    clean = normalise(path)
    checkout, real = _find(resolve_checkout(checkouts, connector), clean)
    with _open_regular(real, clean) as handle:
        window, total = _read(handle, clean, start, end_line)
    if start > max(total, 1):
        raise InvalidArgument("start_line", f"is past the end of the file ({total} lines)")
    return OpenedFile(
        connector_id=checkout.connector_id,
        path=clean,
        commit=checkout.commit,
        start_line=start,
        end_line=start + len(window.lines) - 1,
        total_lines=total,
        content="\n".join(window.lines),
        truncated=window.truncated,
        language=language_of(clean),
    )


def refuse_unreadable(checkouts: list[Checkout] | tuple[Checkout, ...], path: str) -> None:
    """Raise the specific reason ``path`` cannot be shown, reading at most its first bytes:
    a path leaving the checkout or naming a directory (InvalidArgument), a binary file
    (FailedPrecondition), or a missing one (NotFound). Returns if none applies."""
    clean = normalise(path)
    _, real = _find(list(checkouts), clean)
    with _open_regular(real, clean) as handle:
        head = handle.read(SNIFF_BYTES)
    if b"\0" in head and not head.startswith(UTF16_BOMS):
        raise FailedPrecondition(f"{clean} is a binary file")


def _find(checkouts: list[Checkout], clean: str) -> tuple[Checkout, Path]:
    """The first checkout holding ``clean`` as a file, and the file's real path."""
    directory = False
    for checkout in checkouts:
        real = confine(checkout.root, clean)
        if real.is_file():
            return checkout, real
        directory = directory or real.is_dir()
    if directory:
        raise InvalidArgument("path", f"{clean!r} is a directory, not a file")
    where = ", ".join(c.connector_name for c in checkouts) or "this project"
    raise NotFound(f"file {clean!r} not found in {where}")


def _open_regular(real: Path, clean: str) -> BinaryIO:
    # No symlink at the last step (``real`` has none unless swapped in since), and
    # O_NONBLOCK so a FIFO cannot hang the call before fstat refuses it.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise NotFound(f"file {clean!r} not found") from None
    except PermissionError:
        raise FailedPrecondition(f"{clean} cannot be read: permission denied") from None
    except OSError as exc:
        raise FailedPrecondition(f"{clean} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidArgument("path", f"{clean!r} is not a regular file")
    return os.fdopen(fd, "rb")


def _read(handle: BinaryIO, clean: str, start: int, end: int) -> tuple[_Window, int]:
    """The window of lines asked for, and the number of lines of the whole file."""
    head = handle.read(SNIFF_BYTES)
    handle.seek(0)
    if head.startswith(UTF16_BOMS):
        lines: Iterator[str] = iter(_utf16_lines(handle, clean))
        window = _take(lines, start, end)
        return window, window.seen + (0 if window.exhausted else sum(1 for _ in lines))
    if b"\0" in head:
        raise FailedPrecondition(f"{clean} is a binary file")
    window = _take(_utf8_lines(handle), start, end)
    return window, window.seen + (0 if window.exhausted else _count_rest(handle))


def _take(lines: Iterator[str], start: int, end: int) -> _Window:
    taken: list[str] = []
    size = seen = 0
    for text in lines:
        seen += 1
        if seen < start:
            continue
        if end and seen > end:
            return _Window(taken, seen, truncated=False, exhausted=False)
        cost = len(text.encode()) + 1
        if len(taken) == MAX_LINES or size + cost > MAX_CONTENT_BYTES:
            if not taken:  # a single line over the cap: its start
                taken.append(_cut(text, MAX_CONTENT_BYTES))
            return _Window(taken, seen, truncated=True, exhausted=False)
        taken.append(text)
        size += cost
    return _Window(taken, seen, truncated=False, exhausted=True)


def _utf8_lines(handle: BinaryIO) -> Iterator[str]:
    """Lines without end-of-line characters; a line is kept to its first bytes only."""
    first = True
    while piece := handle.readline(READ_BYTES):
        line = piece
        while not piece.endswith(b"\n") and (piece := handle.readline(READ_BYTES)):
            if len(line) <= MAX_CONTENT_BYTES:
                line += piece
        if first:
            line, first = line.removeprefix(codecs.BOM_UTF8), False
        yield _strip_eol(line).decode("utf-8", "replace")


def _utf16_lines(handle: BinaryIO, clean: str) -> list[str]:
    data = handle.read(MAX_UTF16_BYTES + 1)
    if len(data) > MAX_UTF16_BYTES:
        raise FailedPrecondition(f"{clean} is a UTF-16 file over {MAX_UTF16_BYTES} bytes")
    text = data.decode("utf-16", "replace")
    return [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")] if text else []


def _count_rest(handle: BinaryIO) -> int:
    """Lines from the current position to the end (a last line without "\\n" counts)."""
    count, last = 0, b"\n"
    while chunk := handle.read(READ_BYTES * 16):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count + (last != b"\n")


def _strip_eol(line: bytes) -> bytes:
    return line.removesuffix(b"\n").removesuffix(b"\r")


def _cut(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode("utf-8", "ignore")
