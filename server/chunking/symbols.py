"""Symbols: every definition of a source file, at every level, with its exact lines.

Unlike chunks, symbols nest: a class and each of its methods, a function and the
functions defined inside it, a namespace and everything in it are all listed. They
come from the same :class:`~.code.Outline` chunking reads, so a symbol's lines are
exactly those a chunk of the whole definition would cite (doc comments included).
"""

from __future__ import annotations

from dataclasses import dataclass

from .code import Outline


@dataclass(frozen=True, slots=True)
class SymbolDraft:
    """A definition before it is stored: qualified name, kind and 1-based inclusive lines.

    ``kind`` is one of function, method, class, struct, interface, enum, trait, impl,
    type, module.
    """

    name: str  # qualified: ``Session.request``, ``shop.cart.Line.item``, ``Server.Handle``
    kind: str
    start_line: int  # 1-based, doc comments and decorators included
    end_line: int  # inclusive
    language: str


def outline_symbols(outline: Outline, language: str) -> list[SymbolDraft]:
    """Every named definition of ``outline`` in source order, each before its members."""
    return [
        SymbolDraft(
            definition.symbol, definition.kind, definition.start + 1, definition.end + 1, language
        )
        for definition in outline.walk()
        if definition.name  # an anonymous namespace is no symbol, but its members are
    ]
