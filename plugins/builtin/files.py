"""What the file connectors (``local``, ``git``) take, and how bytes become text.

Shared rules, for both connectors:

- ``exclude`` patterns are ``.gitignore`` lines (gitwildmatch, ``!`` re-includes);
  ``include`` patterns, when given, are the same syntax and a file must match one.
  Both are matched against the document key. ``.git`` is always skipped.
- Files over ``max_file_bytes`` (default 1 MiB) are skipped with a warning.
- Binary files (a NUL byte in the first 8 KiB) are skipped *quietly*: repositories
  hold many images and archives, and a warning for each would bury the ones that
  matter. Files that are not UTF-8 are decoded with replacement characters when
  at most a tenth of them is undecodable, and otherwise skipped with a warning.
- A file that cannot be read is skipped with a warning; it never stops a run.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathspec import GitIgnoreSpec

from projectqa.server.sources import DocumentKind, SourceDocument

DEFAULT_MAX_FILE_BYTES = 1 << 20
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
            exclude=GitIgnoreSpec.from_lines(config.get("exclude") or []),
            include=GitIgnoreSpec.from_lines(include) if include else None,
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
        if size > self.max_file_bytes:
            raise FileSkipped(f"{size} bytes, larger than max_file_bytes ({self.max_file_bytes})")


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


def read_local_file(path: Path, rules: FileRules) -> tuple[bytes, os.stat_result]:
    """Read a regular file without following a symlink, within the size cap."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise FileSkipped("permission denied") from None
    except OSError as exc:  # ELOOP: replaced by a symlink since it was listed
        raise FileSkipped(f"cannot open: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileSkipped("not a regular file", quiet=True)
        rules.check_size(info.st_size)
        try:
            data = handle.read(rules.max_file_bytes + 1)
        except OSError as exc:
            raise FileSkipped(f"cannot read: {exc.strerror}") from None
    rules.check_size(len(data))
    return data, info


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
