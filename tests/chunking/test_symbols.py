"""Symbols: every definition at every level, with exact lines, from the real grammars.

The samples are those the code chunker is tested on; here a class and each of its
methods, a function and the functions inside it, a namespace and its members are all
listed, each with the lines of the whole definition.
"""

from __future__ import annotations

from itertools import combinations

import pytest

from projectqa.server.chunking import (
    SymbolDraft,
    chunk_document,
    extract_symbols,
    read_document,
    split_lines,
)
from projectqa.server.sources import DocumentKind, SourceDocument

from .contract import file_doc, source
from .test_code import SAMPLES

Outline = list[tuple[str, str, int, int]]

EXPECTED: dict[str, Outline] = {
    "python": [
        ("Retry", "class", 5, 13),
        ("Retry.backoff", "method", 10, 13),
        ("Retry.backoff.jitter", "function", 11, 12),
        ("Session", "class", 16, 32),
        ("Session.closed", "method", 21, 23),
        ("Session.request", "method", 25, 29),
        ("Session.Adapter", "class", 31, 32),
        ("main", "function", 35, 36),
    ],
    "javascript": [
        ("Loader", "class", 3, 20),
        ("Loader.constructor", "method", 7, 10),
        ("Loader.load", "method", 12, 15),
        ("Loader.onChange", "method", 17, 19),
        ("parse", "function", 22, 22),
        ("helper", "function", 24, 29),
        ("helper.inner", "function", 25, 27),
    ],
    "typescript": [
        ("Point", "interface", 3, 6),
        ("Id", "type", 8, 8),
        ("Color", "enum", 10, 13),
        ("Canvas", "class", 15, 30),
        ("Canvas.add", "method", 19, 21),
        ("Canvas.draw", "method", 23, 25),
        ("Canvas.size", "method", 27, 29),
        ("area", "function", 32, 32),
        ("Geometry", "module", 34, 38),
        ("Geometry.distance", "function", 35, 37),
    ],
    "tsx": [
        ("Props", "type", 3, 3),
        ("Greeting", "function", 5, 7),
        ("App", "function", 9, 13),
    ],
    "go": [
        ("Server", "struct", 5, 8),
        ("Handler", "interface", 10, 13),
        ("Server.Handle", "method", 15, 18),
        ("Pair.Key", "method", 20, 20),
        ("New", "function", 22, 24),
    ],
    "java": [
        ("Cart", "class", 5, 24),
        ("Cart.Cart", "method", 10, 12),
        ("Cart.total", "method", 14, 17),
        ("Cart.Item", "class", 19, 21),
        ("Cart.Item.price", "method", 20, 20),
        ("Cart.Status", "enum", 23, 23),
        ("Priced", "interface", 26, 28),
        ("Priced.price", "method", 27, 27),
    ],
    "rust": [
        ("Point", "struct", 3, 8),
        ("Point", "impl", 10, 19),
        ("Point.new", "method", 11, 13),
        ("Point.norm", "method", 15, 18),
        ("Point", "impl", 21, 25),
        ("Point.fmt", "method", 22, 24),
        ("Shape", "trait", 27, 29),
        ("Shape.area", "method", 28, 28),
        ("Kind", "enum", 31, 34),
        ("tests", "module", 36, 44),
        ("tests.norm_of_unit", "function", 40, 43),
    ],
    "c": [
        ("Buffer", "struct", 3, 7),
        ("node", "struct", 9, 12),
        ("mode", "enum", 14, 14),
        ("buffer_push", "function", 18, 22),
        ("buffer_name", "function", 24, 26),
    ],
    "cpp": [
        ("shop.cart", "module", 4, 31),
        ("shop.cart.Line", "class", 6, 19),
        ("shop.cart.Line.Line", "method", 10, 10),
        ("shop.cart.Line.item", "method", 13, 15),
        ("shop.cart.Totals", "struct", 21, 23),
        ("shop.cart.Line.~Line", "method", 25, 25),
        ("shop.cart.count_lines", "function", 27, 29),
    ],
}


def outline(symbols: list[SymbolDraft]) -> Outline:
    return [(s.name, s.kind, s.start_line, s.end_line) for s in symbols]


@pytest.mark.parametrize("language", SAMPLES)
def test_every_definition_at_every_level_with_exact_lines(language: str) -> None:
    sample = SAMPLES[language]

    symbols = extract_symbols(file_doc(sample.path, sample.text))

    assert outline(symbols) == EXPECTED[language]
    assert {symbol.language for symbol in symbols} == {language}


@pytest.mark.parametrize("language", SAMPLES)
def test_definitions_nest_or_are_apart_and_lie_in_the_file(language: str) -> None:
    sample = SAMPLES[language]
    symbols = extract_symbols(file_doc(sample.path, sample.text))
    last_line = len(split_lines(sample.text))
    for symbol in symbols:
        assert 1 <= symbol.start_line <= symbol.end_line <= last_line
    for first, second in combinations(symbols, 2):
        apart = first.end_line < second.start_line or second.end_line < first.start_line
        inside = first.start_line <= second.start_line and second.end_line <= first.end_line
        assert apart or inside, (first, second)  # a definition comes before its members


def test_read_document_gives_chunks_and_symbols_from_one_parse() -> None:
    for sample in SAMPLES.values():
        doc = file_doc(sample.path, sample.text)
        assert read_document(doc, max_lines=8, overlap_lines=2) == (
            chunk_document(doc, max_lines=8, overlap_lines=2),
            extract_symbols(doc),
        )


def test_definitions_under_if_and_try_are_symbols_but_not_chunks() -> None:
    doc = file_doc(
        "compat.py",
        source("""
        try:
            from functools import cached_property
        except ImportError:  # Python < 3.8
            # A minimal fallback.
            class cached_property:
                def __get__(self, obj, cls):
                    return 1

        if TYPE_CHECKING:
            def typed(): ...
        else:
            with lock:
                def locked(): ...


        def outer():
            if True:
                def inner():
                    pass
        """),
    )

    assert outline(extract_symbols(doc)) == [
        ("cached_property", "class", 4, 7),
        ("cached_property.__get__", "method", 6, 7),
        ("typed", "function", 10, 10),
        ("locked", "function", 13, 13),
        ("outer", "function", 16, 19),
        ("outer.inner", "function", 18, 19),
    ]
    chunks = [(c.symbol, c.symbol_kind, c.start_line, c.end_line) for c in chunk_document(doc)]
    assert chunks == [("", "module", 1, 13), ("outer", "function", 16, 19)]


def test_comments_above_a_first_member_belong_to_it_and_trailing_ones_do_not() -> None:
    doc = file_doc(
        "a.py",
        source("""
        class A:
            # Says hello.
            def hello(self):
                pass
        x = 1  # not about what follows
        def after():
            pass
        """),
    )

    assert outline(extract_symbols(doc)) == [
        ("A", "class", 1, 4),
        ("A.hello", "method", 2, 4),
        ("after", "function", 6, 7),
    ]


def test_javascript_definitions_in_blocks_and_interface_members() -> None:
    doc = file_doc(
        "src/store.ts",
        source("""
        export interface Store {
          get(key: string): string;
        }
        abstract class Base {
          abstract run(): void;
        }
        if (typeof window !== "undefined") {
          function browserOnly() {}
        } else {
          class NodeOnly {}
        }
        """),
    )

    assert outline(extract_symbols(doc)) == [
        ("Store", "interface", 1, 3),
        ("Store.get", "method", 2, 2),
        ("Base", "class", 4, 6),
        ("Base.run", "method", 5, 5),
        ("browserOnly", "function", 8, 8),
        ("NodeOnly", "class", 10, 10),
    ]


def test_an_anonymous_namespace_is_no_symbol_but_its_members_are() -> None:
    doc = file_doc(
        "src/util.cc",
        source("""
        namespace util {
        namespace {
        int helper() { return 1; }
        }
        }
        """),
    )

    assert outline(extract_symbols(doc)) == [
        ("util", "module", 1, 5),
        ("util.helper", "function", 3, 3),
    ]


@pytest.mark.parametrize(
    "doc",
    [
        file_doc("README.md", "# Title\n\n## Install\n\nRun it.\n"),
        file_doc("notes.txt", "def not_code():\n    pass\n"),
        file_doc("empty.py", ""),
        file_doc("blank.py", "\n\n   \n"),
        SourceDocument(
            key="issues/7", kind=DocumentKind.ISSUE, text="def f():\n    pass\n", title="Crash"
        ),
    ],
    ids=["markdown", "no-grammar", "empty", "blank", "record"],
)
def test_documents_without_a_grammar_have_no_symbols(doc: SourceDocument) -> None:
    assert extract_symbols(doc) == []
