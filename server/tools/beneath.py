"""Opening files below a checkout root so that no name can be swapped under the walk.

Checking a resolved path and then opening it by name again can be raced: between the
two, someone who can write in the checkout exchanges a folder with a symlink
(``renameat2(RENAME_EXCHANGE)``) and the open follows it out. So nothing here is opened
by a path the kernel resolves: the root is opened once, from ``/`` down its real path
(as ``project_checkouts`` found it; never resolved again), judged as a descriptor
(``DataDirGuard.judge``: not the data directory, nothing in it but the connector's own
work folder, inside its local root), and everything below it relative to the descriptor
of the folder above, one name at a time with ``O_NOFOLLOW`` (``O_DIRECTORY`` for
folders). A symlink is never followed by the kernel; when the caller allows it (OpenFile
does, grep does not) its target is read and walked the same way, name by name from the
folder holding it (or from the root, for an absolute target inside the checkout), at
most ``MAX_LINKS`` times, so a link keeps working as long as it stays inside the
checkout. ``..`` in a link target steps back to
the descriptor the walk came from, never through the kernel's ``..``.

Every folder and file opened is checked against the server's data directory by
identity (``Protected``), so neither a bind mount nor a hard link leads into it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ..data_guard import (
    INTO_DATA_DIR,
    WALK_FLAGS,
    DataDirGuard,
    FolderRefused,
    Protected,
    open_real_folder,
)
from .base import Checkout

MAX_LINKS = 40  # as Linux's MAXSYMLINKS
# O_NONBLOCK: a FIFO cannot hang the open before the caller's fstat refuses it.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# What opening a symlink with O_NOFOLLOW fails with (ENOTDIR under O_DIRECTORY; EMLINK: BSDs).
_LINK_ERRORS = {errno.ELOOP, errno.ENOTDIR, errno.EMLINK}

LEAVES = "leads outside the checkout (symlink)"
LOOPS = "is a symlink loop"
INTO_GIT = "leads into .git (symlink)"
IS_LINK = "is a symlink"
DATA_DIR = INTO_DATA_DIR


class Refused(Exception):
    """The path cannot be opened below the root; ``str()`` says why (after the path)."""


class RootUnavailable(Exception):
    """The checkout folder cannot be opened (gone, changed, or the data directory)."""


class CheckoutRoot:
    """A checkout folder, open, to open files below it. Close it (or use ``with``).

    ``root`` is a real path (``Checkout.root``): it is walked as it is, a symlink on the
    way makes it unavailable. ``guard`` judges the open root (``own``: the connector's
    work folder, the one place of the data directory it may be in) and what is below.
    """

    def __init__(
        self, root: Path, guard: DataDirGuard | None = None, *, own: Path | None = None
    ) -> None:
        self.real = PurePosixPath(os.path.normpath(root))
        self._chain: list[tuple[str, int]] = []
        try:
            self._fd = open_real_folder(self.real)
        except OSError as error:
            raise RootUnavailable(f"{self.real} cannot be opened: {error.strerror}") from None
        try:
            self._protected = _judged(self._fd, self.real, guard, own)
        except BaseException:
            os.close(self._fd)
            raise
        # The folders of the last path opened without links, kept for the next one: grep
        # opens files in path order, so most share all their folders with the one before.

    @classmethod
    def of(cls, checkout: Checkout, guard: DataDirGuard | None) -> CheckoutRoot:
        """The root of ``checkout``, judged by ``guard`` (its private clone allowed)."""
        own = guard.sources_folder(checkout.connector_id) if guard is not None else None
        return cls(checkout.root, guard, own=own)

    @property
    def fd(self) -> int:
        """The root's descriptor (for a child: ``pass_fds`` and ``proc_path``)."""
        return self._fd

    @property
    def proc_path(self) -> str:
        """The root for a child process that inherits ``fd``."""
        return f"/proc/self/fd/{self._fd}"

    def __enter__(self) -> CheckoutRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._rewind(0)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def open(self, parts: Sequence[str], *, follow_links: bool) -> tuple[int, os.stat_result]:
        """A read-only descriptor of what ``parts`` (a clean relative path, split) names
        below the root, and its ``fstat``: a file, a folder or anything else; the caller
        judges the kind and closes it.

        Raises ``Refused`` (a symlink that leaves the checkout, loops, leads into ``.git``
        or the data directory; any symlink when ``follow_links`` is false; the root
        itself) or the ``OSError`` of the step that failed (``FileNotFoundError``,
        ``PermissionError``, ``NotADirectoryError``)."""
        keep = 0
        while keep < min(len(self._chain), len(parts) - 1) and self._chain[keep][0] == parts[keep]:
            keep += 1
        self._rewind(keep)
        try:
            opened, followed = self._walk(list(reversed(parts[keep:])), follow_links)
        except BaseException:
            self._rewind(0)
            raise
        if followed:  # the folders kept no longer are the names asked for
            self._rewind(0)
        return opened

    def _walk(self, todo: list[str], follow_links: bool) -> tuple[tuple[int, os.stat_result], bool]:
        """Open the names of ``todo`` (the next one last) from the current folder on."""
        links = 0
        while todo:
            name = todo.pop()
            if name == "..":
                if not self._chain:
                    raise Refused(LEAVES)
                self._rewind(len(self._chain) - 1)
            elif name not in ("", "."):
                if name == ".git":
                    raise Refused(INTO_GIT)
                last = not any(part not in ("", ".") for part in todo)
                try:
                    fd = os.open(name, _FILE if last else WALK_FLAGS, dir_fd=self._here)
                except OSError as error:
                    target = _link_target(name, self._here, error)
                    links += 1
                    if not follow_links:
                        raise Refused(IS_LINK) from None
                    if links > MAX_LINKS:
                        raise Refused(LOOPS) from None
                    todo.extend(reversed(self._link_parts(target)))
                    continue
                info = self._checked(fd)
                if last:
                    return (fd, info), bool(links)
                self._chain.append((name, fd))
        if not self._chain:  # a link back to the root
            raise Refused("names the checkout itself")
        fd = self._chain.pop()[1]  # a link to a folder above the one holding it
        return (fd, os.fstat(fd)), True

    @property
    def _here(self) -> int:
        return self._chain[-1][1] if self._chain else self._fd

    def _rewind(self, depth: int) -> None:
        while len(self._chain) > depth:
            os.close(self._chain.pop()[1])

    def _checked(self, fd: int) -> os.stat_result:
        info = os.fstat(fd)
        if self._protected is not None and self._protected.forbids((info.st_dev, info.st_ino)):
            os.close(fd)
            raise Refused(DATA_DIR)
        return info

    def _link_parts(self, target: str) -> list[str]:
        """The names to walk for a link's ``target``: from the folder holding the link, or
        for an absolute target, from the root (only if it names a place inside it)."""
        if not target.startswith("/"):
            return target.split("/")
        absolute = PurePosixPath(target)  # "//" and "/./" folded; ".." kept, walked below
        if not absolute.is_relative_to(self.real):
            raise Refused(LEAVES)
        self._rewind(0)
        return list(absolute.parts[len(self.real.parts) :])


def _link_target(name: str, folder: int, error: OSError) -> str:
    """The target of the symlink ``name`` that made ``error``; ``error`` itself if it is
    no symlink (a missing name, a file where a folder was needed, a permission)."""
    if error.errno not in _LINK_ERRORS:
        raise error
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError:
        raise error from None


def _judged(
    fd: int, real: PurePosixPath, guard: DataDirGuard | None, own: Path | None
) -> Protected | None:
    """What nothing below the open root ``fd`` may be; ``RootUnavailable`` if the root
    itself may not be read."""
    if guard is None:
        return None
    try:
        return guard.admit(fd, real, real, own)
    except FolderRefused as refused:
        raise RootUnavailable(str(refused)) from None
    except OSError as error:  # a folder above unsearchable, mountinfo or data dir unreadable
        raise RootUnavailable(f"{real} cannot be judged: {error.strerror}") from None
