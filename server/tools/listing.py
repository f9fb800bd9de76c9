"""ListFiles: a project's indexed files, by path, in pages.

The files are the Store's documents of kind file — what OpenFile can read and what
citations point at — not a walk of the disk, so a listing never shows a file that the
connector's rules left out, and costs one index range scan per page whatever the
project's size. Pages are keyset pages by (path, connector id); the token is bound to
the project and the folder it lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Document
from ..paging import page_of, page_request
from ..store import Store
from ..store.file_listing import file_key
from .confine import normalise

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # larger than other lists: a file entry is small, and agents list many


@dataclass(frozen=True, slots=True)
class IndexedFile:
    path: str
    connector_id: str
    language: str  # "" if unknown
    lines: int
    chunks: int
    version: str  # the connector's content version: a git blob id, a content hash
    size_bytes: int  # 0 when the connector did not say


@dataclass(frozen=True, slots=True)
class FilePage:
    files: list[IndexedFile]
    next_page_token: str  # "" on the last page


def list_files(
    store: Store, project_id: str, prefix: str, page_size: int, page_token: str
) -> FilePage:
    """One page of the files of ``project_id`` below folder ``prefix`` ("" for all)."""
    folder = folder_prefix(prefix)
    listing = f"files:{project_id}:{folder}"
    request = page_request(
        listing, page_size, page_token, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE
    )
    documents = store.list_files(project_id, request, folder)
    page, token = page_of(listing, documents, request, file_key)
    return FilePage([_indexed_file(document) for document in page], token)


def folder_prefix(prefix: str) -> str:
    """``prefix`` as a clean relative folder (``./src//api/`` → ``src/api``); "" for all.

    Checked as OpenFile checks a path (no ``..``, not absolute, no ``.git``, …), with
    the error naming ``prefix``.
    """
    if prefix in ("", ".", "./"):
        return ""
    return normalise(prefix, field="prefix", noun="folder")


def _indexed_file(document: Document) -> IndexedFile:
    size = document.metadata.get("size")
    return IndexedFile(
        path=document.path,
        connector_id=document.connector_id,
        language=document.language,
        lines=document.line_count,
        chunks=document.chunk_count,
        version=document.version,
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else 0,
    )
