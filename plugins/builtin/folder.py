"""Listing and reading a folder on disk for the ``local`` connector.

The root is opened once, by the server (``data_guard.open_folder``): down its real
path with ``O_NOFOLLOW`` on every name, and judged as a descriptor (not the data
directory, nothing holding or inside it, inside its local root). Everything below
it is reached from that descriptor, one component at a time with ``O_NOFOLLOW``
(:class:`FolderTree`): no absolute path is ever rebuilt from strings. So paths
longer than ``PATH_MAX`` (4,096 bytes) are listed and read like any other, a folder
swapped for a symlink while a run goes on cannot lead it outside the root, and no
folder or file below it may be the data directory or an entry directly in it (a
bind mount, a hard link), whatever name leads there.

Symlinks are never followed, to files or folders: one that leaves the folder or
dangles is reported, one that stays inside is skipped quietly (its target is
listed under its own path). ``.gitignore`` files in the tree are honoured as git
does (a deeper file overrides a shallower one); ``.git`` is never entered.

Only the root failing to open stops a run. Anything else is a warning on its
path: a folder that cannot be listed, an entry that cannot be stat'ed, a
``.gitignore`` that cannot be read or holds invalid patterns, a FIFO, socket or
device (reported, never opened), and a git submodule named in a ``.gitmodules``
whose folder is missing or empty (not checked out, so nothing of it is indexed).
Nested repositories and checked-out submodules are listed as plain folders.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pathspec import GitIgnoreSpec

from projectqa.server.data_guard import FOLDER_FLAGS, INTO_DATA_DIR, OpenFolder
from projectqa.server.sources import SourceWarning

from .files import FileRules, FileSkipped, compile_patterns, file_kind, points_outside, read_file_at

# Descriptors kept open along the folder last visited; deeper folders are reopened
# from the deepest one kept each time, so a deep tree cannot exhaust descriptors.
HELD_FOLDERS = 32
MAX_DEPTH = 256  # deeper folders are reported, not listed: reopening them costs their depth
MAX_RULES_BYTES = 1 << 20  # a .gitignore or .gitmodules larger than this is not applied
SUBMODULE_PATH = re.compile(r"^\s*path\s*=\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)

Ignores = list[tuple[str, GitIgnoreSpec]]  # (folder key prefix, its .gitignore)
Stats = dict[str, os.stat_result | OSError]  # a folder's entries by name


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A regular file in the folder, as listed (the read re-checks it)."""

    key: str
    size: int
    mtime_ns: int


@dataclass
class FolderListing:
    """The files to read, sorted by key, and what was skipped while listing."""

    files: list[FoundFile] = field(default_factory=list)
    warnings: list[SourceWarning] = field(default_factory=list)

    def warn(self, key: str, message: str) -> None:
        self.warnings.append(SourceWarning(key, message))


class FolderTree:
    """A root folder, opened once (it takes ``root`` over and closes it); what lies
    below it is opened from its descriptor."""

    def __init__(self, root: OpenFolder) -> None:
        self._root = root
        self.real_root = Path(root.real)  # only to tell where symlinks point
        self._root_fd = root.fd
        self._held: list[tuple[str, int]] = []  # (name, descriptor) from the root down

    def __enter__(self) -> FolderTree:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._release(0)
        self._root.close()

    def readable(self) -> bool:
        return os.access(".", os.R_OK | os.X_OK, dir_fd=self._root_fd)

    @contextmanager
    def folder(self, parts: Sequence[str]) -> Iterator[int]:
        """A descriptor of the folder ``parts`` below the root, valid inside the block.

        Raises ``OSError`` if a component is missing, not a folder or a symlink
        (``ENOTDIR``), or cannot be opened.
        """
        fd = self._hold(parts[:HELD_FOLDERS])
        reopened: list[int] = []
        try:
            for name in parts[HELD_FOLDERS:]:
                fd = os.open(name, FOLDER_FLAGS, dir_fd=fd)
                reopened.append(fd)
                self._check(fd)
            yield fd
        finally:
            for fd in reopened:
                os.close(fd)

    def read_file(self, key: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
        """Read the file ``key``; ``FileSkipped`` says why it could not be."""
        *parts, name = key.split("/")
        try:
            with self.folder(parts) as fd:
                data, info = read_file_at(fd, name, max_bytes)
        except OSError as exc:  # read_file_at raises only FileSkipped: this is the folder
            raise FileSkipped(_folder_failure(exc)) from None
        if self._forbids(info):  # a hard link to a file of the data directory
            raise FileSkipped(f"{INTO_DATA_DIR}; not read")
        return data, info

    def _forbids(self, info: os.stat_result) -> bool:
        protected = self._root.protected
        return protected is not None and protected.forbids((info.st_dev, info.st_ino))

    def _check(self, fd: int) -> None:
        """Refuse a folder that is of the data directory (a bind mount of it)."""
        if self._forbids(os.fstat(fd)):
            raise PermissionError(errno.EACCES, INTO_DATA_DIR)

    def _hold(self, parts: Sequence[str]) -> int:
        """Open the folder ``parts``, reusing the held descriptors of its leading part."""
        same = 0
        while same < min(len(parts), len(self._held)) and self._held[same][0] == parts[same]:
            same += 1
        self._release(same)
        for name in parts[same:]:
            parent = self._held[-1][1] if self._held else self._root_fd
            self._held.append((name, os.open(name, FOLDER_FLAGS, dir_fd=parent)))
            self._check(self._held[-1][1])
        return self._held[-1][1] if self._held else self._root_fd

    def _release(self, keep: int) -> None:
        while len(self._held) > keep:
            os.close(self._held.pop()[1])


def _folder_failure(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "its folder is gone since it was listed"
    if exc.errno == errno.ENOTDIR:  # O_DIRECTORY | O_NOFOLLOW on a symlink
        return "its folder was replaced by a symlink or a file; not followed"
    return f"its folder cannot be opened: {exc.strerror}"


def list_folder(tree: FolderTree, rules: FileRules) -> FolderListing:
    """Every file under the root that ``rules`` and the tree's ``.gitignore`` files take."""
    listing = FolderListing()
    submodules: list[tuple[str, Ignores]] = []
    pending: list[tuple[str, Ignores]] = [("", [])]
    while pending:  # a stack, not recursion
        prefix, ignores = pending.pop()
        pending.extend(_scan(tree, prefix, ignores, rules, listing, submodules))
    for key, ignores in submodules:
        if not rules.excludes(key, is_dir=True) and not _ignored(key + "/", ignores):
            _check_submodule(tree, key, listing)
    listing.files.sort(key=lambda found: found.key)
    listing.warnings.sort(key=lambda warning: warning.key)
    return listing


def _scan(
    tree: FolderTree,
    prefix: str,
    ignores: Ignores,
    rules: FileRules,
    listing: FolderListing,
    submodules: list[tuple[str, Ignores]],
) -> list[tuple[str, Ignores]]:
    """File one folder's entries into ``listing``; return the sub-folders to visit."""
    where = prefix.rstrip("/") or "."
    parts = prefix.split("/")[:-1]
    if len(parts) > MAX_DEPTH:
        listing.warn(where, f"nested deeper than {MAX_DEPTH} folders; not listed")
        return []
    try:
        with tree.folder(parts) as fd:
            stats = _stat_entries(fd)
            if gitignore := _read_gitignore(fd, stats, prefix, listing):
                ignores = [*ignores, (prefix, gitignore)]  # a new list: siblings must not see it
            submodules.extend((key, ignores) for key in _submodules(fd, stats, prefix, listing))
            return _file_entries(tree, fd, prefix, stats, ignores, rules, listing)
    except OSError as exc:  # opening or listing this folder; entries catch their own
        listing.warn(where, f"cannot list: {exc.strerror}")
        return []


def _stat_entries(fd: int) -> Stats:
    stats: Stats = {}
    with os.scandir(fd) as scan:
        for entry in scan:
            try:
                stats[entry.name] = entry.stat(follow_symlinks=False)
            except OSError as exc:  # vanished since listed, or EIO: reported if taken
                stats[entry.name] = exc
    return stats


def _file_entries(
    tree: FolderTree,
    fd: int,
    prefix: str,
    stats: Stats,
    ignores: Ignores,
    rules: FileRules,
    listing: FolderListing,
) -> list[tuple[str, Ignores]]:
    sub_folders = []
    for name, info in stats.items():
        key = prefix + name
        if not _valid_name(name, key, listing):
            continue
        if not isinstance(info, OSError) and stat.S_ISDIR(info.st_mode):
            if not rules.excludes(key, is_dir=True) and not _ignored(key + "/", ignores):
                sub_folders.append((key + "/", ignores))
        elif rules.takes(key) and not _ignored(key, ignores):
            _take(tree, fd, name, key, info, listing)
    return sub_folders


def _take(
    tree: FolderTree,
    fd: int,
    name: str,
    key: str,
    info: os.stat_result | OSError,
    listing: FolderListing,
) -> None:
    if isinstance(info, OSError):
        listing.warn(key, f"cannot stat: {info.strerror}")
    elif stat.S_ISREG(info.st_mode):
        listing.files.append(FoundFile(key, info.st_size, info.st_mtime_ns))
    elif stat.S_ISLNK(info.st_mode):
        _check_symlink(tree, fd, name, key, listing)
    else:  # never opened: a FIFO could block, a device could act on being opened
        listing.warn(key, f"{file_kind(info.st_mode)}; not read")


def _valid_name(name: str, key: str, listing: FolderListing) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by surrogateescape
        shown = key.encode("utf-8", "replace").decode("utf-8")
        listing.warn(shown, "file name is not valid UTF-8")
        return False
    return True


def _ignored(path: str, ignores: Ignores) -> bool:
    """Git's rule: the deepest ``.gitignore`` with a matching pattern decides."""
    for prefix, spec in reversed(ignores):
        if path.startswith(prefix):
            decision = spec.check_file(path[len(prefix) :]).include
            if decision is not None:
                return decision
    return False


def _read_gitignore(
    fd: int, stats: Stats, prefix: str, listing: FolderListing
) -> GitIgnoreSpec | None:
    key = prefix + ".gitignore"
    text = _rules_file(fd, stats, ".gitignore", key, listing)
    if text is None:
        return None
    spec, bad = compile_patterns(text.splitlines())
    if len(bad) == 1:
        listing.warn(key, f"line {bad[0] + 1} is not a valid pattern; ignored")
    elif bad:
        numbers = ", ".join(str(index + 1) for index in bad)
        listing.warn(key, f"lines {numbers} are not valid patterns; ignored")
    return spec


def _rules_file(fd: int, stats: Stats, name: str, key: str, listing: FolderListing) -> str | None:
    """The text of a folder's ``.gitignore`` or ``.gitmodules``, if it is a regular file.

    Git reads neither through a symlink; anything else that is not a regular file
    is reported by the listing itself.
    """
    info = stats.get(name)
    if not isinstance(info, os.stat_result) or not stat.S_ISREG(info.st_mode):
        return None
    try:
        data, _ = read_file_at(fd, name, MAX_RULES_BYTES, cap=f"the limit for {name} files")
    except FileSkipped as skipped:
        listing.warn(key, f"not applied: {skipped}")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        listing.warn(key, "not valid UTF-8; patterns with undecodable bytes match nothing")
        return data.decode("utf-8-sig", errors="replace")


def _submodules(fd: int, stats: Stats, prefix: str, listing: FolderListing) -> list[str]:
    """Keys of the submodule folders a ``.gitmodules`` in this folder names."""
    text = _rules_file(fd, stats, ".gitmodules", prefix + ".gitmodules", listing)
    keys = []
    for raw in SUBMODULE_PATH.findall(text or ""):
        path = posixpath.normpath(raw.strip('"'))
        if path not in (".", "..") and not path.startswith(("/", "../")):
            keys.append(prefix + path)  # git refuses the others
    return keys


def _check_submodule(tree: FolderTree, key: str, listing: FolderListing) -> None:
    try:
        with tree.folder(key.split("/")) as fd, os.scandir(fd) as scan:
            empty = next(scan, None) is None
    except FileNotFoundError:
        state = "no folder"
    except OSError as exc:
        state = f"its folder cannot be opened: {exc.strerror}"
    else:
        state = "empty folder" if empty else ""
    if state:
        listing.warn(key, f"git submodule not checked out ({state}); its files are not indexed")


def _check_symlink(tree: FolderTree, fd: int, name: str, key: str, listing: FolderListing) -> None:
    try:
        os.stat(name, dir_fd=fd)  # follows the link, from the folder it is in
        target = os.readlink(name, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            listing.warn(key, "broken symlink; skipped")
        else:
            listing.warn(key, f"symlink cannot be followed: {exc.strerror}; skipped")
        return
    # Every folder on the way to the link is a real folder (none is ever followed),
    # so a relative target leaves the root exactly when its ``..`` climb out of it.
    if os.path.isabs(target):
        try:
            outside = not Path(os.path.realpath(target)).is_relative_to(tree.real_root)
        except OSError:  # realpath raced by a swap (EINVAL): not followed anyway
            outside = True
    else:
        outside = points_outside(key, target)
    if outside:
        listing.warn(key, "symlink points outside the folder; not followed")
