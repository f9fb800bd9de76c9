"""Checked access to the documents the editor opened: positions, ranges, selections, words."""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from projectqa.lsp.errors import invalid

MAX_SELECTION_CHARS = 6_000
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def opened(workspace: Workspace, uri: str, field: str = "textDocument.uri") -> TextDocument:
    """The document at ``uri`` as the editor sent it; InvalidParams if it never opened it.

    pygls would read an unopened file from disk; the bridge refuses instead, so an
    answer never describes text the user is not looking at.
    """
    if uri not in workspace.text_documents:
        raise invalid(field, f"{uri} is not open in the editor")
    return workspace.get_text_document(uri)


def check_position(document: TextDocument, position: types.Position, field: str) -> None:
    """InvalidParams unless ``position`` is inside ``document`` (the end counts as inside)."""
    lines = document.lines
    if position.line < 0 or position.character < 0:
        raise invalid(field, "line and character must not be negative")
    if position.line > len(lines) or (position.line == len(lines) and position.character > 0):
        raise invalid(
            field, f"line {position.line} is past the end of the document ({len(lines)} lines)"
        )
    if position.line < len(lines):
        width = len(lines[position.line].rstrip("\r\n"))
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


def selected_text(document: TextDocument, selection: types.Range) -> str:
    """The text inside ``selection``, cut to :data:`MAX_SELECTION_CHARS`."""
    lines = document.lines
    start, end = selection.start, selection.end
    if start.line == end.line:
        text = lines[start.line][start.character : end.character] if start.line < len(lines) else ""
    else:
        first = lines[start.line][start.character :]
        middle = lines[start.line + 1 : end.line]
        last = lines[end.line][: end.character] if end.line < len(lines) else ""
        text = first + "".join(middle) + last
    return text[:MAX_SELECTION_CHARS]


def word_at(document: TextDocument, position: types.Position) -> str:
    """The identifier under (or just before) the cursor, or ``""``."""
    if position.line >= len(document.lines):
        return ""
    line = document.lines[position.line]
    for match in _WORD.finditer(line):
        if match.start() <= position.character <= match.end():
            return match.group()
    return ""
