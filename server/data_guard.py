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

Tools check identities too, as they open files (``Protected``): below a checkout they
never open the data directory or an entry directly in it, whatever name leads there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

Identity = tuple[int, int]  # (st_dev, st_ino)

IS, CONTAINS, LIES_INSIDE = "is", "contains", "lies inside"
MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Protected:
    """What tools must not open below a checkout root, as it is now."""

    around: frozenset[Identity]  # the data directory and its ancestors: no root may be one
    inside: frozenset[Identity]  # the data directory and its direct entries: never opened

    def refuses_root(self, root: Identity) -> bool:
        """Whether a checkout root with this identity is, holds, or is a folder directly
        in the data directory (a private clone lies deeper: ``sources/<id>/checkout``)."""
        return root in self.around or root in self.inside

    def forbids(self, entry: Identity) -> bool:
        """Whether a folder or file met below a checkout root is of the data directory."""
        return entry in self.inside


@dataclass(frozen=True, slots=True)
class DataDirGuard:
    data_dir: Path

    def overlap(self, path: Path) -> str:
        """How ``path`` overlaps the data directory: "is", "contains", "lies inside", or ""."""
        data, target = _real(self.data_dir), _real(path)
        return (
            _relation(target, data)
            or _by_identity(target, data)
            or _by_mounts(PurePosixPath(target), PurePosixPath(data))
        )

    def refusal(self, paths: Iterable[str]) -> str:
        """Why a connector reading ``paths`` may not run ("" if it may)."""
        for raw in paths:
            relation = self.overlap(Path(raw))
            if relation:
                return f"connectors may not read the server's data directory: {raw!r} {relation} it"
        return ""

    def protected(self) -> Protected:
        """The identities tools must not open, taken now (the token file is rewritten,
        SQLite journals come and go)."""
        data = _real(self.data_dir)
        inside = _identities([data])
        try:
            with os.scandir(data) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    inside.add((info.st_dev, info.st_ino))
        except OSError:
            pass  # not created yet: nothing in it to protect
        return Protected(frozenset(_identities([data, *data.parents])), frozenset(inside))


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
    mounts = _mounts()
    for target_shows, target_below in _shown(target, mounts):
        for data_shows, _ in _shown(data, mounts):
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


def _mounts() -> list[_Mount]:
    """This process's mounts (none where there is no ``/proc/self/mountinfo``)."""
    try:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            root, point = (PurePosixPath(_unescape(field)) for field in fields[3:5])
            mounts.append(_Mount(fields[2], root, point))
    return mounts


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return _OCTAL.sub(lambda found: chr(int(found[1], 8)), field)
