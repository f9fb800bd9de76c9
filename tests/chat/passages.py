"""Real passages for the chat tests: documents cut by the real chunker into Store chunks."""

from __future__ import annotations

from typing import Any

from projectqa.server.chunking import chunk_document
from projectqa.server.models import Chunk
from projectqa.server.sources import DocumentKind, SourceDocument


def chunks_of(
    key: str, text: str, kind: DocumentKind = DocumentKind.FILE, **chunking: Any
) -> list[Chunk]:
    """The real chunker's chunks of a document, as the Store would hold them (``chunking``
    passes ``max_lines``/``overlap_lines`` on, e.g. for one chunk per method)."""
    is_file = kind is DocumentKind.FILE
    doc = SourceDocument(
        key,
        kind,
        text,
        title="" if is_file else text.split("\n")[0],
        path=key if is_file else "",
        url="" if is_file else f"https://github.com/o/shop/{key}",
    )
    return [
        Chunk(
            id=f"chk_{key}_{n}",
            project_id="prj_1",
            connector_id="con_git",
            document_id=f"doc_{key}",
            document_key=key,
            kind=str(kind),
            path=doc.path,
            url=doc.url,
            title=doc.title,
            ordinal=n,
            start_line=d.start_line,
            end_line=d.end_line,
            symbol=d.symbol,
            symbol_kind=d.symbol_kind,
            language=d.language,
            text=d.text,
            embed_hash="",
        )
        for n, d in enumerate(chunk_document(doc, **chunking))
    ]
