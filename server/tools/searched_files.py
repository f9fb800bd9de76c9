"""The files grep searches: listed by name, opened by descriptor, searched by descriptor.

ripgrep never reads a file by a name that could be swapped. ``rg --files`` only lists
the names (its ignore rules are the ones the search honours); each listed file is then
opened below the checkout's root by descriptor (``beneath``: name by name, no symlink
followed, nothing of the server's data directory), and an ``rg`` inherits those
descriptors and searches ``/dev/fd/N``. A folder exchanged with a symlink while the
search runs makes a listed file fail to open, never makes ``rg`` read outside.

Files go to ``rg`` in batches; while one batch is searched, the next is opened (in a
thread), so opening and searching overlap. A batch's descriptors are closed as soon as
its ``rg`` has started (it holds its own copies), so a search holds at most two batches
of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import stat
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..data_guard import DataDirGuard
from ..errors import FailedPrecondition
from ..threads import run_to_end
from .base import Checkout
from .beneath import CheckoutRoot, Refused, RootUnavailable
from .openfile import SNIFF_BYTES, looks_binary
from .ripgrep import RgProcess, run_rg, text_of

T = TypeVar("T")

# Larger files are skipped (as rg --max-filesize does); the index skips anything over
# 1 MiB by default anyway.
MAX_FILE_BYTES = 10 * 1024 * 1024
# Files one rg is given: an eighth of the descriptor limit (a server often has 1,024),
# at most 1,024: larger batches start fewer rg processes. The first batches are smaller
# (FIRST_BATCH_FILES, then 4 times more each time), so a search that stops at its match
# budget after a few files does not open a thousand first.
BATCH_FILES = max(16, min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 8))
FIRST_BATCH_FILES = 16
DEV_FD = "/dev/fd"  # where rg finds the descriptors it inherits


class RgRefused(Exception):
    """rg refused its arguments (a bad pattern or glob); the message is its stderr."""


class RecordSink(Protocol):
    """Where rg's records go (grep's collector)."""

    @property
    def done(self) -> bool: ...

    def take(self, record: dict[str, Any]) -> None: ...

    def end_file(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Opened:
    """A listed file, open below the checkout's root."""

    path: str  # relative to the checkout, as shown
    fd: int


@dataclass(frozen=True, slots=True)
class Searched:
    """How a checkout's search went."""

    files: int  # files searched (binary ones count: they were looked at)
    given: int  # files given to rg (none: it never saw the pattern)


async def search_checkout(
    checkout: Checkout,
    guard: DataDirGuard | None,
    walk_arguments: list[str],
    search_arguments: list[str],
    sink: RecordSink,
) -> Searched:
    """List the checkout's files with ``walk_arguments``, search them with
    ``search_arguments`` and give every record to ``sink`` until it is done. Raises
    ``RgRefused`` if rg refuses the arguments."""
    if not os.path.isdir(DEV_FD):
        raise FailedPrecondition(f"grep needs {DEV_FD} (procfs mounted) to search by descriptor")
    root = await _in_thread(partial(_open_root, checkout, guard), CheckoutRoot.close)
    try:
        return await _search_below(root, checkout, walk_arguments, search_arguments, sink)
    finally:
        root.close()  # no thread uses it any more: _in_thread waits for them


async def search_nothing(search_arguments: list[str], sink: RecordSink) -> None:
    """rg over no file (stdin closed), for its verdict on the arguments (``RgRefused``)."""
    async with _searching([], search_arguments) as search:
        await search.feed(sink)


async def _search_below(
    root: CheckoutRoot,
    checkout: Checkout,
    walk_arguments: list[str],
    search_arguments: list[str],
    sink: RecordSink,
) -> Searched:
    searched = given = listed = 0
    # rg lists names in the root it is given by descriptor (its cwd), never by the
    # checkout's path: a path could name another folder by now.
    listing = run_rg(
        ["--files", "--null", *walk_arguments], Path(root.proc_path), pass_fds=[root.fd]
    )
    async with listing as lister:
        ahead = _OpenAhead(root, lister.paths())
        try:
            while (batch := await ahead.take()) is not None:
                listed, searched = listed + batch.listed, searched + batch.searched
                given += len(batch.files)
                if batch.files:
                    async with _searching(batch.files, search_arguments) as search:
                        await search.feed(sink)
                if sink.done:
                    return Searched(searched, given)
        finally:
            await ahead.close()
        code, stderr = await lister.finish()
    if not listed and code == 2 and stderr.strip():  # e.g. a glob it cannot parse
        raise RgRefused(stderr)
    return Searched(searched, given)


@dataclass(frozen=True, slots=True)
class _Batch:
    listed: int  # names listed
    files: list[_Opened]  # those to search, open
    searched: int  # those looked at (binary ones too)


class _OpenAhead:
    """Opens the next batch of listed files (in a thread) while the current one is
    searched, so opening and searching overlap."""

    def __init__(self, root: CheckoutRoot, paths: AsyncIterator[bytes]) -> None:
        self._root = root
        self._batches = _batches(paths)
        self._next = asyncio.ensure_future(self._open())

    async def take(self) -> _Batch | None:
        """The next batch, open (None after the last); the one after starts opening."""
        batch = await self._next
        if batch is not None:
            self._next = asyncio.ensure_future(self._open())
        return batch

    async def close(self) -> None:
        """Stop opening, and close what was opened but not taken."""
        self._next.cancel()  # _in_thread waits for its thread and closes what it opened
        await _settled(self._next)
        if not self._next.cancelled() and self._next.exception() is None:
            batch = self._next.result()
            _close(batch.files if batch else [])
        await self._batches.aclose()

    async def _open(self) -> _Batch | None:
        names = await anext(self._batches, None)
        if names is None:
            return None
        opening = partial(_open_files, self._root, names)
        files, counted = await _in_thread(opening, lambda opened: _close(opened[0]))
        return _Batch(len(names), files, counted)


class _Search:
    """An rg searching a batch of files."""

    def __init__(self, rg: RgProcess, names: dict[str, str]) -> None:
        self._rg, self._names = rg, names

    async def feed(self, sink: RecordSink) -> None:
        """Give its records to ``sink`` until the end or until ``sink`` is done."""
        records = 0
        async for record in self._rg.records():
            records += 1
            sink.take(_renamed(record, self._names))
            if sink.done:
                return
        code, stderr = await self._rg.finish()
        sink.end_file()
        if code == 2 and records == 0 and stderr.strip():
            raise RgRefused(stderr)


@contextlib.asynccontextmanager
async def _searching(files: list[_Opened], arguments: list[str]) -> AsyncIterator[_Search]:
    """Start rg over ``files`` and close their descriptors: rg holds its own copies."""
    names = {f"{DEV_FD}/{file.fd}": file.path for file in files}
    try:
        # cwd "/": rg is given descriptors only, and reads nothing by name.
        running = run_rg(arguments, Path("/"), list(names) or ["-"], [f.fd for f in files])
        async with running as rg:
            _close(files)
            files = []
            yield _Search(rg, names)
    finally:
        _close(files)


def _open_root(checkout: Checkout, guard: DataDirGuard | None) -> CheckoutRoot:
    try:
        return CheckoutRoot.of(checkout, guard)
    except RootUnavailable:
        raise FailedPrecondition(
            f"cannot search the files of {checkout.connector_name!r}: the folder is gone "
            "or cannot be read"
        ) from None


def _open_files(root: CheckoutRoot, names: list[bytes]) -> tuple[list[_Opened], int]:
    """The listed files to search, open, and how many were searched (binary ones count).
    A name that is no longer a regular file below the root (swapped for a symlink, gone,
    grown too large) is skipped; so is a binary file, as OpenFile would refuse it."""
    files: list[_Opened] = []
    counted = 0
    for name in names:
        parts = [os.fsdecode(part) for part in name.split(b"/")]
        try:
            fd, info = root.open(parts, follow_links=False)
        except (Refused, OSError):
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
            counted += 1
            if not looks_binary(os.pread(fd, SNIFF_BYTES, 0)):
                files.append(_Opened(name.decode("utf-8", "replace"), fd))
                continue
        os.close(fd)
    return files, counted


def _renamed(record: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``record`` with the descriptor's path (``/dev/fd/N``) replaced by the file's."""
    data = record.get("data")
    if isinstance(data, dict) and "path" in data:
        path = text_of(data["path"])
        data["path"] = {"text": names.get(path, path)}
    return record


async def _batches(paths: AsyncIterator[bytes]) -> AsyncGenerator[list[bytes], None]:
    batch: list[bytes] = []
    size = min(FIRST_BATCH_FILES, BATCH_FILES)
    async for path in paths:
        batch.append(path)
        if len(batch) == size:
            yield batch
            batch, size = [], min(size * 4, BATCH_FILES)
    if batch:
        yield batch


async def _in_thread(work: Callable[[], T], discard: Callable[[T], None]) -> T:
    """Run blocking descriptor work in a thread to its end even if the caller is
    cancelled meanwhile (a root must never be closed under a thread walking it), then
    ``discard`` what it opened and let the cancellation through."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await run_to_end(task)
    except asyncio.CancelledError:
        if task.exception() is None:
            discard(task.result())
        raise


async def _settled(task: asyncio.Future[Any]) -> None:
    """Wait for ``task`` to end, even if cancelled meanwhile (then let that through)."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _close(files: list[_Opened]) -> None:
    for file in files:
        os.close(file.fd)
