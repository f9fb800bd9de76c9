"""What every chunk of every document must satisfy, whatever chunked it."""

from __future__ import annotations

import re
import textwrap

from projectqa.server.chunking import ChunkDraft, split_lines
from projectqa.server.sources import DocumentKind, SourceDocument

# Lines that need no chunk of their own: blank, only closing brackets, "#endif", a closing
# brace with a comment ("}  // namespace shop").
_NOTHING_TO_SAY = re.compile(r"\s*(?:#endif.*|[\W_]*|[)\]};]+\s*//.*)")


def source(text: str) -> str:
    """A snippet written indented in a test, as its file would hold it."""
    return textwrap.dedent(text).lstrip("\n")


def file_doc(path: str, text: str) -> SourceDocument:
    return SourceDocument(key=path, kind=DocumentKind.FILE, text=text, path=path)


def outline(chunks: list[ChunkDraft]) -> list[tuple[str, str, int, int]]:
    """Each chunk as (symbol, kind, first line, last line)."""
    return [(c.symbol, c.symbol_kind, c.start_line, c.end_line) for c in chunks]


def assert_cites_exact_lines(doc: SourceDocument, chunks: list[ChunkDraft]) -> None:
    """Every chunk is exactly the lines it cites, and says something."""
    lines = split_lines(doc.text)
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines), chunk
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line]), chunk
        assert chunk.text.strip(), chunk


def assert_covers_every_line(doc: SourceDocument, chunks: list[ChunkDraft]) -> None:
    """Every line that says something is in some chunk."""
    covered = {n for c in chunks for n in range(c.start_line, c.end_line + 1)}
    for number, line in enumerate(split_lines(doc.text), start=1):
        if not _NOTHING_TO_SAY.fullmatch(line):
            assert number in covered, f"line {number} is in no chunk: {line!r}"


def assert_contract(doc: SourceDocument, chunks: list[ChunkDraft]) -> None:
    assert_cites_exact_lines(doc, chunks)
    assert_covers_every_line(doc, chunks)
