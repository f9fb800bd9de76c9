"""Chunking: documents into passages that each cite real lines of their source.

Code is split by structure with tree-sitter (functions, classes, methods with their
qualified names), markdown and reStructuredText by section, issues, tickets and pages
by record, anything else by line windows. Every chunk's ``text`` is exactly lines
``start_line..end_line`` of ``split_lines(doc.text)`` (split on ``"\\n"`` only, as
editors and ripgrep count lines), joined with ``"\\n"``.

The same syntax tree gives the file's symbols: every definition at every level
(:func:`extract_symbols`), and each code chunk's ``references``: what its lines import
and call (``references.py``); :func:`read_document` gives chunks and symbols from one parse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ..sources import DocumentKind, SourceDocument
from .code import Outline, code_spans
from .languages import GRAMMARS, language_of, refine_language
from .references import span_references
from .symbols import SymbolDraft, outline_symbols
from .text import markdown_spans, record_spans, record_symbol, rst_spans
from .windows import Budget, Lines, Span, split_lines, window_spans

__all__ = [
    "ChunkDraft",
    "SymbolDraft",
    "chunk_document",
    "extract_symbols",
    "language_of",
    "read_document",
    "split_lines",
]


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
    # What the passage's lines import and call, as "import:<module>" / "call:<name>"
    # (server/chunking/references.py); the file graph of an index is built from them.
    references: tuple[str, ...] = ()


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
    return _chunks(_Reading(doc), budget)


def extract_symbols(doc: SourceDocument) -> list[SymbolDraft]:
    """Every definition of a source file in a language with a grammar, in source order.

    Files without a grammar and records (issues, tickets, pages) give ``[]``.
    """
    return _symbols(_Reading(doc))


def read_document(
    doc: SourceDocument, *, max_lines: int = 60, max_chars: int = 2000, overlap_lines: int = 5
) -> tuple[list[ChunkDraft], list[SymbolDraft]]:
    """:func:`chunk_document` and :func:`extract_symbols` of ``doc``, parsing it once."""
    budget = Budget(max_lines, max_chars, overlap_lines)
    reading = _Reading(doc)
    return _chunks(reading, budget), _symbols(reading)


def _language(doc: SourceDocument) -> str:
    """The language chunks and symbols of ``doc`` carry; ``""`` for records."""
    if doc.kind != DocumentKind.FILE:
        return ""
    path = doc.path or doc.key
    return refine_language(language_of(path), path, doc.text)


class _Reading:
    """A document's lines and language, and its outline once someone needs it."""

    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.lines = Lines(doc.text)
        self.language = _language(doc)
        self.empty = not any(line.strip() for line in self.lines.lines)

    @cached_property
    def outline(self) -> Outline | None:
        if self.empty or self.language not in GRAMMARS:
            return None
        return Outline(self.lines, self.language)


def _chunks(reading: _Reading, budget: Budget) -> list[ChunkDraft]:
    if reading.empty:
        return []
    lines, language = reading.lines, reading.language
    if reading.doc.kind != DocumentKind.FILE:
        spans = record_spans(lines, budget, record_symbol(reading.doc.key, reading.doc.title))
    elif reading.outline is not None:
        spans = code_spans(reading.outline, lines, budget)
    elif language in _PROSE:
        spans = _PROSE[language](lines, budget)
    else:
        spans = window_spans(lines, 0, len(lines) - 1, budget, "", "lines")
    references = _references(reading, spans)
    return [
        ChunkDraft(
            lines.text(span.start, span.end),
            span.start + 1,
            span.end + 1,
            span.symbol,
            span.kind,
            language,
            refs,
        )
        for span, refs in zip(spans, references, strict=True)
    ]


def _references(reading: _Reading, spans: list[Span]) -> list[tuple[str, ...]]:
    """What each span imports and calls; nothing outside code with a grammar."""
    outline = reading.outline
    if reading.doc.kind != DocumentKind.FILE or outline is None:
        return [() for _ in spans]
    path = reading.doc.path or reading.doc.key  # relative imports resolve against it
    return span_references(outline.tree, outline.language, path, [s[:2] for s in spans])


def _symbols(reading: _Reading) -> list[SymbolDraft]:
    outline = reading.outline
    return [] if outline is None else outline_symbols(outline, reading.language)
