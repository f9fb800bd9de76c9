"""Field checks shared by the admin operations. Each raises ``InvalidArgument`` naming the field."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import InvalidArgument

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
FLAG_KEY = re.compile(r"[a-z][a-z0-9._-]{0,63}")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
MAX_NAME = 128
MAX_DESCRIPTION = 4096


def require_text(field: str, value: str, max_len: int = MAX_NAME) -> str:
    """A non-blank, single-line string of at most ``max_len`` characters, trimmed."""
    value = value.strip()
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidArgument(field, f"must be at most {max_len} characters (got {len(value)})")
    if any(ch in value for ch in "\r\n\t\x00"):
        raise InvalidArgument(field, "must be a single line without control characters")
    return value


def optional_text(field: str, value: str, max_len: int) -> str:
    if len(value) > max_len:
        raise InvalidArgument(field, f"must be at most {max_len} characters (got {len(value)})")
    if "\x00" in value:
        raise InvalidArgument(field, "must not contain NUL characters")
    return value


def require_match(field: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if not pattern.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidArgument(field, f"{shown!r} is not valid: {rule}")
    return value


def require_slug(field: str, value: str) -> str:
    return require_match(
        field,
        value,
        SLUG,
        "use 1-63 lowercase letters, digits or dashes, starting with a letter or digit",
    )


def require_user_name(field: str, value: str) -> str:
    require_match(
        field,
        value,
        USER_NAME,
        "use 1-128 letters, digits or . _ @ -, starting with a letter or digit",
    )
    if value.startswith("usr_"):
        raise InvalidArgument(field, "must not start with 'usr_' (reserved for user ids)")
    return value


def require_flag_key(field: str, value: str) -> str:
    return require_match(
        field,
        value,
        FLAG_KEY,
        "use 1-64 lowercase letters, digits or . _ -, starting with a letter",
    )


def optional_url(field: str, value: str) -> str:
    """An http(s) URL with a host, a valid port and no credentials in it."""
    if not value:
        return ""
    if _SPACE_OR_CONTROL.search(value):
        # urlsplit drops tabs and newlines silently and keeps spaces in the host
        raise InvalidArgument(field, "must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port is None or parts.port > 0)
    except ValueError:  # an unbalanced "[" in the host, a port out of range
        valid = False
    if not valid:
        raise InvalidArgument(field, "is not an http(s) URL with a host and a valid port")
    if parts.username or parts.password:
        raise InvalidArgument(field, "must not contain credentials; use the api_key field")
    return value


def require_range(field: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidArgument(field, f"must be between {low:g} and {high:g} (got {value:g})")


MAX_GLOBS = 50
MAX_GLOB_CHARS = 500


def require_globs(field: str, globs: tuple[str, ...] | list[str]) -> None:
    """At most MAX_GLOBS path globs, each 1-MAX_GLOB_CHARS characters on one line."""
    if len(globs) > MAX_GLOBS:
        raise InvalidArgument(field, f"at most {MAX_GLOBS} globs")
    for glob in globs:
        if not 1 <= len(glob) <= MAX_GLOB_CHARS or re.search(r"[\x00\r\n]", glob):
            raise InvalidArgument(
                field, f"each glob must be 1-{MAX_GLOB_CHARS} characters on one line"
            )
