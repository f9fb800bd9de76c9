"""``workspace/symbol`` from the server's symbol index, and "Ask ProjectQA" code lenses.

Lenses come from parsing the open document here, with the tree-sitter grammars the
server's chunker uses, so they follow unsaved edits without a round trip.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument

from projectqa.lsp.connection import Ready
from projectqa.lsp.documents import lines
from projectqa.v1 import tools_pb2

MAX_SYMBOLS = 100
LENS_KINDS = frozenset({"function", "method", "class", "struct", "interface", "trait", "enum"})
EXPLAIN_COMMAND = "projectqa.explainSelection"

SYMBOL_KINDS = {
    "function": types.SymbolKind.Function,
    "method": types.SymbolKind.Method,
    "class": types.SymbolKind.Class,
    "struct": types.SymbolKind.Struct,
    "interface": types.SymbolKind.Interface,
    "enum": types.SymbolKind.Enum,
    "trait": types.SymbolKind.Interface,
    "impl": types.SymbolKind.Class,
    "type": types.SymbolKind.TypeParameter,
    "module": types.SymbolKind.Module,
}


def _symbol(ready: Ready, match: tools_pb2.SymbolMatch) -> types.WorkspaceSymbol | None:
    path = ready.project.file(match.connector_id, match.path)
    root = ready.project.workspace
    relative = PurePosixPath(match.path)
    if path is None:  # not on this machine: the place the workspace would have it, if any
        if root is None or relative.is_absolute() or ".." in relative.parts:
            return None
        path = root / relative
    where = types.Range(
        types.Position(max(match.start_line - 1, 0), 0), types.Position(match.end_line, 0)
    )
    container, _, _ = match.name.rpartition(".")
    return types.WorkspaceSymbol(
        name=match.name,
        kind=SYMBOL_KINDS.get(match.kind, types.SymbolKind.Variable),
        location=types.Location(uri=from_fs_path(str(path)) or path.as_uri(), range=where),
        container_name=container or match.path,
    )


async def workspace_symbols(ready: Ready, query: str) -> list[types.WorkspaceSymbol]:
    """The definitions matching ``query`` (fuzzy), best first; ``[]`` for an empty query."""
    if not query.strip():
        return []
    matches = await ready.client.find_symbol(ready.project.id, query.strip(), limit=MAX_SYMBOLS)
    return [symbol for match in matches if (symbol := _symbol(ready, match)) is not None]


def code_lenses(document: TextDocument) -> list[types.CodeLens]:
    """An "Ask ProjectQA" lens on the first line of each function, method and class."""
    from projectqa.server.chunking import extract_symbols  # tree-sitter: loaded on first use
    from projectqa.server.sources import DocumentKind, SourceDocument

    path = to_fs_path(document.uri) or document.uri
    source = SourceDocument(
        key=Path(path).name, kind=DocumentKind.FILE, text=document.source, path=Path(path).name
    )
    lenses = []
    all_lines = lines(document)
    for symbol in extract_symbols(source):
        if symbol.kind not in LENS_KINDS:
            continue
        where = types.Range(
            types.Position(symbol.start_line - 1, 0), types.Position(symbol.end_line, 0)
        )
        if symbol.end_line >= len(all_lines):  # the last line has no line after it
            last = all_lines[-1].rstrip("\r\n")
            width = document.position_codec.client_num_units(last)
            where.end = types.Position(len(all_lines) - 1, width)
        selection = {
            "start": {"line": where.start.line, "character": where.start.character},
            "end": {"line": where.end.line, "character": where.end.character},
        }
        arguments = {"textDocument": {"uri": document.uri}, "range": selection}
        lenses.append(
            types.CodeLens(
                range=types.Range(where.start, where.start),
                command=types.Command(
                    title="Ask ProjectQA", command=EXPLAIN_COMMAND, arguments=[arguments]
                ),
            )
        )
    return lenses
