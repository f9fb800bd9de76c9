"""The server's data directory is no connector's to read.

It holds the global-admin token, the Store (SQLite), the indexes, the private clones of
git connectors and the logs. Whoever configures a connector, no folder it reads may be
the data directory, contain it or lie inside it. (A connector's own private clone,
``sources/<connector id>``, is the server's doing, not a configured folder, and is not
judged here.)

A path can hide an overlap three ways, and each is looked at:

- symlinks: both paths are compared as real paths;
- a bind mount of the same folder under a second name: by ``(st_dev, st_ino)`` along
  both paths (the root, or an ancestor of it, is the data directory; or the root is the
  data directory or one of its ancestors);
- a mount *below* either path (the data directory bind-mounted inside a root): on Linux,
  by ``/proc/self/mountinfo``, which says for each mount which folder of which filesystem
  it shows; two paths overlap when they show one filesystem and one folder lies within
  the other.

A path is only ever judged before it is used; what is read is judged again as a
descriptor (``open_folder``): the folder is opened once, down its real path from ``/``
with ``O_NOFOLLOW`` on every name, and the open descriptor is judged by climbing ``..``
from it, comparing each folder's ``(st_dev, st_ino)`` with the data directory's and with
the ``PROJECTQA_LOCAL_ROOTS`` roots'. A folder swapped for a symlink between a check and
the open is then either not opened at all or judged for what it is. Whoever reads it
then reads from that descriptor, and below it checks identities as it opens
(``Protected``): never the data directory or an entry directly in it, whatever name
leads there.

``PROJECTQA_LOCAL_ROOTS`` at run time: a folder whose path, as written, lies under a
root must be inside that root when it is opened (for any connector: the record does
not say who saved it, and a global admin who writes a path under a root means it to be
there); project admins may only write such paths (``LocalPathPolicy``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from types import TracebackType

Identity = tuple[int, int]  # (st_dev, st_ino)

IS, CONTAINS, LIES_INSIDE = "is", "contains", "lies inside"
# Why a name below a folder read is not opened: it is the data directory or in it.
INTO_DATA_DIR = "leads into the server's data directory"
# O_PATH: a folder on the way needs only search permission, as for the kernel.
WALK_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # to list it
MAX_CLIMB = 4096  # folders climbed from an open one to ``/`` (PATH_MAX / 1, nested "a/")
MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


class FolderRefused(Exception):
    """A server folder that may not be read; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Protected:
    """What must not be opened below a folder a connector or tool reads, as it is now."""

    inside: frozenset[Identity]  # the data directory and its direct entries: never opened

    def forbids(self, entry: Identity) -> bool:
        """Whether a folder or file met below a root is of the data directory."""
        return entry in self.inside


@dataclass(frozen=True, slots=True)
class DataDirGuard:
    data_dir: Path
    # PROJECTQA_LOCAL_ROOTS, as configured: a path written under one stays inside it.
    local_roots: tuple[Path, ...] = ()

    def overlap(self, path: Path) -> str:
        """How ``path`` overlaps the data directory: "is", "contains", "lies inside", or "".
        Raises ``OSError`` if ``path`` cannot be resolved (a symlink swapped meanwhile)."""
        data, target = _real(self.data_dir), _real(path)
        return (
            _relation(target, data)
            or _by_identity(target, data)
            or _by_mounts(PurePosixPath(target), PurePosixPath(data))
        )

    def refusal(self, paths: Iterable[str]) -> str:
        """Why a connector reading ``paths`` may not run ("" if it may)."""
        for raw in paths:
            try:
                relation = self.overlap(Path(raw))
            except OSError as error:
                return f"{raw!r} cannot be resolved: {error.strerror or error}"
            if relation:
                return _data_dir_refusal(raw, relation)
        return ""

    def sources_folder(self, connector_id: str) -> Path:
        """A connector's private work folder (its clone lives there): the one place in
        the data directory it may read."""
        return self.data_dir / "sources" / connector_id

    def judge(
        self, fd: int, real: PurePosixPath, written: str | PurePath, own: Path | None = None
    ) -> str:
        """Why the open folder ``fd`` (opened down ``real``; configured as ``written``)
        may not be read ("" if it may). Judged from the descriptor: climbing ``..`` from
        it, no folder may be the data directory, and it may not be one of the data
        directory's ancestors; unless it is, or lies inside, ``own`` (the connector's
        private work folder). A path written under a local root must be inside it."""
        climbed = _climb(fd)
        if own is not None and _identity(Path(own)) in climbed:
            return ""
        data = _real(self.data_dir)
        data_id = _identity(data)
        relation = ""
        if climbed[0] in _identities([data, *data.parents]):
            relation = IS if climbed[0] == data_id else CONTAINS
        elif data_id is not None and data_id in climbed:
            relation = LIES_INSIDE
        else:
            relation = _by_mounts(real, PurePosixPath(data))
        if relation:
            return _data_dir_refusal(str(written), relation)
        roots = roots_over(written, self.local_roots)
        if roots and not _identities(roots) & set(climbed):
            shown = ", ".join(map(str, roots))
            return f"{str(written)!r} is no longer inside PROJECTQA_LOCAL_ROOTS ({shown})"
        return ""

    def admit(
        self, fd: int, real: PurePosixPath, written: str | PurePath, own: Path | None = None
    ) -> Protected:
        """Judge the open folder ``fd`` (``judge``), then take what nothing below it may
        be (``protected``). Raises ``FolderRefused``, or ``OSError`` if it cannot be
        judged (a folder above unsearchable, mountinfo or the data directory unreadable)."""
        refusal = self.judge(fd, real, written, own)
        if refusal:
            raise FolderRefused(refusal)
        return self.protected()

    def protected(self) -> Protected:
        """The identities tools must not open, taken now (the token file is rewritten,
        SQLite journals come and go). Raises ``OSError`` if the data directory cannot be
        listed for any reason but not existing yet: protecting the folder alone would
        leave its files (admin.token) open, so the caller refuses to read."""
        data = _real(self.data_dir)
        inside = _identities([data])
        try:
            with os.scandir(data) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed since listed (a SQLite journal)
                    inside.add((info.st_dev, info.st_ino))
        except FileNotFoundError:
            pass  # not created yet: nothing in it to protect
        return Protected(frozenset(inside))


def roots_over(written: str | PurePath, roots: Iterable[Path]) -> list[Path]:
    """The ``PROJECTQA_LOCAL_ROOTS`` roots ``written`` lies under as written, by either
    the root's configured or its real path: by its names alone, no symlink followed and
    no ``..`` folded (``/root/../x`` is under ``/root``, and must then resolve inside)."""
    path = PurePosixPath(written)
    over = []
    for root in roots:
        forms = {PurePosixPath(os.path.normpath(root))}
        with contextlib.suppress(OSError):  # realpath raced by a swap
            forms.add(PurePosixPath(os.path.realpath(root)))
        if any(path.is_relative_to(form) for form in forms):
            over.append(root)
    return over


def within_roots(path: str | PurePath, roots: Iterable[Path]) -> bool:
    """Whether ``path``'s real path lies in the real path of one of ``roots``.
    Raises ``OSError`` if a path cannot be resolved."""
    real = _real(Path(path))
    return any(real.is_relative_to(_real(root)) for root in roots)


class OpenFolder:
    """A server folder, opened once by descriptor and judged (``open_folder``). Read
    below it through ``fd`` (``/proc/self/fd/<fd>`` for a child given it), never by a
    path. Close it (or use ``with``)."""

    def __init__(self, fd: int, real: PurePosixPath, protected: Protected | None) -> None:
        self.fd = fd
        self.real = real  # the real path it was opened by (it may be renamed since)
        self.protected = protected  # what nothing below it may be

    def __enter__(self) -> OpenFolder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def proc_path(self) -> str:
        """The folder for a child process that inherits ``fd`` (``pass_fds``)."""
        return f"/proc/self/fd/{self.fd}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_folder(
    path: str | PurePath, guard: DataDirGuard | None, *, own: Path | None = None
) -> OpenFolder:
    """Open the folder ``path`` names, once, and judge the descriptor (``judge``).

    Its real path is walked from ``/`` name by name with ``O_NOFOLLOW``, so a symlink
    swapped into it since it was resolved makes the open fail. Raises ``FolderRefused``
    (the data directory, outside its local root), or ``OSError`` if it cannot be opened
    (gone, not a folder, a symlink swapped in, permission)."""
    real = PurePosixPath(os.path.realpath(path))  # OSError (EINVAL) under a swap
    fd = open_real_folder(real)
    try:
        protected = guard.admit(fd, real, path, own) if guard is not None else None
        return OpenFolder(fd, real, protected)
    except BaseException:
        os.close(fd)
        raise


def open_real_folder(real: PurePosixPath, final: int = FOLDER_FLAGS) -> int:
    """Open the folder at the real path ``real`` name by name from ``/``, following no
    symlink (``final``: the flags of the last name)."""
    names = real.parts[1:]
    fd = os.open("/", WALK_FLAGS if names else final)
    try:
        for position, name in enumerate(names, start=1):
            below = os.open(name, final if position == len(names) else WALK_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = below
    except BaseException:
        os.close(fd)
        raise
    return fd


def _climb(fd: int) -> list[Identity]:
    """The identities of the folder ``fd`` and of every folder above it, up to ``/``
    (whose ``..`` is itself), as the kernel's ``..`` finds them now."""
    found: list[Identity] = []
    here = os.open(".", WALK_FLAGS & ~os.O_NOFOLLOW, dir_fd=fd)
    try:
        while len(found) < MAX_CLIMB:
            info = os.fstat(here)
            if found and found[-1] == (info.st_dev, info.st_ino):
                break
            found.append((info.st_dev, info.st_ino))
            above = os.open("..", WALK_FLAGS & ~os.O_NOFOLLOW, dir_fd=here)
            os.close(here)
            here = above
    finally:
        os.close(here)
    return found


def _data_dir_refusal(raw: str, relation: str) -> str:
    return f"connectors may not read the server's data directory: {raw!r} {relation} it"


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _relation(target: PurePath, data: PurePath) -> str:
    if target == data:
        return IS
    if data.is_relative_to(target):
        return CONTAINS
    if target.is_relative_to(data):
        return LIES_INSIDE
    return ""


def _identity(path: Path) -> Identity | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _identities(paths: Iterable[Path]) -> set[Identity]:
    return {found for found in map(_identity, paths) if found is not None}


def _by_identity(target: Path, data: Path) -> str:
    """The same folders under other names (bind mounts), along both paths' ancestors."""
    data_id, target_id = _identity(data), _identity(target)
    if data_id is not None and data_id in _identities([target, *target.parents]):
        return IS if target_id == data_id else LIES_INSIDE
    if target_id is not None and target_id in _identities(data.parents):
        return CONTAINS
    return ""


@dataclass(frozen=True, slots=True)
class _Mount:
    device: str  # major:minor of the filesystem
    root: PurePosixPath  # the folder of that filesystem the mount shows
    point: PurePosixPath  # where it shows it


def _by_mounts(target: PurePosixPath, data: PurePosixPath) -> str:
    """How ``target`` and ``data`` overlap through what the mounts show. The mount table is
    read every time (mounts change); judging it is done once per table, path and data
    directory, since every open of a checkout asks the same question again."""
    return _mount_relation(target, data, _mountinfo())


@functools.lru_cache(maxsize=256)
def _mount_relation(target: PurePosixPath, data: PurePosixPath, mountinfo: str) -> str:
    mounts = _parsed_mounts(mountinfo)
    data_shown = [shows for shows, _ in _shown(data, mounts)]
    for target_shows, target_below in _shown(target, mounts):
        for data_shows in data_shown:
            if target_shows[0] != data_shows[0]:
                continue
            relation = _relation(target_shows[1], data_shows[1])
            if relation:
                # A mount below the root that shows any of the data directory: it holds it.
                return CONTAINS if target_below else relation
    return ""


def _shown(
    path: PurePosixPath, mounts: list[_Mount]
) -> list[tuple[tuple[str, PurePosixPath], bool]]:
    """What ``path`` shows, as (device, folder of that filesystem), and what every mount
    below it shows; each flagged whether it is a mount below ``path``."""
    best: _Mount | None = None
    for mount in mounts:  # the deepest mount point holding ``path``; the later of equals
        if path.is_relative_to(mount.point) and (
            best is None or len(mount.point.parts) >= len(best.point.parts)
        ):
            best = mount
    if best is None:
        return []
    shown = [((best.device, best.root / path.relative_to(best.point)), False)]
    below = (m for m in mounts if m.point != path and m.point.is_relative_to(path))
    return shown + [((m.device, m.root), True) for m in below]


def _mountinfo() -> str:
    """This process's mount table ("" where there is no ``/proc/self/mountinfo``). Raises
    ``OSError`` if it exists but cannot be read (out of descriptors, say): judging
    without it would miss the data directory bind-mounted below a root."""
    try:
        return MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return ""


def _parsed_mounts(mountinfo: str) -> list[_Mount]:
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            root, point = (PurePosixPath(_unescape(field)) for field in fields[3:5])
            mounts.append(_Mount(fields[2], root, point))
    return mounts


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return _OCTAL.sub(lambda found: chr(int(found[1], 8)), field)
