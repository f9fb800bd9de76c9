"""Full disks for tests, as real as this machine allows.

- ``SmallDisk``: a real tmpfs of a few MiB mounted on a test folder (mount(2) needs root;
  ``can_mount()`` says whether it works here). ``fill()`` writes a filler file until the
  kernel answers ENOSPC, so every later write of any program (SQLite's WAL, FAISS, numpy)
  fails as on a full disk; ``free()`` deletes the filler.
- ``PageLimit``: SQLite's own limit, ``PRAGMA max_page_count``, lowered to the pages the
  database has, so a write that needs one more page answers "database or disk is full"
  (SQLITE_FULL); works without root. Writes that fit in free space inside existing pages
  still succeed, as on a disk with a little room left.
- ``MongoOutOfSpace``: what a MongoDB server out of disk space answers a write
  (``OperationFailure`` code 14031, OutOfDiskSpace), raised at the driver boundary
  because mongomock keeps its data in memory.
"""

from __future__ import annotations

import errno
import functools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

from pymongo.errors import OperationFailure

from projectqa.server.store import MongoStore, SqliteStore, Store

OUT_OF_DISK_SPACE = 14031  # MongoDB's error code
_MOUNT_TIMEOUT_S = 30


class FullDisk(Protocol):
    every_write_fails: bool  # False: writes that fit in room left inside pages succeed

    def fill(self, store: Store) -> None:
        """From now on, writes that need more space fail."""

    def free(self) -> None:
        """Space is back."""


@functools.cache
def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, or CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory(prefix="projectqa-mount-probe-") as probe:
        if _mount(Path(probe), 64 * 1024).returncode != 0:
            return False
        _unmount(Path(probe))
    return True


def _mount(path: Path, size: int) -> subprocess.CompletedProcess[bytes]:
    options = f"size={size},mode=0700"
    command = ["mount", "-t", "tmpfs", "-o", options, "projectqa-test", str(path)]
    return subprocess.run(command, capture_output=True, timeout=_MOUNT_TIMEOUT_S)


def _unmount(path: Path) -> None:
    # Lazy: a file a dying server still holds open must not keep the mount busy.
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=_MOUNT_TIMEOUT_S)


class SmallDisk:
    """A real filesystem of ``size`` bytes at ``path`` (see ``small_disk``)."""

    every_write_fails = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / ".filler"

    def fill(self, store: Store | None = None) -> None:
        with open(self._filler, "ab", buffering=0) as file:
            for block in (1 << 20, 1 << 12, 1):
                with suppress(OSError):
                    while True:
                        file.write(b"\0" * block)
        probe = self.path / ".probe"
        try:
            probe.write_bytes(b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        else:
            raise AssertionError(f"{self.path} still has room after filling it")
        finally:
            probe.unlink(missing_ok=True)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextmanager
def small_disk(path: Path, size: int) -> Iterator[SmallDisk]:
    """Mount a tmpfs of ``size`` bytes at ``path`` (created) for the ``with`` block."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _mount(path, size)
    assert mounted.returncode == 0, mounted.stderr.decode()
    try:
        yield SmallDisk(path)
    finally:
        _unmount(path)


class PageLimit:
    """SQLite full at its current size (``PRAGMA max_page_count``)."""

    every_write_fails = False

    def __init__(self) -> None:
        self._store: SqliteStore | None = None
        self._limit = 0

    def fill(self, store: Store) -> None:
        assert isinstance(store, SqliteStore)
        self._store = store
        self._limit = self._pragma("PRAGMA max_page_count")
        pages = self._pragma("PRAGMA page_count")
        self._pragma(f"PRAGMA max_page_count = {pages}")

    def free(self) -> None:
        self._pragma(f"PRAGMA max_page_count = {self._limit}")

    def _pragma(self, sql: str) -> Any:
        store = self._store
        assert store is not None
        with store._lock:  # the store's one connection; a pragma is per connection
            row = store._connection().execute(sql).fetchone()
        return None if row is None else row[0]


class MongoOutOfSpace:
    """A MongoDB server out of disk space: every write of the store answers OutOfDiskSpace."""

    every_write_fails = True
    WRITES = (
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "bulk_write",
    )

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def fill(self, store: Store) -> None:
        assert isinstance(store, MongoStore)
        for collection in store._cols.values():
            for name in self.WRITES:
                self._saved.append((collection, name, collection.__dict__.get(name)))
                setattr(collection, name, _out_of_space)

    def free(self) -> None:
        for collection, name, before in reversed(self._saved):
            if before is None:
                delattr(collection, name)
            else:
                setattr(collection, name, before)
        self._saved.clear()


def _out_of_space(*args: object, **kwargs: object) -> None:
    raise OperationFailure("No space left on device", OUT_OF_DISK_SPACE)
