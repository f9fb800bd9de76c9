"""Import and call references of code chunks, read by the real tree-sitter grammars.

Each sample is chunked with the default budget and checked chunk by chunk: the
``import:<spec>`` and ``call:<name>`` strings its lines hold, normalised as
server/chunking/references.py documents (the contract of issue 16 item 5).
"""

from __future__ import annotations

import pytest

from projectqa.server.chunking import chunk_document
from projectqa.server.sources import DocumentKind, SourceDocument

from .contract import assert_contract, file_doc, source


def references(path: str, text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each chunk of the file as (symbol, references)."""
    doc = file_doc(path, text)
    chunks = chunk_document(doc)
    assert_contract(doc, chunks)
    return [(chunk.symbol, chunk.references) for chunk in chunks]


def test_python_imports_resolved_and_calls_named_by_their_last_identifier() -> None:
    text = source('''
    """Client."""
    from __future__ import annotations

    import os.path
    import json as j, csv
    from . import sibling
    from ..core import Session as S, helpers
    from pkg.util import (
        retry,
    )


    @decorators.cached
    def fetch(url):
        session = S()
        response = session.request("GET", url)
        print(len(response), ", ".join(response.headers.keys()).strip())
        return helpers.parse(response.text, retry=retry(3))


    class Client(Base):
        def __init__(self):
            super().__init__()
            self.pool = Pool(size=4)
    ''')
    assert references("pkg/a/b.py", text) == [
        (
            "",
            (
                "import:csv",
                "import:json",
                "import:os.path",
                "import:pkg.a.sibling",
                "import:pkg.core.Session",
                "import:pkg.core.helpers",
                "import:pkg.util.retry",
            ),
        ),
        ("fetch", ("call:S", "call:cached", "call:parse", "call:request", "call:retry")),
        ("Client", ("call:Pool",)),
    ]


@pytest.mark.parametrize(
    ("path", "statement", "expected"),
    [
        ("pkg/a/b.py", "from .m import f", ("import:pkg.a.m.f",)),
        ("pkg/a/b.py", "from . import x, y", ("import:pkg.a.x", "import:pkg.a.y")),
        ("pkg/a/b.py", "from .. import x", ("import:pkg.x",)),
        ("pkg/a/b.py", "from ..c.d import e", ("import:pkg.c.d.e",)),
        ("pkg/a/b.py", "from ...top import y", ("import:top.y",)),
        ("pkg/a/b.py", "from .m import *", ("import:pkg.a.m",)),
        ("pkg/a/__init__.py", "from . import x", ("import:pkg.a.x",)),
        ("pkg/a/__init__.py", "from .b import C", ("import:pkg.a.b.C",)),
        ("pkg/a/__init__.py", "from .. import x", ("import:pkg.x",)),
        ("src/pkg/__init__.py", "from . import x", ("import:src.pkg.x",)),
        ("b.py", "from . import x", ("import:x",)),
        ("pkg/b.py", "from ... import x", ()),  # above the repository: nothing to resolve
        ("pkg/b.py", "from pkg import name", ("import:pkg.name",)),
    ],
)
def test_python_relative_imports_resolve_against_the_files_package(
    path: str, statement: str, expected: tuple[str, ...]
) -> None:
    assert references(path, statement + "\n") == [("", expected)]


def test_python_relative_imports_use_the_key_when_the_path_is_empty() -> None:
    doc = SourceDocument(key="pkg/a/b.py", kind=DocumentKind.FILE, text="from . import x\n")
    assert [c.references for c in chunk_document(doc)] == [("import:pkg.a.x",)]


def test_javascript_imports_resolved_against_the_files_directory() -> None:
    text = source("""
    import { readFile } from "node:fs/promises";
    import helper from "./util/helper.js";
    const path = require("../lib/path");
    export * from "./types";

    export function load(name) {
      console.log(name);
      const text = readFile(helper.resolve(name));
      return new Parser(JSON.parse(text)).parse();
    }

    function render() {
      return <Widget title="x"><div /></Widget>;
    }
    """)
    assert references("src/app/loader.js", text) == [
        (
            "",
            (
                "import:node:fs/promises",
                "import:src/app/types",
                "import:src/app/util/helper",
                "import:src/lib/path",
            ),
        ),
        ("load", ("call:Parser", "call:parse", "call:readFile", "call:resolve")),
        ("render", ("call:Widget",)),
    ]


def test_typescript_imports_requires_and_dynamic_imports() -> None:
    text = source("""
    import type { Shape } from "./shape";
    import * as geo from "../geo/index";
    import fs = require("fs");

    export class Canvas {
      add(shape: Shape): void {
        this.shapes.push(shape);
        geo.distance(shape, this.origin);
      }
    }

    const lazy = () => import("./lazy");
    """)
    assert references("src/canvas.ts", text) == [
        ("", ("import:fs", "import:geo/index", "import:src/shape")),
        ("Canvas", ("call:distance",)),
        ("lazy", ("import:src/lazy",)),
    ]


def test_tsx_components_are_calls_and_html_elements_are_not() -> None:
    text = source("""
    import React from "react";
    import { Button } from "@ui/kit";

    export const App = () => (
      <Layout>
        <Button onClick={() => track("click")} />
        <div />
      </Layout>
    );
    """)
    assert references("web/App.tsx", text) == [
        ("", ("import:@ui/kit", "import:react")),
        ("App", ("call:Button", "call:Layout", "call:track")),
    ]


def test_go_import_paths_as_written_calls_and_composite_literals() -> None:
    text = source("""
    package server

    import (
    \t"fmt"
    \t"net/http"
    \tlog "github.com/sirupsen/logrus"
    )

    func (s *Server) Start() error {
    \tmux := http.NewServeMux()
    \ts.routes(mux)
    \tcfg := Config{Addr: s.addr}
    \tfmt.Println(len(cfg.Addr), string(cfg.Addr))
    \treturn http.ListenAndServe(cfg.Addr, mux)
    }
    """)
    assert references("server/server.go", text) == [
        ("", ("import:fmt", "import:github.com/sirupsen/logrus", "import:net/http")),
        (
            "Server.Start",
            (
                "call:Config",
                "call:ListenAndServe",
                "call:NewServeMux",
                "call:Println",
                "call:routes",
            ),
        ),
    ]


def test_java_imports_dotted_wildcards_and_static() -> None:
    text = source("""
    package shop;

    import java.util.List;
    import java.util.*;
    import static shop.util.Prices.round;

    public class Cart {
        public double total(List<Line> lines) {
            System.out.println("total");
            double sum = lines.stream().mapToDouble(l -> l.price()).sum();
            return round(new Money(sum).value()) + new shop.Tax<>(sum).rate();
        }
    }
    """)
    assert references("src/main/java/shop/Cart.java", text) == [
        ("", ("import:java.util", "import:java.util.List", "import:shop.util.Prices.round")),
        (
            "Cart",
            (
                "call:Money",
                "call:Tax",
                "call:mapToDouble",
                "call:price",
                "call:rate",
                "call:round",
                "call:stream",
                "call:sum",
                "call:value",
            ),
        ),
    ]


def test_rust_use_trees_resolved_against_the_crate_module() -> None:
    text = source("""
    use std::collections::HashMap;
    use crate::config::{Config, load as load_config};
    use super::proto::*;
    use self::retry::{self, Policy};

    mod retry;

    pub fn connect(addr: &str) -> Result<Client, Error> {
        let cfg = load_config(addr)?;
        let client = Client { cfg, pool: Pool::new(4) };
        println!("{}", addr);
        client.handshake::<u8>();
        Ok(client)
    }
    """)
    assert references("src/net/client.rs", text) == [
        (
            "",
            (
                "import:config.Config",
                "import:config.load",
                "import:net.client.retry",
                "import:net.client.retry.Policy",
                "import:net.proto",
                "import:std.collections.HashMap",
            ),
        ),
        ("connect", ("call:Client", "call:handshake", "call:load_config", "call:new")),
    ]


def test_rust_crate_root_modules() -> None:
    text = "mod net;\nuse self::net::Client;\nextern crate serde;\n"
    assert references("src/lib.rs", text) == [
        ("", ("import:net", "import:net.Client", "import:serde")),
    ]


def test_c_includes_resolved_against_the_directory_and_system_ones_skipped() -> None:
    text = source("""
    #include <stdio.h>
    #include "conn.h"
    #include "../util/buf.h"

    int conn_open(struct conn *c) {
        printf("open\\n");
        c->buf = buf_new(64);
        return c->ops->start(c);
    }
    """)
    assert references("src/net/conn.c", text) == [
        ("", ("import:conn.h", "import:src/net/conn.h", "import:src/util/buf.h")),
        ("conn_open", ("call:buf_new", "call:start")),
    ]


def test_cpp_qualified_template_and_new_calls() -> None:
    text = source("""
    #include <vector>
    #include "shop/cart.h"

    double Cart::total() const {
        auto line = std::make_unique<Line>(1);
        Money* m = new Money(line->price());
        return round2(helpers::sum<double>(items_)) + m->value() + make<int>();
    }
    """)
    assert references("src/shop/cart.cpp", text) == [
        ("", ("import:shop/cart.h", "import:src/shop/shop/cart.h")),
        (
            "Cart.total",
            ("call:Money", "call:make", "call:price", "call:round2", "call:sum", "call:value"),
        ),
    ]


def test_overlapping_windows_both_hold_the_references_of_their_shared_lines() -> None:
    body = "".join(f"    step_{n}()\n" for n in range(100))
    chunks = chunk_document(file_doc("long.py", "def long():\n" + body))
    assert len(chunks) > 1
    for chunk in chunks:
        lines = chunk.text.split("\n")
        calls = {f"call:{line.strip()[:-2]}" for line in lines if line.strip().endswith("()")}
        assert set(chunk.references) == calls
    shared = set(chunks[0].references) & set(chunks[1].references)
    assert shared  # the overlap's calls are in both windows


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("bad.py", "import os\ndef broken(:\n    helper()\n", "import:os"),
        ("bad.py", "from . import (\n", None),
        ("bad.js", 'import x from "./x";\nfunction f( {\n  g(\n', "import:x"),
        ("bad.rs", "use crate::{a::, ;\nfn f() { g( }\n", None),
        ("bad.go", 'import "fmt"\nfunc f( {\n', "import:fmt"),
        ("bad.cpp", '#include "a.h\nint f( { g(; }\n', None),
        ("bad.java", "import a.b.;\nclass { void f( { g(; }\n", None),
        ("bad.ts", "import {", None),
        ("bad.py", "\x00\x01 from\n\ud800 import", None),
    ],
)
def test_syntax_errors_give_what_can_be_read_and_never_raise(
    path: str, text: str, expected: str | None
) -> None:
    found = {ref for _, refs in references(path, text) for ref in refs}
    if expected is not None:
        assert expected in found
    assert all(ref.startswith(("import:", "call:")) and len(ref) < 210 for ref in found)


def test_a_huge_generated_file_stays_bounded_and_deterministic() -> None:
    # One line longer than any budget is one chunk: its 3,051 references are cut to 200.
    imports = "from gen import (" + ", ".join(f"name_{n}" for n in range(50)) + ")"
    calls = "table = [" + ", ".join(f"make_{n:04}()" for n in range(3000)) + "]"
    line = f"{imports}; {calls}; hot(); hot(); hot()\n"
    long_name = "x_" + "y" * 300 + "()\n"
    text = line + long_name + "".join(f"f_{n}()\n" for n in range(20000))
    first = chunk_document(file_doc("gen/table.py", text))
    assert first == chunk_document(file_doc("gen/table.py", text))
    head = first[0].references
    assert len(head) == 200
    assert list(head) == sorted(set(head))
    assert {f"import:gen.name_{n}" for n in range(50)} <= set(head)
    assert "call:hot" in head  # the most frequent calls are the ones kept
    for chunk in first:
        assert len(chunk.references) <= 200
        assert all(len(ref) <= 200 + len("import:") for ref in chunk.references)
        assert not any(ref.startswith("call:x_y") for ref in chunk.references)


@pytest.mark.parametrize(
    "doc",
    [
        file_doc("README.md", "# Use\n\n```python\nimport os\nos.run()\n```\n"),
        file_doc("notes.txt", "import os\nfoo()\n"),
        SourceDocument(
            key="issues/3", kind=DocumentKind.ISSUE, text="import os\nfoo()\n", title="Crash"
        ),
    ],
)
def test_records_prose_and_plain_text_have_no_references(doc: SourceDocument) -> None:
    assert all(chunk.references == () for chunk in chunk_document(doc))
