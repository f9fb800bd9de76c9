"""OpenFile: lines of a file of a project's checkout, within a size cap.

Files are read as a stream: only the lines returned are kept, the rest of the
file is merely counted, so a large log costs time but not memory. Text is
decoded as the ingestion decodes it (UTF-8 with a BOM dropped, UTF-16 with a
BOM), so the lines a citation names are the lines shown.

The file is opened below the checkout's root by descriptor, name by name, and
read from that descriptor (``beneath``): a folder swapped for a symlink while
the call runs cannot lead the read out of the checkout, nor can any name lead
into the server's data directory.
"""

from __future__ import annotations

import codecs
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..chunking.languages import language_of
from ..data_guard import DataDirGuard
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from .base import Checkout
from .beneath import CheckoutRoot, Refused, RootUnavailable
from .checkouts import resolve_checkout
from .confine import normalise

log = logging.getLogger(__name__)

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
    *,
    guard: DataDirGuard | None = None,
) -> OpenedFile:
    """Lines ``start_line``-``end_line`` (1-based, inclusive; 0: first/last) of ``path``;
    nothing of ``guard``'s data directory is ever opened."""
    if start_line < 0:
        raise InvalidArgument("start_line", "must be 1 or more (0 means 1)")
    if end_line < 0:
        raise InvalidArgument("end_line", "must be 1 or more (0 means the end of the file)")
    start = start_line or 1
    if end_line and end_line < start:
        raise InvalidArgument("end_line", f"must not be before start_line ({start})")
    clean = normalise(path)
    checkout, opened = _find(resolve_checkout(checkouts, connector), clean, guard)
    with opened as handle:
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


def refuse_unreadable(
    checkouts: list[Checkout] | tuple[Checkout, ...],
    path: str,
    *,
    guard: DataDirGuard | None = None,
) -> None:
    """Raise the specific reason ``path`` cannot be shown, reading at most its first bytes:
    a path leaving the checkout or naming a directory (InvalidArgument), a binary file
    (FailedPrecondition), or a missing one (NotFound). Returns if none applies."""
    clean = normalise(path)
    _, opened = _find(list(checkouts), clean, guard)
    with opened as handle:
        head = handle.read(SNIFF_BYTES)
    if looks_binary(head):
        raise FailedPrecondition(f"{clean} is a binary file")


def looks_binary(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first ``SNIFF_BYTES``) is binary: a NUL,
    unless it is UTF-16 with a BOM. Grep skips what OpenFile would refuse."""
    return b"\0" in head and not head.startswith(UTF16_BOMS)


def _find(
    checkouts: list[Checkout], clean: str, guard: DataDirGuard | None
) -> tuple[Checkout, BinaryIO]:
    """The first checkout holding ``clean`` as a regular file, and that file, open."""
    directory = False
    for checkout in checkouts:
        opened = _open_below(checkout, clean, guard)
        if opened is None:
            continue
        fd, info = opened
        if stat.S_ISREG(info.st_mode):
            return checkout, os.fdopen(fd, "rb")
        os.close(fd)  # a folder, or a FIFO, socket or device: never read
        directory = directory or stat.S_ISDIR(info.st_mode)
    if directory:
        raise InvalidArgument("path", f"{clean!r} is a directory, not a file")
    where = ", ".join(c.connector_name for c in checkouts) or "this project"
    raise NotFound(f"file {clean!r} not found in {where}")


def _open_below(
    checkout: Checkout, clean: str, guard: DataDirGuard | None
) -> tuple[int, os.stat_result] | None:
    """A descriptor of ``clean`` below the checkout's root and its fstat; None if the
    checkout has nothing by that name. Symlinks are followed while they stay inside."""
    try:
        with CheckoutRoot.of(checkout, guard) as root:
            return root.open(clean.split("/"), follow_links=True)
    except RootUnavailable as unavailable:
        log.warning("checkout of %s not readable: %s", checkout.connector_id, unavailable)
        return None
    except Refused as refused:
        raise InvalidArgument("path", f"{clean!r} {refused}") from None
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise FailedPrecondition(f"{clean} cannot be read: permission denied") from None
    except OSError as exc:  # e.g. a symlink swapped back while its target was read
        raise FailedPrecondition(f"{clean} cannot be read: {exc.strerror}") from None


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
