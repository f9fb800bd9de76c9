"""What the file connectors (``local``, ``git``) take, and how bytes become text.

Shared rules, for both connectors:

- ``exclude`` patterns are ``.gitignore`` lines (gitwildmatch, ``!`` re-includes);
  ``include`` patterns, when given, are the same syntax and a file must match one.
  Both are matched against the document key as git matches them
  (``projectqa.server.path_patterns``: ``*`` and ``**`` match a newline in a name
  too). ``.git`` is always skipped.
- Files over ``max_file_bytes`` (default 1 MiB) are skipped with a warning.
- Binary files (a NUL byte in the first 8 KiB) are skipped *quietly*: repositories
  hold many images and archives, and a warning for each would bury the ones that
  matter. Files that are not UTF-8 are decoded with replacement characters when
  at most a tenth of them is undecodable, and otherwise skipped with a warning.
- A file that cannot be read (any OS error) is skipped with a warning; it never stops a run.
- Invalid ``exclude``/``include`` patterns are refused when a connector is saved
  (:func:`check_patterns`, the types' ``validate_config``); one saved before stops
  the run with a ``SourceError`` naming it.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pathspec import GitIgnoreSpec

from projectqa.server.path_patterns import path_spec
from projectqa.server.registry import ConfigProblem
from projectqa.server.sources import DocumentKind, SourceDocument, SourceError

DEFAULT_MAX_FILE_BYTES = 1 << 20
# O_NONBLOCK: opening a FIFO for reading must not wait for a writer. O_NOCTTY: a
# terminal put in a file's place must not become the server's controlling terminal.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
SNIFF_BYTES = 8192
MAX_UNDECODABLE_FRACTION = 0.1

CONFIG_PROPERTIES: dict[str, Any] = {
    "exclude": {
        "type": "array",
        "items": {"type": "string"},
        "description": ".gitignore-style patterns of paths to leave out.",
    },
    "include": {
        "type": "array",
        "items": {"type": "string"},
        "description": "If given, only paths matching one of these .gitignore-style patterns.",
    },
    "max_file_bytes": {
        "type": "integer",
        "minimum": 1,
        "description": f"Larger files are skipped (default {DEFAULT_MAX_FILE_BYTES}).",
    },
}


class FileSkipped(Exception):
    """A file is not indexed; the message says why. ``quiet`` skips are not reported."""

    def __init__(self, message: str, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


@dataclass(frozen=True)
class FileRules:
    """Which paths a file connector takes, from its config."""

    exclude: GitIgnoreSpec
    include: GitIgnoreSpec | None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FileRules:
        include = config.get("include")
        return cls(
            exclude=_config_patterns("exclude", config.get("exclude") or []),
            include=_config_patterns("include", include) if include else None,
            max_file_bytes=int(config.get("max_file_bytes") or DEFAULT_MAX_FILE_BYTES),
        )

    def excludes(self, key: str, is_dir: bool = False) -> bool:
        """True if ``key`` (a folder when ``is_dir``) is left out by ``.git`` or ``exclude``."""
        if ".git" in key.split("/"):
            return True
        return self.exclude.match_file(key + "/" if is_dir else key)

    def takes(self, key: str) -> bool:
        """True if the file ``key`` passes both ``exclude`` and ``include``."""
        if self.excludes(key):
            return False
        return self.include is None or self.include.match_file(key)

    def check_size(self, size: int) -> None:
        check_size(size, self.max_file_bytes)


def compile_patterns(lines: list[str]) -> tuple[GitIgnoreSpec, list[int]]:
    """``.gitignore`` lines as a spec, and the indexes of the lines left out as invalid.

    Git skips a pattern it cannot use (a lone ``!``, a reversed range ``[z-a]``);
    pathspec would raise for the whole file instead.
    """
    try:
        return path_spec(lines), []
    except (ValueError, re.error):
        pass
    bad = [index for index, line in enumerate(lines) if not _valid_pattern(line)]
    kept = [line for index, line in enumerate(lines) if index not in bad]
    return path_spec(kept), bad


def _valid_pattern(line: str) -> bool:
    try:
        path_spec([line])
    except (ValueError, re.error):
        return False
    return True


def check_patterns(config: dict[str, Any]) -> None:
    """Raise ``ConfigProblem`` naming the first invalid ``exclude``/``include`` pattern."""
    for field in ("exclude", "include"):
        lines = config.get(field) or []
        _, bad = compile_patterns(lines)
        if bad:
            message = f"{lines[bad[0]]!r} is not a valid .gitignore pattern"
            raise ConfigProblem(f"{field}[{bad[0]}]", message)


def _config_patterns(field: str, lines: list[str]) -> GitIgnoreSpec:
    spec, bad = compile_patterns(lines)
    if bad:
        raise SourceError(f"{field} pattern {lines[bad[0]]!r} is not a valid .gitignore pattern")
    return spec


def decode_text(data: bytes) -> str:
    """The text of a file, or ``FileSkipped`` if it is binary or mostly undecodable."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FileSkipped("not valid UTF-16 text") from None
    if b"\0" in data[:SNIFF_BYTES]:
        raise FileSkipped("binary file", quiet=True)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="replace")
    if text.count("\ufffd") > MAX_UNDECODABLE_FRACTION * max(len(text), 1):
        raise FileSkipped("not UTF-8 text")
    return text


def read_file_at(
    dir_fd: int, name: str, max_bytes: int, cap: str = "max_file_bytes"
) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``name`` in the folder ``dir_fd``, at most ``max_bytes``.

    Opened relative to the folder's descriptor (so the path may be of any length),
    never through a symlink and never blocking: a FIFO or device put in the file's
    place is opened with ``O_NONBLOCK`` and refused by ``fstat`` before any read.
    Every OS error becomes :class:`FileSkipped` naming its cause.
    """
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise FileSkipped(_open_failure(exc)) from None
    try:
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                kind = file_kind(info.st_mode)
                raise FileSkipped(f"became a {kind} since it was listed; not read")
            check_size(info.st_size, max_bytes, cap)
            data = handle.read(max_bytes + 1)
    except OSError as exc:  # EIO, or a file truncated under a network filesystem
        raise FileSkipped(f"cannot read: {exc.strerror}") from None
    check_size(len(data), max_bytes, cap)
    return data, info


def check_size(size: int, max_bytes: int, cap: str = "max_file_bytes") -> None:
    if size > max_bytes:
        raise FileSkipped(f"{size} bytes, larger than {cap} ({max_bytes})")


def _open_failure(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOENT:
        return "gone since it was listed"
    if exc.errno == errno.ELOOP:
        return "replaced by a symlink since it was listed; not followed"
    return f"cannot open: {exc.strerror}"


def file_kind(mode: int) -> str:
    """What a directory entry that is not a regular file is, for warnings."""
    kinds = {
        stat.S_IFIFO: "named pipe (FIFO)",
        stat.S_IFSOCK: "socket",
        stat.S_IFCHR: "character device",
        stat.S_IFBLK: "block device",
        stat.S_IFDIR: "folder",
        stat.S_IFLNK: "symlink",
    }
    return kinds.get(stat.S_IFMT(mode), "special file")


def points_outside(link_key: str, target: str) -> bool:
    """True if a repository symlink at ``link_key`` with ``target`` leaves the repository."""
    if posixpath.isabs(target):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_key), target))
    return resolved == ".." or resolved.startswith("../")


def file_document(
    key: str,
    text: str,
    *,
    size: int,
    version: str,
    url: str = "",
    extra: Iterable[tuple[str, Any]] = (),
) -> SourceDocument:
    """The document for one file; ``version`` is a content sha1 or a git blob sha.

    No language in the metadata: the pipeline derives it from the path.
    """
    metadata: dict[str, Any] = {"size": size, **dict(extra)}
    return SourceDocument(
        key=key,
        kind=DocumentKind.FILE,
        text=text,
        title=posixpath.basename(key),
        path=key,
        url=url,
        version=version,
        metadata=metadata,
    )


def content_sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()
