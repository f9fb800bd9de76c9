"""Chunking: documents into passages that each cite real lines of their source.

Code is split by structure with tree-sitter (functions, classes, methods with their
qualified names), markdown and reStructuredText by section, issues, tickets and pages
by record, anything else by line windows. Every chunk's ``text`` is exactly lines
``start_line..end_line`` of ``doc.text.splitlines()``, joined with ``"\\n"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..sources import DocumentKind, SourceDocument
from .code import code_spans
from .languages import GRAMMARS, language_of, refine_language
from .text import markdown_spans, record_spans, record_symbol, rst_spans
from .windows import Budget, Lines, Span, window_spans

__all__ = ["ChunkDraft", "chunk_document", "language_of"]


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A passage of a document before it is stored, embedded and indexed.

    ``symbol`` is a qualified name (``Session.request``, ``Server.Handle``), a heading
    path (``Install > Linux``), a record (``#12 Crash on start``) or ``""`` for plain
    windows. ``symbol_kind`` is one of function, method, class, struct, interface, enum,
    trait, impl, type, module, section, record, lines.
    """

    text: str  # exactly the source lines start_line..end_line joined with "\n"
    start_line: int  # 1-based, inclusive
    end_line: int  # inclusive
    symbol: str = ""
    symbol_kind: str = "lines"
    language: str = ""


_PROSE: dict[str, Callable[[Lines, Budget], list[Span]]] = {
    "markdown": markdown_spans,
    "rst": rst_spans,
}


def chunk_document(
    doc: SourceDocument, *, max_lines: int = 60, max_chars: int = 2000, overlap_lines: int = 5
) -> list[ChunkDraft]:
    """Split a document into chunks of at most ``max_lines`` lines and ``max_chars`` chars.

    Oversize definitions, sections and records become windows sharing ``overlap_lines``
    lines. A single line longer than ``max_chars`` is kept whole. An empty document
    gives ``[]``.

    :raises ValueError: a budget that cannot be met (``overlap_lines >= max_lines``, …).
    """
    budget = Budget(max_lines, max_chars, overlap_lines)
    lines = Lines(doc.text)
    if not any(line.strip() for line in lines.lines):
        return []
    language = ""
    if doc.kind == DocumentKind.FILE:
        path = doc.path or doc.key
        language = refine_language(language_of(path), path, doc.text)
        spans = _file_spans(lines, language, budget)
    else:
        spans = record_spans(lines, budget, record_symbol(doc.key, doc.title))
    return [
        ChunkDraft(
            lines.text(span.start, span.end),
            span.start + 1,
            span.end + 1,
            span.symbol,
            span.kind,
            language,
        )
        for span in spans
    ]


def _file_spans(lines: Lines, language: str, budget: Budget) -> list[Span]:
    if language in GRAMMARS:
        return code_spans(lines, language, budget)
    if language in _PROSE:
        return _PROSE[language](lines, budget)
    return window_spans(lines, 0, len(lines) - 1, budget, "", "lines")
