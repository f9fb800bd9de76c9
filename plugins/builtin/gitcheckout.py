"""The ``git`` connector's checkout, without the paths this server cannot write.

OpenFile and Grep read a connector's files from a checkout of the indexed commit.
Some paths of a commit cannot be written there, and ``git checkout`` stops at the
first one, after every file was indexed:

- a path longer than the system allows (``PATH_MAX``: 4,096 bytes with its NUL),
  a name longer than the file system allows (``NAME_MAX``, often 255 bytes), a
  symlink whose target is longer than ``PATH_MAX``;
- names git refuses to write (its ``verify_path``): ``.``, ``..``, ``.git`` in any
  case and its NTFS look-alikes (``git~1``, ``.git.``, ``.git::$DATA``; refused on
  every system by default), a symlink named like ``.gitmodules``. The HFS look-alikes
  (``.git`` with ignorable Unicode characters) are left out too, although git
  refuses them only where ``core.protectHFS`` is on (macOS).

So the checkout holds the commit's tree with each such path cut at its first name
that cannot be written (the folders above rewritten with ``git mktree``), and HEAD
still names the commit. The files left out are still indexed; the run warns on each.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .gitcli import TreeEntry, TreeWriter

SYMLINK_MODE = "120000"
DOT_NAMES = (b"", b".", b"..")
# Git's is_ntfs_dotgit: ".git" or "git~1", then only spaces and dots up to the end,
# an alternate data stream (":") or a backslash.
NTFS_DOTGIT = re.compile(rb"(?:\.git|git~1)[. ]*(?:[:\\].*)?", re.IGNORECASE | re.DOTALL)
NTFS_TRAILER = re.compile(rb"[. ]*(?::.*)?", re.DOTALL)
# Code points HFS+ ignores in names (git's next_hfs_char).
HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


@dataclass(frozen=True)
class Limits:
    """What the checkout's file system accepts, in bytes."""

    path_max: int = 4096  # a path given to a system call, with its terminating NUL
    name_max: int = 255

    @classmethod
    def of(cls, folder: Path) -> Limits:
        try:
            return cls(os.pathconf(folder, "PC_PATH_MAX"), os.pathconf(folder, "PC_NAME_MAX"))
        except (OSError, ValueError):
            return cls()


@dataclass(frozen=True)
class LeftOut:
    """A path cut from the checkout (a file, or the folder above it), and why."""

    cut: bytes
    reason: str


def left_out(entry: TreeEntry, limits: Limits) -> LeftOut | None:
    """Where and why ``entry`` cannot be written in the checkout; None if it can.

    Git writes with paths relative to the checkout, so the checkout's own path does not count.
    """
    names = entry.path.split(b"/")
    length = -1
    for depth, name in enumerate(names, start=1):
        length += 1 + len(name)
        if refused_name(name, symlink=depth == len(names) and entry.mode == SYMLINK_MODE):
            reason = f"its path holds {_shown(name)!r}, a name git refuses to check out"
        elif len(name) > limits.name_max:
            reason = (
                f"a name on its path is {len(name):,} bytes, "
                f"longer than this file system allows ({limits.name_max:,})"
            )
        elif length >= limits.path_max:
            reason = (
                f"its path is {len(entry.path):,} bytes, "
                f"longer than this system allows ({limits.path_max - 1:,})"
            )
        else:
            continue
        return LeftOut(b"/".join(names[:depth]), reason)
    if entry.mode == SYMLINK_MODE and entry.size >= limits.path_max:
        return LeftOut(entry.path, symlink_too_long(entry.size, limits))
    return None


def symlink_too_long(size: int, limits: Limits) -> str:
    allowed = limits.path_max - 1
    return f"symlink target of {size:,} bytes, longer than this system allows ({allowed:,})"


def dot_name(path: bytes) -> str | None:
    """The first ``.``, ``..`` or empty name in ``path``, which git never takes; else None."""
    return next((_shown(n) for n in path.split(b"/") if n in DOT_NAMES), None)


def refused_name(name: bytes, symlink: bool = False) -> bool:
    """True if git refuses to check out ``name`` (its ``verify_path``, protectNTFS on),
    or it is an HFS look-alike of ``.git``; for a symlink, also a look-alike of ``.gitmodules``.
    """
    if name in DOT_NAMES:
        return True
    if name[:1] not in (b".", b"g", b"G", b"~") and name[0] < 0x80:
        return False  # fast path: every look-alike starts so (or with an ignored code point)
    if NTFS_DOTGIT.fullmatch(name) or _hfs_is(name, b".git"):
        return True
    return symlink and (
        _ntfs_is_dot(name, b"gitmodules", b"gi7eba") or _hfs_is(name, b".gitmodules")
    )


def _ntfs_is_dot(name: bytes, dotless: bytes, short_prefix: bytes) -> bool:
    """Git's is_ntfs_dot_generic: ``.<dotless>``, or an 8.3 short name of it, then only
    spaces and dots up to the end or an alternate data stream."""
    lower = name.lower()  # ASCII only, as git's strncasecmp
    if lower.startswith(b"." + dotless):
        rest = name[1 + len(dotless) :]
    elif lower[:6] == dotless[:6] and lower[6:7] == b"~" and b"1" <= lower[7:8] <= b"4":
        rest = name[8:]
    else:  # a fall-back short name: a prefix of ``short_prefix``, "~", digits, 8 bytes in all
        tilde = lower.find(b"~", 0, 7)
        digits = lower[tilde + 1 : 8]
        if tilde < 0 or lower[:tilde] != short_prefix[:tilde] or len(lower) < 8:
            return False
        if not digits.isdigit() or digits.startswith(b"0"):
            return False
        rest = name[8:]
    return NTFS_TRAILER.fullmatch(rest) is not None


def _hfs_is(name: bytes, needle: bytes) -> bool:
    """Git's is_hfs_dot_generic: ``name`` is ``needle`` once ignored code points are dropped."""
    text = HFS_IGNORED.sub("", name.decode("utf-8", "surrogateescape"))
    return text.encode("utf-8", "surrogateescape").lower() == needle


def _shown(name: bytes) -> str:
    return name.decode("utf-8", "replace")


def pruned_tree(listing: list[TreeEntry], cuts: set[bytes], writer: TreeWriter) -> str:
    """The root tree of ``listing`` (a whole commit) without the paths in ``cuts``.

    Only the folders above a cut are rewritten, the deepest first.
    """
    rewritten = {b""}
    for cut in cuts:
        folder = cut
        while folder:
            folder = folder.rpartition(b"/")[0]
            rewritten.add(folder)
    held: dict[bytes, list[TreeEntry]] = {folder: [] for folder in rewritten}
    for entry in listing:
        parent = entry.path.rpartition(b"/")[0]
        if parent in held and entry.path not in cuts:
            held[parent].append(entry)
    new_ids: dict[bytes, str] = {}
    for folder in sorted(rewritten, key=lambda f: f.count(b"/") + bool(f), reverse=True):
        entries = [replace(e, sha=new_ids.get(e.path, e.sha)) for e in held[folder]]
        new_ids[folder] = writer.write(entries)
    return new_ids[b""]
