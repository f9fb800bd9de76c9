"""Code by structure: one chunk per top-level definition, classes split into methods
when too big, and the lines between definitions (imports, module statements) in
``module`` chunks, so every line that says anything is in some chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tree_sitter import Node

from .languages import GRAMMARS, Grammar, parser_for
from .names import Found
from .windows import Budget, Lines, Span, window_spans

# Kinds whose body is split into members when the whole does not fit the budget.
_CONTAINERS = frozenset({"class", "struct", "interface", "enum", "trait", "impl"})
_SCOPE = "module"  # namespaces and modules: always read member by member


@dataclass(slots=True)
class Definition:
    """A definition's rows (0-based, inclusive, doc comments included) and qualified name."""

    start: int
    end: int
    symbol: str
    kind: str
    node: Node  # the definition proper; its ``body`` holds the members


def code_spans(lines: Lines, language: str, budget: Budget) -> list[Span]:
    """Chunks of a source file in a language that has a grammar."""
    parser = parser_for(language)
    assert parser is not None, f"no grammar for {language}"
    # Parsed as the lines joined by "\n", tree rows are exactly ``str.splitlines()`` indexes
    # even in files with "\r", form feeds or other separators Python splits on.
    tree = parser.parse("\n".join(lines.lines).encode("utf-8", "surrogatepass"))
    reader = _Reader(lines, GRAMMARS[language], budget)
    top = reader.definitions(tree.root_node.named_children, "", in_container=False)
    return reader.plan(top, 0, len(lines) - 1, "", _SCOPE)


class _Reader:
    def __init__(self, lines: Lines, grammar: Grammar, budget: Budget) -> None:
        self.lines = lines
        self.grammar = grammar
        self.budget = budget

    def definitions(
        self, nodes: Iterable[Node], qualifier: str, *, in_container: bool
    ) -> list[Definition]:
        """The definitions among sibling nodes, each with the comments right above it."""
        found: list[Definition] = []
        comments: tuple[int, int] | None = None  # rows of the comment run just seen
        for node in nodes:
            if node.type in self.grammar.leading:
                start, end = _rows(node)
                if comments is not None and start <= comments[1] + 1:
                    start = comments[0]  # the run goes on
                comments = (start, end)
                continue
            if node.type in self.grammar.transparent:
                found += self.definitions(node.named_children, qualifier, in_container=in_container)
            elif (definition := self._definition(node, qualifier, in_container)) is not None:
                floor = found[-1].end if found else -1
                if comments and comments[1] + 1 >= definition.start and comments[0] > floor:
                    definition.start = comments[0]
                found.append(definition)
            comments = None
        return found

    def _definition(self, node: Node, qualifier: str, in_container: bool) -> Definition | None:
        found = self._resolve(node)
        if found is None:
            return None
        kind = "method" if found.kind == "function" and in_container else found.kind
        symbol = ".".join(part for part in (qualifier, found.name) if part)
        start, end = _rows(node)
        return Definition(start, end, symbol, kind, found.node)

    def _resolve(self, node: Node) -> Found | None:
        if node.type in self.grammar.wrappers:
            for child in node.named_children:
                if (found := self._resolve(child)) is not None:
                    return found
            return None
        resolver = self.grammar.definitions.get(node.type)
        return resolver(node) if resolver is not None else None

    def _members(self, definition: Definition) -> list[Definition]:
        body = definition.node.child_by_field_name("body")
        if body is None:
            return []
        in_container = definition.kind in _CONTAINERS
        return self.definitions(body.named_children, definition.symbol, in_container=in_container)

    def plan(
        self, members: list[Definition], start: int, end: int, symbol: str, kind: str
    ) -> list[Span]:
        """Chunks for rows ``start..end``: each member, and the rows between as ``symbol``."""
        spans: list[Span] = []
        cursor = start
        for member in members:
            if member.start > cursor:
                spans += self._between(cursor, member.start - 1, symbol, kind)
            spans += self._whole_or_split(member)
            cursor = max(cursor, member.end + 1)
        if cursor <= end:
            spans += self._between(cursor, end, symbol, kind)
        return spans

    def _whole_or_split(self, found: Definition) -> list[Span]:
        too_big = not self.lines.fits(found.start, found.end, self.budget)
        splits = found.kind == _SCOPE or (found.kind in _CONTAINERS and too_big)
        members = self._members(found) if splits else []
        if not members:  # fits, or too big with nothing to split on: windows of itself
            return window_spans(
                self.lines, found.start, found.end, self.budget, found.symbol, found.kind
            )
        return self.plan(members, found.start, found.end, found.symbol, found.kind)

    def _between(self, start: int, end: int, symbol: str, kind: str) -> list[Span]:
        start, end = self.lines.trim(start, end)
        if start > end or not self.lines.has_content(start, end):
            return []
        return window_spans(self.lines, start, end, self.budget, symbol, kind)


def _rows(node: Node) -> tuple[int, int]:
    """A node's first and last row; a node that swallows its final newline ends a row early."""
    start, end = node.start_point.row, node.end_point.row
    if end > start and node.end_point.column == 0:
        end -= 1
    return start, end
