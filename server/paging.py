"""Opaque page tokens over keyset pagination.

A token is base64url JSON naming the list it belongs to and the last sort key
served. Tokens are not secrets (the caller's access is checked on every page);
the list name stops a token of one list being replayed on another.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from .errors import InvalidArgument
from .models import PageRequest

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


STORE_PAGE = 500  # records per Store call when reading a whole listing


def every_page(
    fetch: Callable[[PageRequest], list[T]], key: Callable[[T], str], size: int = STORE_PAGE
) -> Iterator[T]:
    """Every item of a keyset-paged Store listing, one Store call per ``size`` items."""
    after = None
    while True:
        items = fetch(PageRequest(limit=size, after=after))
        yield from items
        if len(items) < size:
            return
        after = key(items[-1])


def page_request(
    listing: str,
    page_size: int,
    page_token: str,
    *,
    default_size: int = DEFAULT_PAGE_SIZE,
    max_size: int = MAX_PAGE_SIZE,
) -> PageRequest:
    """Validate ``page_size``/``page_token``; ask the store for one extra item to detect more.

    A listing with pages of its own size passes ``default_size``/``max_size``."""
    if page_size < 0 or page_size > max_size:
        raise InvalidArgument("page_size", f"must be between 0 and {max_size} (got {page_size})")
    size = page_size or default_size
    return PageRequest(limit=size + 1, after=_decode(listing, page_token) if page_token else None)


def page_of(
    listing: str, items: Sequence[T], request: PageRequest, key: Callable[[T], str]
) -> tuple[list[T], str]:
    """Cut the extra item off; return the page and the token of the next one ("" at the end)."""
    size = request.limit - 1
    if len(items) <= size:
        return list(items), ""
    page = list(items[:size])
    return page, _encode(listing, key(page[-1]))


def _encode(listing: str, after: str) -> str:
    raw = json.dumps({"l": listing, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(listing: str, token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidArgument(
            "page_token", "is malformed; pass a next_page_token unchanged"
        ) from None
    if not isinstance(data, dict) or not _is_text(data.get("a")):
        raise InvalidArgument("page_token", "is malformed; pass a next_page_token unchanged")
    if data.get("l") != listing:
        raise InvalidArgument("page_token", "belongs to a different list or query")
    return data["a"]


def page_sorted(
    listing: str, items: Sequence[T], key: Callable[[T], str], page_size: int, page_token: str
) -> tuple[list[T], str]:
    """Page through an in-memory list already sorted by ``key``."""
    request = page_request(listing, page_size, page_token)
    rest = [item for item in items if request.after is None or key(item) > request.after]
    return page_of(listing, rest[: request.limit], request, key)


def _is_text(value: object) -> bool:
    """A str that is valid Unicode (JSON can smuggle in lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
