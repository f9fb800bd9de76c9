"""Keyset paging of a project's indexed files, shared by both Store backends.

Files sort by (path, connector id): a path may be in two connectors, so the path alone
is no key. The keyset key joins the two with NUL, which no path holds. A folder prefix
becomes a range of paths (``src/`` ≤ path < ``src0``), so both backends read it from
their (project, kind, path, connector) index instead of filtering every file.
"""

from __future__ import annotations

from ..models import Document

FILE_KIND = "file"
_SEPARATOR = "\x00"


def file_key(document: Document) -> str:
    """The keyset key of an indexed file (what ``PageRequest.after`` holds)."""
    return f"{document.path}{_SEPARATOR}{document.connector_id}"


def split_file_key(after: str) -> tuple[str, str]:
    """(path, connector id) of a key made by :func:`file_key`."""
    path, _, connector_id = after.partition(_SEPARATOR)
    return path, connector_id


def folder_range(prefix: str) -> tuple[str, str] | None:
    """The paths under folder ``prefix`` as [low, high); None for the whole project.

    ``prefix`` is a normalised relative folder (``src/api``); its files start with
    ``src/api/``, and every such string sorts below ``src/api0`` (``0`` follows ``/``).
    Both backends compare strings by code point (UTF-8 bytes), as Python does.
    """
    if not prefix:
        return None
    low = prefix + "/"
    return low, low[:-1] + chr(ord("/") + 1)
