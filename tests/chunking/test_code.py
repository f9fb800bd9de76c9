"""Code chunked by structure with the real tree-sitter grammars, one sample per language.

Each sample is chunked with a small budget (8 lines), so its bigger classes are split
into a header chunk and one chunk per method, and checked against the exact outline:
symbols, kinds and lines.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import pytest

from projectqa.server.chunking import chunk_document

from .contract import assert_contract, file_doc, outline, source


@dataclass(frozen=True)
class Sample:
    path: str
    text: str
    outline: list[tuple[str, str, int, int]]


PYTHON = Sample(
    "requests/sessions.py",
    source('''
    """Sessions."""
    import os


    # Retries for idempotent requests.
    @dataclass
    class Retry:
        total: int = 3

        def backoff(self, attempt):
            def jitter():
                return 0.1
            return attempt * jitter()


    class Session:
        """Keeps cookies."""

        timeout = 10

        @property
        def closed(self):
            return False

        def request(self, method, url):
            # Build, send and return.
            prepared = self.prepare(method, url)
            response = self.send(prepared)
            return response

        class Adapter:
            pass


    def main():
        Session().request("GET", "/")


    if __name__ == "__main__":
        main()
    '''),
    [
        ("", "module", 1, 2),
        ("Retry", "class", 5, 8),
        ("Retry.backoff", "method", 10, 13),
        ("Session", "class", 16, 19),
        ("Session.closed", "method", 21, 23),
        ("Session.request", "method", 25, 29),
        ("Session.Adapter", "class", 31, 32),
        ("main", "function", 35, 36),
        ("", "module", 39, 40),
    ],
)

JAVASCRIPT = Sample(
    "src/loader.js",
    source("""
    import { readFile } from "node:fs/promises";

    /** Loads config files. */
    export class Loader extends Base {
      cache = new Map();

      constructor(root) {
        super();
        this.root = root;
      }

      async load(name) {
        const text = await readFile(`${this.root}/${name}`);
        return JSON.parse(text);
      }

      onChange = (name) => {
        this.cache.delete(name);
      };
    }

    export const parse = (text) => JSON.parse(text);

    function helper() {
      function inner() {
        return 1;
      }
      return inner();
    }

    module.exports = { helper };
    """),
    [
        ("", "module", 1, 1),
        ("Loader", "class", 3, 5),
        ("Loader.constructor", "method", 7, 10),
        ("Loader.load", "method", 12, 15),
        ("Loader.onChange", "method", 17, 19),
        ("parse", "function", 22, 22),
        ("helper", "function", 24, 29),
        ("", "module", 31, 31),
    ],
)

TYPESCRIPT = Sample(
    "src/canvas.ts",
    source("""
    import type { Shape } from "./shape";

    export interface Point {
      x: number;
      y: number;
    }

    export type Id = string | number;

    enum Color {
      Red,
      Green,
    }

    @Injectable()
    export class Canvas<T extends Shape> implements Drawable {
      private shapes: T[] = [];

      add(shape: T): void {
        this.shapes.push(shape);
      }

      draw = (ctx: Context): void => {
        for (const s of this.shapes) s.draw(ctx);
      };

      get size(): number {
        return this.shapes.length;
      }
    }

    export const area = (p: Point): number => p.x * p.y;

    namespace Geometry {
      export function distance(a: Point, b: Point): number {
        return Math.hypot(a.x - b.x, a.y - b.y);
      }
    }
    """),
    [
        ("", "module", 1, 1),
        ("Point", "interface", 3, 6),
        ("Id", "type", 8, 8),
        ("Color", "enum", 10, 13),
        ("Canvas", "class", 15, 17),
        ("Canvas.add", "method", 19, 21),
        ("Canvas.draw", "method", 23, 25),
        ("Canvas.size", "method", 27, 29),
        ("area", "function", 32, 32),
        ("Geometry", "module", 34, 34),
        ("Geometry.distance", "function", 35, 37),
    ],
)

TSX = Sample(
    "web/App.tsx",
    source("""
    import React from "react";

    type Props = { name: string };

    export function Greeting({ name }: Props) {
      return <h1>Hello {name}</h1>;
    }

    export const App = () => (
      <div>
        <Greeting name="world" />
      </div>
    );
    """),
    [
        ("", "module", 1, 1),
        ("Props", "type", 3, 3),
        ("Greeting", "function", 5, 7),
        ("App", "function", 9, 13),
    ],
)

GO = Sample(
    "server/server.go",
    source("""
    package server

    import "net/http"

    // Server answers requests.
    type Server struct {
        addr string
    }

    // Handler handles one route.
    type Handler interface {
        Handle(w http.ResponseWriter, r *http.Request)
    }

    // Handle serves one request.
    func (s *Server) Handle(w http.ResponseWriter, r *http.Request) {
        w.WriteHeader(http.StatusOK)
    }

    func (p Pair[K, V]) Key() K { return p.k }

    func New(addr string) *Server {
        return &Server{addr: addr}
    }
    """),
    [
        ("", "module", 1, 3),
        ("Server", "struct", 5, 8),
        ("Handler", "interface", 10, 13),
        ("Server.Handle", "method", 15, 18),
        ("Pair.Key", "method", 20, 20),
        ("New", "function", 22, 24),
    ],
)

JAVA = Sample(
    "src/main/java/com/example/store/Cart.java",
    source("""
    package com.example.store;

    import java.util.List;

    /** A shopping cart. */
    @Entity
    public class Cart {
        private final List<Item> items;

        public Cart(List<Item> items) {
            this.items = items;
        }

        /** The total price. */
        public long total() {
            return items.stream().mapToLong(Item::price).sum();
        }

        static class Item {
            long price() { return 1; }
        }

        enum Status { OPEN, PAID }
    }

    interface Priced {
        long price();
    }
    """),
    [
        ("", "module", 1, 3),
        ("Cart", "class", 5, 8),
        ("Cart.Cart", "method", 10, 12),
        ("Cart.total", "method", 14, 17),
        ("Cart.Item", "class", 19, 21),
        ("Cart.Status", "enum", 23, 23),
        ("Priced", "interface", 26, 28),
    ],
)

RUST = Sample(
    "src/point.rs",
    source("""
    use std::fmt;

    /// A 2D point.
    #[derive(Debug, Clone)]
    pub struct Point {
        x: f64,
        y: f64,
    }

    impl Point {
        pub fn new(x: f64, y: f64) -> Self {
            Point { x, y }
        }

        /// Distance from the origin.
        pub fn norm(&self) -> f64 {
            (self.x * self.x + self.y * self.y).sqrt()
        }
    }

    impl fmt::Display for Point {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "({}, {})", self.x, self.y)
        }
    }

    pub trait Shape {
        fn area(&self) -> f64;
    }

    pub enum Kind {
        Circle,
        Square,
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn norm_of_unit() {
            assert_eq!(Point::new(1.0, 0.0).norm(), 1.0);
        }
    }
    """),
    [
        ("", "module", 1, 1),
        ("Point", "struct", 3, 8),
        ("Point", "impl", 10, 10),
        ("Point.new", "method", 11, 13),
        ("Point.norm", "method", 15, 18),
        ("Point", "impl", 21, 25),
        ("Shape", "trait", 27, 29),
        ("Kind", "enum", 31, 34),
        ("tests", "module", 36, 38),
        ("tests.norm_of_unit", "function", 40, 43),
    ],
)

C = Sample(
    "src/buffer.c",
    source("""
    #include <stdlib.h>

    /* A growable buffer. */
    typedef struct {
        char *data;
        size_t len;
    } Buffer;

    struct node {
        int value;
        struct node *next;
    };

    enum mode { READ, WRITE };

    static int count;

    /* Appends one byte. */
    int buffer_push(Buffer *b, char c) {
        b->data[b->len++] = c;
        return 0;
    }

    static char *buffer_name(void) {
        return "buffer";
    }
    """),
    [
        ("", "module", 1, 1),
        ("Buffer", "struct", 3, 7),
        ("node", "struct", 9, 12),
        ("mode", "enum", 14, 14),
        ("", "module", 16, 16),
        ("buffer_push", "function", 18, 22),
        ("buffer_name", "function", 24, 26),
    ],
)

CPP = Sample(
    "src/cart.cpp",
    source("""
    #pragma once
    #include <string>

    namespace shop::cart {

    // A line of an order.
    template <typename T>
    class Line : public Base {
     public:
      explicit Line(T item) : item_(item) {}
      ~Line();

      T item() const {
        return item_;
      }

     private:
      T item_;
    };

    struct Totals {
      long sum = 0;
    };

    Line::~Line() {}

    int count_lines(const std::string& order) {
      return 0;
    }

    }  // namespace shop::cart
    """),
    [
        ("", "module", 1, 2),
        ("shop.cart", "module", 4, 4),
        ("shop.cart.Line", "class", 6, 9),
        ("shop.cart.Line.Line", "method", 10, 10),
        ("shop.cart.Line", "class", 11, 11),
        ("shop.cart.Line.item", "method", 13, 15),
        ("shop.cart.Line", "class", 17, 19),
        ("shop.cart.Totals", "struct", 21, 23),
        ("shop.cart.Line.~Line", "method", 25, 25),
        ("shop.cart.count_lines", "function", 27, 29),
    ],
)

SAMPLES = {
    "python": PYTHON,
    "javascript": JAVASCRIPT,
    "typescript": TYPESCRIPT,
    "tsx": TSX,
    "go": GO,
    "java": JAVA,
    "rust": RUST,
    "c": C,
    "cpp": CPP,
}


@pytest.mark.parametrize("language", SAMPLES)
def test_definitions_are_chunked_with_their_symbols_and_exact_lines(language: str) -> None:
    sample = SAMPLES[language]
    doc = file_doc(sample.path, sample.text)

    chunks = chunk_document(doc, max_lines=8, overlap_lines=2)

    assert outline(chunks) == sample.outline
    assert {chunk.language for chunk in chunks} == {language}
    assert_contract(doc, chunks)


@pytest.mark.parametrize("language", SAMPLES)
def test_every_budget_keeps_the_contract(language: str) -> None:
    doc = file_doc(SAMPLES[language].path, SAMPLES[language].text)
    for max_lines, max_chars in [(1, 2000), (2, 40), (3, 2000), (60, 2000), (60, 120)]:
        chunks = chunk_document(doc, max_lines=max_lines, max_chars=max_chars, overlap_lines=0)
        assert_contract(doc, chunks)
        for chunk in chunks:
            assert chunk.end_line - chunk.start_line < max_lines
            assert len(chunk.text) <= max_chars or chunk.start_line == chunk.end_line


def test_a_class_that_fits_is_one_chunk() -> None:
    doc = file_doc(PYTHON.path, PYTHON.text)

    chunks = chunk_document(doc)

    assert ("Session", "class", 16, 32) in outline(chunks)
    assert not [c for c in chunks if c.symbol_kind == "method"]


def test_an_oversize_method_is_split_into_overlapping_windows_that_keep_its_symbol() -> None:
    body = "\n".join(f"        step_{n} = self.step({n})" for n in range(30))
    text = f"class Session:\n    def request(self):\n{body}\n        return step_29\n"
    doc = file_doc("sessions.py", text)

    chunks = chunk_document(doc, max_lines=12, overlap_lines=3)

    methods = [c for c in chunks if c.symbol_kind == "method"]
    assert {(c.symbol, c.symbol_kind) for c in methods} == {("Session.request", "method")}
    assert methods[0].start_line == 2 and methods[-1].end_line == 33
    for before, after in pairwise(methods):
        assert after.start_line == before.end_line - 2  # three lines shared
    assert all(c.end_line - c.start_line < 12 for c in chunks)
    assert_contract(doc, chunks)


def test_an_oversize_function_is_split_by_characters_too() -> None:
    body = "\n".join(f"    total += compute_the_{n:02d}_th_value(x)" for n in range(20))
    doc = file_doc("calc.py", f"def total(x):\n    total = 0\n{body}\n    return total\n")

    chunks = chunk_document(doc, max_chars=300, overlap_lines=1)

    assert len(chunks) > 1
    assert {(c.symbol, c.symbol_kind) for c in chunks} == {("total", "function")}
    assert all(len(c.text) <= 300 for c in chunks)
    assert_contract(doc, chunks)


def test_a_line_longer_than_the_budget_stays_whole() -> None:
    doc = file_doc("data.js", "export const table = [" + "1, " * 1000 + "];\n")

    chunks = chunk_document(doc, max_chars=200)

    assert outline(chunks) == [("", "module", 1, 1)]
    assert_contract(doc, chunks)


def test_lines_are_counted_as_editors_and_ripgrep_count_them() -> None:
    text = "import os\r\n\r\n\x0c\r\ndef main():\r\n    return 1\r\n\x0c\nclass A:\r\n    pass\r\n"
    doc = file_doc("odd.py", text)

    chunks = chunk_document(doc)

    assert outline(chunks) == [
        ("", "module", 1, 1),
        ("main", "function", 4, 5),  # a form feed is a character of its line, not a break
        ("A", "class", 7, 8),
    ]
    assert_contract(doc, chunks)


def test_a_cpp_header_with_a_dot_h_name_is_read_as_cpp() -> None:
    text = (
        "#ifndef CART_H\n#define CART_H\nclass Cart {\n public:\n  int size() const;\n};\n#endif\n"
    )
    doc = file_doc("include/cart.h", text)

    chunks = chunk_document(doc)

    assert outline(chunks) == [("", "module", 1, 2), ("Cart", "class", 3, 6)]
    assert {c.language for c in chunks} == {"cpp"}


def test_broken_code_still_gives_exact_chunks() -> None:
    doc = file_doc("broken.py", "def ok():\n    return 1\n\ndef broken(:\n    ][\n\nclass C:\n")

    chunks = chunk_document(doc)

    assert ("ok", "function", 1, 2) in outline(chunks)
    assert_contract(doc, chunks)


def test_chunking_in_several_threads_gives_the_same_chunks() -> None:
    docs = [file_doc(sample.path, sample.text) for sample in SAMPLES.values()] * 8
    alone = [chunk_document(doc) for doc in docs]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(chunk_document, docs))

    assert together == alone
