"""Checked access to the documents the editor opened: positions, ranges, selections, words.

Positions arrive in the encoding negotiated at ``initialize`` (UTF-16 units unless the
editor offered UTF-8 or UTF-32) and count lines as LSP does: ends are ``\\n``, ``\\r\\n``
and ``\\r`` only (Python's ``splitlines`` also breaks at form feeds and more). Everything
here converts them to code points on such lines first.
"""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from projectqa.lsp.errors import invalid

MAX_SELECTION_CHARS = 6_000
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def opened(workspace: Workspace, uri: str, field: str = "textDocument.uri") -> TextDocument:
    """The document at ``uri`` as the editor sent it; InvalidParams if it never opened it.

    pygls would read an unopened file from disk; the bridge refuses instead, so an
    answer never describes text the user is not looking at.
    """
    if uri not in workspace.text_documents:
        raise invalid(field, f"{uri} is not open in the editor")
    return workspace.get_text_document(uri)


def lines(document: TextDocument) -> list[str]:
    """The document's lines as LSP counts them, each with its line end."""
    return _LINE.findall(document.source)


def _text(line: str) -> str:
    return line.rstrip("\r\n")


def _column(document: TextDocument, line: str, character: int) -> int:
    """The code-point index of ``character`` (in the editor's units) on ``line``."""
    units, index = 0, 0
    codec = document.position_codec
    for char in _text(line):
        if units >= character:
            break
        units += codec.client_num_units(char)
        index += 1
    return index


def check_position(document: TextDocument, position: types.Position, field: str) -> None:
    """InvalidParams unless ``position`` is inside ``document`` (the end counts as inside)."""
    all_lines = lines(document)
    if position.line < 0 or position.character < 0:
        raise invalid(field, "line and character must not be negative")
    if position.line > len(all_lines) or (
        position.line == len(all_lines) and position.character > 0
    ):
        raise invalid(
            field, f"line {position.line} is past the end of the document ({len(all_lines)} lines)"
        )
    if position.line < len(all_lines):
        width = document.position_codec.client_num_units(_text(all_lines[position.line]))
        if position.character > width:
            raise invalid(
                field, f"character {position.character} is past the end of line {position.line}"
            )


def check_range(document: TextDocument, selection: types.Range, field: str) -> None:
    check_position(document, selection.start, f"{field}.start")
    check_position(document, selection.end, f"{field}.end")
    if (selection.end.line, selection.end.character) < (
        selection.start.line,
        selection.start.character,
    ):
        raise invalid(field, "end comes before start")


def _offset(document: TextDocument, all_lines: list[str], position: types.Position) -> int:
    before = sum(len(line) for line in all_lines[: position.line])
    if position.line >= len(all_lines):
        return before
    return before + _column(document, all_lines[position.line], position.character)


def selected_text(document: TextDocument, selection: types.Range) -> str:
    """The text inside ``selection`` (a checked range), cut to :data:`MAX_SELECTION_CHARS`."""
    all_lines = lines(document)
    start = _offset(document, all_lines, selection.start)
    end = _offset(document, all_lines, selection.end)
    return document.source[start:end][:MAX_SELECTION_CHARS]


def word_at(document: TextDocument, position: types.Position) -> str:
    """The identifier under (or just before) the cursor, or ``""``."""
    all_lines = lines(document)
    if position.line >= len(all_lines):
        return ""
    line = all_lines[position.line]
    column = _column(document, line, position.character)
    for match in _WORD.finditer(line):
        if match.start() <= column <= match.end():
            return match.group()
    return ""
