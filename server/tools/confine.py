"""Keeping tool paths inside a checkout.

Paths come from users and, more often, from an LLM that read them somewhere; they
are checked twice: as text (``normalise``: a plain relative POSIX path, nothing a
later layer could reinterpret) and on disk, as they are opened (``beneath``: name by
name below the checkout's root, by descriptor, so a symlink swapped in meanwhile
cannot lead out).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from ..errors import InvalidArgument

MAX_PATH_CHARS = 4096
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise(relative: str, field: str = "path", noun: str = "file") -> str:
    """``relative`` as a clean POSIX path (``./a//b`` → ``a/b``), or ``InvalidArgument``
    naming ``field``; ``noun`` is what the path must name (a file, a folder)."""
    if not relative or not relative.strip():
        raise InvalidArgument(field, "must not be empty")
    if len(relative) > MAX_PATH_CHARS:
        raise InvalidArgument(field, f"must be at most {MAX_PATH_CHARS} characters")
    if "\x00" in relative or _CONTROL.search(relative):
        raise InvalidArgument(field, "must not contain NUL or other control characters")
    if "\\" in relative:
        # Windows separators and UNC names (``\\\\host\\share``); the checkouts are POSIX.
        raise InvalidArgument(field, "must use '/' as separator, not '\\'")
    if relative.startswith("/") or _DRIVE.match(relative):
        raise InvalidArgument(field, "must be relative to the checkout, not absolute")
    if relative.startswith("~"):
        raise InvalidArgument(field, "must be relative to the checkout ('~' is not expanded)")
    if unquote(relative) != relative:
        # ``%2e%2e%2f`` is harmless here but becomes ``../`` the moment any layer
        # (a URL, a client, a log viewer) decodes it. Rather than guess which of the two
        # the caller meant, refuse: a file whose name really contains ``%xx`` cannot be
        # opened, a price worth paying.
        raise InvalidArgument(field, "must not contain percent-encoded characters (%xx)")
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(field, "must not contain '..'")
    if ".git" in parts:
        raise InvalidArgument(field, "must not point into .git")
    if not parts:
        raise InvalidArgument(field, f"must name a {noun}, not the checkout itself")
    return "/".join(parts)
