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


def normalise(relative: str) -> str:
    """``relative`` as a clean POSIX path (``./a//b`` → ``a/b``), or ``InvalidArgument``."""
    if not relative or not relative.strip():
        raise InvalidArgument("path", "must not be empty")
    if len(relative) > MAX_PATH_CHARS:
        raise InvalidArgument("path", f"must be at most {MAX_PATH_CHARS} characters")
    if "\x00" in relative or _CONTROL.search(relative):
        raise InvalidArgument("path", "must not contain NUL or other control characters")
    if "\\" in relative:
        # Windows separators and UNC names (``\\\\host\\share``); the checkouts are POSIX.
        raise InvalidArgument("path", "must use '/' as separator, not '\\'")
    if relative.startswith("/") or _DRIVE.match(relative):
        raise InvalidArgument("path", "must be relative to the checkout, not absolute")
    if relative.startswith("~"):
        raise InvalidArgument("path", "must be relative to the checkout ('~' is not expanded)")
    if unquote(relative) != relative:
        # ``%2e%2e%2f`` is harmless here but becomes ``../`` the moment any layer
        # (a URL, a client, a log viewer) decodes it. Rather than guess which of the two
        # the caller meant, refuse: a file whose name really contains ``%xx`` cannot be
        # opened, a price worth paying.
        raise InvalidArgument("path", "must not contain percent-encoded characters (%xx)")
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument("path", "must not contain '..'")
    if ".git" in parts:
        raise InvalidArgument("path", "must not point into .git")
    if not parts:
        raise InvalidArgument("path", "must name a file, not the checkout itself")
    return "/".join(parts)
