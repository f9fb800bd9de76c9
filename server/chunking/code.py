"""Code by structure, read once with tree-sitter and shared by chunking and symbols.

:class:`Outline` is the one walk over a file's syntax tree: its definitions with
qualified names and exact rows, each one's members read on demand. Chunking takes
one chunk per top-level definition, splits classes into methods when too big, and
puts the lines between definitions (imports, module statements) in ``module``
chunks, so every line that says anything is in some chunk. Symbol extraction lists
every definition at every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tree_sitter import Node

from .languages import GRAMMARS, parser_for
from .names import Found
from .windows import Budget, Lines, Span, window_spans

# Kinds whose body is split into members when the whole does not fit the budget.
_CONTAINERS = frozenset({"class", "struct", "interface", "enum", "trait", "impl"})
_SCOPE = "module"  # namespaces and modules: always read member by member
Rows = tuple[int, int]  # first and last row, 0-based, inclusive


@dataclass(slots=True)
class Definition:
    """A definition's rows (0-based, inclusive, doc comments included) and qualified name."""

    start: int
    end: int
    symbol: str  # qualified: ``Session.request``
    name: str  # its own part of ``symbol``; '' for an anonymous namespace
    kind: str
    node: Node  # the definition proper; its ``body`` holds the members
    # Found inside an ``if``/``try`` block: a symbol, but plain lines to chunking.
    guarded: bool = False
    members: list[Definition] | None = None  # read by ``Outline.members``


class Outline:
    """The definitions of one source file in a language that has a grammar."""

    def __init__(self, lines: Lines, language: str) -> None:
        parser = parser_for(language)
        assert parser is not None, f"no grammar for {language}"
        self.language = language
        self.grammar = GRAMMARS[language]
        # Parsed as the lines joined by "\n", tree rows are exactly ``split_lines()``
        # indexes, form feeds and lone "\r" included (they stay inside their line).
        self.tree = parser.parse("\n".join(lines.lines).encode("utf-8", "surrogatepass"))
        self.top = self._definitions(self.tree.root_node.named_children, "", in_container=False)

    def members(self, definition: Definition) -> list[Definition]:
        """The definitions directly inside ``definition``'s body (read once)."""
        if definition.members is None:
            body = definition.node.child_by_field_name("body")
            definition.members = [] if body is None else self._body(definition, body)
        return definition.members

    def _body(self, definition: Definition, body: Node) -> list[Definition]:
        # tree-sitter-python puts the comments above a body's first statement
        # before the body: they belong to that statement all the same.
        comments = None
        for node in definition.node.named_children:
            if node.start_byte >= body.start_byte:
                break
            comments = self._comment_run(node, comments)
        in_container = definition.kind in _CONTAINERS
        return self._definitions(
            body.named_children, definition.symbol, in_container=in_container, comments=comments
        )

    def walk(self) -> Iterator[Definition]:
        """Every definition at every level in source order, each before its members."""
        pending = list(reversed(self.top))
        while pending:
            definition = pending.pop()
            yield definition
            pending += reversed(self.members(definition))

    def _definitions(
        self,
        nodes: Iterable[Node],
        qualifier: str,
        *,
        in_container: bool,
        guarded: bool = False,
        comments: Rows | None = None,
    ) -> list[Definition]:
        """The definitions among sibling nodes, each with the comments right above it.

        ``comments``: the run of comment rows just before the first of ``nodes``.
        """
        found: list[Definition] = []
        for node in nodes:
            if node.type in self.grammar.leading:
                comments = self._comment_run(node, comments)
                continue
            if node.type in self.grammar.transparent or node.type in self.grammar.blocks:
                inside = guarded or node.type in self.grammar.blocks
                found += self._definitions(
                    node.named_children,
                    qualifier,
                    in_container=in_container,
                    guarded=inside,
                    comments=comments,
                )
            elif (definition := self._definition(node, qualifier, in_container)) is not None:
                floor = found[-1].end if found else -1
                if comments and comments[1] + 1 >= definition.start and comments[0] > floor:
                    definition.start = comments[0]
                definition.guarded = guarded
                found.append(definition)
            comments = None
        return found

    def _comment_run(self, node: Node, run: Rows | None) -> Rows | None:
        """The comment rows run after ``node``: extended by a comment on its own line,
        ended by anything else (a comment after code on its row belongs to that code)."""
        if node.type not in self.grammar.leading:
            return None
        before = node.prev_sibling
        if before is not None and _rows(before)[1] == node.start_point.row:
            return None
        start, end = _rows(node)
        if run is not None and start <= run[1] + 1:
            start = run[0]  # the run goes on
        return start, end

    def _definition(self, node: Node, qualifier: str, in_container: bool) -> Definition | None:
        found = self._resolve(node)
        if found is None:
            return None
        kind = "method" if found.kind == "function" and in_container else found.kind
        symbol = ".".join(part for part in (qualifier, found.name) if part)
        start, end = _rows(node)
        return Definition(start, end, symbol, found.name, kind, found.node)

    def _resolve(self, node: Node) -> Found | None:
        if node.type in self.grammar.wrappers:
            for child in node.named_children:
                if (found := self._resolve(child)) is not None:
                    return found
            return None
        resolver = self.grammar.definitions.get(node.type)
        return resolver(node) if resolver is not None else None


def code_spans(outline: Outline, lines: Lines, budget: Budget) -> list[Span]:
    """Chunks of a source file, from its outline."""
    return _Planner(outline, lines, budget).plan(outline.top, 0, len(lines) - 1, "", _SCOPE)


class _Planner:
    def __init__(self, outline: Outline, lines: Lines, budget: Budget) -> None:
        self.outline = outline
        self.lines = lines
        self.budget = budget

    def plan(
        self, members: list[Definition], start: int, end: int, symbol: str, kind: str
    ) -> list[Span]:
        """Chunks for rows ``start..end``: each member, and the rows between as ``symbol``."""
        spans: list[Span] = []
        cursor = start
        for member in members:
            if member.guarded:  # its block is chunked as lines of the enclosing scope
                continue
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
        members = self.outline.members(found) if splits else []
        if not any(not member.guarded for member in members):
            # Fits, or too big with nothing to split on: windows of itself.
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
