"""What a code chunk's lines import and call, read off the outline's syntax tree.

A reference is ``"import:<spec>"`` (a module or file the lines import) or
``"call:<name>"`` (a function, method or class the lines call or instantiate, named by
the callee's last identifier: ``self.session.request(x)`` -> ``request``). Each chunk
gets the references found on its own lines, so overlapping windows share theirs;
sorted, unique and at most :data:`MAX_REFERENCES`. The file graph of an index is built
from them (server/index/graph.py), which resolves specs to files:

- Python: absolute dotted modules, relative imports resolved against the file's own
  package (``from .m import f`` in ``pkg/a/b.py`` -> ``pkg.a.m.f``); the imported name
  is kept (``from pkg import name`` -> ``pkg.name``): the resolver tries the longest
  prefix that is a file.
- JavaScript/TypeScript: relative specifiers resolved against the file's directory,
  code extensions dropped (``./util/x.js`` in ``src/a.js`` -> ``src/util/x``); bare
  packages as written (``react``).
- Go: the import path as written. Java: dotted (``a.b.C``; a wildcard gives ``a.b``).
- Rust: ``use`` paths with ``::`` -> ``.``, ``crate``/``self``/``super`` resolved
  against the file's module (``src/net/client.rs`` is ``net.client``); ``mod x;`` is an
  import of ``<module>.x``.
- C/C++: ``#include "x.h"`` resolved against the file's directory, and also as written
  unless it starts with ``.`` (an include path may hold it); ``<system>`` ones skipped.
  The resolver keeps whichever is a file.

Tree-sitter queries find the nodes; builtins of each language (``print``, ``len``,
``console.log``, ``System.out.println``, Go's ``make``) are skipped.
"""

from __future__ import annotations

import builtins
import logging
import posixpath
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

from tree_sitter import Node, Query, QueryCursor, Tree

from .languages import language_for
from .names import text_of, without_templates

log = logging.getLogger(__name__)

MAX_REFERENCES = 200  # per chunk: every import first, then the most frequent calls
MAX_NAME = 200  # characters of a spec or name; longer ones are generated noise
Found = tuple[int, str]  # (0-based row, "import:…" / "call:…")
ImportReader = Callable[[Node, str], Iterator[Found]]


@dataclass(frozen=True)
class Rules:
    """How one language names its imports and calls.

    The query's captures: ``@call`` a bare callee (skipped if a builtin), ``@member`` the
    last name of a member or qualified callee, ``@qualified`` a qualified name whose last
    identifier is the callee (``a::b::f<T>``), ``@skip`` callee names that are not
    references (``console.log``), ``@import`` nodes ``imports`` reads specs from.
    """

    query: str
    imports: ImportReader
    builtins: frozenset[str] = frozenset()
    member_builtins: frozenset[str] = frozenset()


def span_references(
    tree: Tree, language: str, path: str, spans: Sequence[tuple[int, int]]
) -> list[tuple[str, ...]]:
    """The references of each span of rows (0-based, inclusive) of a parsed file.

    A file the queries cannot read (a bug here, not in the file: tree-sitter parses
    anything) gives no references rather than failing its ingestion.
    """
    try:
        found = sorted(_file_references(tree, language, path))
    except Exception:  # references are optional evidence: log, never fail the file
        log.warning("no references for %s: extraction failed", path, exc_info=True)
        return [() for _ in spans]
    rows = [row for row, _ in found]
    return [
        _bounded(found[bisect_left(rows, start) : bisect_right(rows, end)]) for start, end in spans
    ]


def _bounded(found: Sequence[Found]) -> tuple[str, ...]:
    """Sorted unique references, at most MAX_REFERENCES: imports first, then frequent calls."""
    counts = Counter(reference for _, reference in found)
    ranked = sorted(counts, key=lambda ref: (not ref.startswith("import:"), -counts[ref], ref))
    return tuple(sorted(ranked[:MAX_REFERENCES]))


def _file_references(tree: Tree, language: str, path: str) -> Iterator[Found]:
    rules = RULES[language]
    captures = QueryCursor(_query(language)).captures(tree.root_node)
    skipped = {node.start_byte for node in captures.get("skip", [])}
    for capture, read in _CALLEES.items():
        for node in captures.get(capture, []):
            name = read(node)
            if node.start_byte in skipped or not _is_callee(name, capture, rules):
                continue
            yield node.start_point.row, f"call:{name}"
    for node in captures.get("import", []):
        for row, spec in rules.imports(node, path):
            if spec and len(spec) <= MAX_NAME:
                yield row, f"import:{spec}"


def _last_identifier(node: Node) -> str:
    """``a::b::make<T<U>>`` -> ``make``."""
    identifiers = re.findall(r"[A-Za-z_$][\w$]*", without_templates(text_of(node)))
    return identifiers[-1] if identifiers else ""


_CALLEES: dict[str, Callable[[Node], str]] = {
    "call": text_of,
    "member": text_of,
    "qualified": _last_identifier,
}


def _is_callee(name: str, capture: str, rules: Rules) -> bool:
    if not name or len(name) > MAX_NAME or (name.startswith("__") and name.endswith("__")):
        return False  # dunders are protocol methods every class defines
    skip = rules.member_builtins if capture == "member" else rules.builtins
    return name not in skip


@cache
def _query(language: str) -> Query:
    return Query(language_for(language), RULES[language].query)


def _dotted(node: Node | None) -> str:
    return re.sub(r"\s+", "", text_of(node))


# Python


def _python_imports(node: Node, path: str) -> Iterator[Found]:
    if node.type == "import_statement":
        for name in node.children_by_field_name("name"):
            dotted = name.child_by_field_name("name") if name.type == "aliased_import" else name
            yield name.start_point.row, _dotted(dotted)
        return
    module = node.child_by_field_name("module_name")
    if module is None:
        return
    base = _python_module(module, path)
    if base is None or base == "__future__":
        return
    names = node.children_by_field_name("name")
    if not names:  # ``import *``
        yield module.start_point.row, base
    for name in names:
        dotted = name.child_by_field_name("name") if name.type == "aliased_import" else name
        yield name.start_point.row, ".".join(part for part in (base, _dotted(dotted)) if part)


def _python_module(module: Node, path: str) -> str | None:
    """The absolute dotted module of ``from <module> import``; None above the repository."""
    if module.type != "relative_import":
        return _dotted(module)
    prefix = next((c for c in module.children if c.type == "import_prefix"), None)
    level = text_of(prefix).count(".")
    package = PurePosixPath(path).parent.parts  # a module's and an __init__'s alike
    if level - 1 > len(package):
        return None
    parts = list(package[: len(package) - (level - 1)])
    relative = next((c for c in module.named_children if c.type == "dotted_name"), None)
    return ".".join([*parts, _dotted(relative)] if relative is not None else parts)


# JavaScript and TypeScript

_JS_CODE = re.compile(r"\.(?:[cm]?[jt]s|jsx|tsx)$")


def _js_imports(node: Node, path: str) -> Iterator[Found]:
    spec = text_of(node)
    if spec.startswith("."):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
        if resolved == ".." or resolved.startswith("../"):
            return  # outside the repository
        spec = _JS_CODE.sub("", resolved)
    yield node.start_point.row, spec


# Go and Java


def _go_imports(node: Node, path: str) -> Iterator[Found]:
    yield node.start_point.row, text_of(node).strip('"`')


def _java_imports(node: Node, path: str) -> Iterator[Found]:
    name = next((c for c in node.named_children if c.type.endswith("identifier")), None)
    if name is not None:
        yield node.start_point.row, _dotted(name)


# Rust


def _rust_imports(node: Node, path: str) -> Iterator[Found]:
    module = _rust_module(path)
    if node.type == "identifier":  # ``mod x;`` or ``extern crate x;``
        inner = node.parent is not None and node.parent.type == "mod_item"
        yield node.start_point.row, ".".join([*module, text_of(node)] if inner else [text_of(node)])
        return
    for segments in _use_paths(node):
        resolved = _rust_resolved(segments, module)
        if resolved:
            yield node.start_point.row, ".".join(resolved)


def _rust_module(path: str) -> list[str]:
    """The module path of a file within its crate: ``src/net/client.rs`` -> ``net.client``."""
    file = PurePosixPath(path)
    folders = list(file.parent.parts)
    # Modules start after the last ``src``; without one, the file's folder is the root.
    folders = folders[len(folders) - folders[::-1].index("src") :] if "src" in folders else []
    return folders if file.stem in ("lib", "main", "mod") else [*folders, file.stem]


def _use_paths(node: Node | None) -> Iterator[list[str]]:
    """Each path a ``use`` tree names, as segments: ``a::{b, c::D}`` -> a.b, a.c.D."""
    if node is None:
        return
    if node.type in ("scoped_identifier", "scoped_use_list"):
        path = node.child_by_field_name("path")
        heads = list(_use_paths(path)) if path is not None else [[]]
        tails = (
            list(_use_paths(node.child_by_field_name("list")))
            if node.type == "scoped_use_list"
            else [[text_of(node.child_by_field_name("name"))]]
        )
        yield from ([*head, *tail] for head in heads for tail in tails)
    elif node.type == "use_list":
        for child in node.named_children:
            yield from _use_paths(child)
    elif node.type == "use_as_clause":
        yield from _use_paths(node.child_by_field_name("path"))
    elif node.type == "use_wildcard":
        for child in node.named_children[:1]:
            yield from _use_paths(child)
    elif node.type in ("identifier", "crate", "self", "super"):
        yield [text_of(node)]


def _rust_resolved(segments: list[str], module: list[str]) -> list[str]:
    """``crate::a`` -> a, ``self::a`` -> <module>.a, ``super::a`` -> <parent>.a."""
    if segments and segments[0] == "crate":
        segments, base = segments[1:], []
    elif segments and segments[0] in ("self", "super"):
        base = list(module)
        while segments and segments[0] in ("self", "super"):
            if segments.pop(0) == "super":
                base = base[:-1]
    else:
        base = []
    if segments and segments[-1] == "self":  # ``use a::{self}`` names ``a``
        segments = segments[:-1]
    return [*base, *segments] if "" not in segments else []


# C and C++


def _c_includes(node: Node, path: str) -> Iterator[Found]:
    spec = text_of(node).strip('"').strip()
    if not spec:
        return
    beside = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
    if beside != ".." and not beside.startswith("../"):
        yield node.start_point.row, beside
    if not spec.startswith("."):
        yield node.start_point.row, spec


# Builtins: names every program calls that are never a project's own code.

_PYTHON_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))
# Methods of str, list and dict every file calls: followed, they would tie each caller to
# the few project files that happen to define a method of the same name.
_PYTHON_METHODS = frozenset(
    {"append", "extend", "join", "format", "split", "rsplit", "splitlines", "strip"}
    | {"lstrip", "rstrip", "startswith", "endswith", "lower", "upper", "items", "keys"}
    | {"setdefault"}
)
_JS_GLOBALS = frozenset(
    {"require", "parseInt", "parseFloat", "isNaN", "setTimeout", "clearTimeout"}
    | {"setInterval", "clearInterval", "fetch", "Error", "TypeError", "RangeError"}
    | {"Map", "Set", "WeakMap", "WeakSet", "Date", "RegExp", "Promise", "Symbol"}
    | {"Array", "Object", "String", "Number", "Boolean", "BigInt", "URL"}
)
_JS_METHODS = frozenset(
    {"push", "pop", "slice", "splice", "concat", "join", "forEach", "indexOf", "includes"}
    | {"then", "catch", "finally", "toString", "hasOwnProperty", "call", "apply", "bind"}
)
_JS_OBJECTS = '"console" "JSON" "Math" "Object" "Array" "Promise" "Number" "String" "Reflect"'
_GO_BUILTINS = frozenset(
    {"append", "cap", "clear", "close", "complex", "copy", "delete", "imag", "len"}
    | {"make", "max", "min", "new", "panic", "print", "println", "real", "recover"}
    | {"string", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16"}
    | {"uint32", "uint64", "uintptr", "float32", "float64", "byte", "rune", "bool", "error"}
)
_RUST_BUILTINS = frozenset({"Some", "Ok", "Err", "drop"})
_C_BUILTINS = frozenset(
    {"printf", "fprintf", "sprintf", "snprintf", "puts", "malloc", "calloc", "realloc"}
    | {"free", "memcpy", "memmove", "memset", "memcmp", "strlen", "strcmp", "strncmp"}
    | {"strcpy", "strncpy", "strcat", "strdup", "assert", "exit", "abort"}
)
_CPP_BUILTINS = _C_BUILTINS | frozenset(
    {"static_cast", "dynamic_cast", "reinterpret_cast", "const_cast", "move", "forward"}
    | {"make_unique", "make_shared", "make_pair", "make_tuple", "swap"}
)

_JS_CALLS = f"""
(call_expression function: (identifier) @call)
(call_expression function: (member_expression property: (property_identifier) @member))
(new_expression constructor: (identifier) @call)
(new_expression constructor: (member_expression property: (property_identifier) @member))
(call_expression
  function: (member_expression object: (identifier) @_object property: (_) @skip)
  (#any-of? @_object {_JS_OBJECTS}))
(import_statement source: (string (string_fragment) @import))
(export_statement source: (string (string_fragment) @import))
(call_expression
  function: (identifier) @_require (#eq? @_require "require")
  arguments: (arguments . (string (string_fragment) @import)))
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @import)))
"""
_JSX = """
((jsx_opening_element name: (identifier) @call) (#match? @call "^[A-Z]"))
((jsx_self_closing_element name: (identifier) @call) (#match? @call "^[A-Z]"))
(jsx_opening_element name: (member_expression property: (property_identifier) @member))
(jsx_self_closing_element name: (member_expression property: (property_identifier) @member))
"""
_TS_REQUIRE = "(import_require_clause source: (string (string_fragment) @import))"
_C_CALLS = """
(call_expression function: (identifier) @call)
(call_expression function: (field_expression field: (field_identifier) @member))
(preproc_include path: (string_literal) @import)
"""
_CPP_CALLS = """
(call_expression function: (qualified_identifier) @qualified)
(call_expression function: (template_function name: (identifier) @call))
(call_expression function: (field_expression field: (template_method name: (_) @member)))
(new_expression type: (_) @qualified)
"""

RULES: dict[str, Rules] = {
    "python": Rules(
        """
        (call function: (identifier) @call)
        (call function: (attribute attribute: (identifier) @member))
        (decorator (identifier) @call)
        (decorator (attribute attribute: (identifier) @member))
        (import_statement) @import
        (import_from_statement) @import
        """,
        _python_imports,
        _PYTHON_BUILTINS,
        _PYTHON_METHODS,
    ),
    "javascript": Rules(_JS_CALLS + _JSX, _js_imports, _JS_GLOBALS, _JS_METHODS),
    "typescript": Rules(_JS_CALLS + _TS_REQUIRE, _js_imports, _JS_GLOBALS, _JS_METHODS),
    "tsx": Rules(_JS_CALLS + _TS_REQUIRE + _JSX, _js_imports, _JS_GLOBALS, _JS_METHODS),
    "go": Rules(
        """
        (call_expression function: (identifier) @call)
        (call_expression function: (selector_expression field: (field_identifier) @member))
        (composite_literal type: (type_identifier) @call)
        (composite_literal type: (qualified_type name: (type_identifier) @member))
        (composite_literal type: (generic_type type: (type_identifier) @call))
        (import_spec path: (_) @import)
        """,
        _go_imports,
        _GO_BUILTINS,
    ),
    "java": Rules(
        """
        (method_invocation name: (identifier) @member)
        (object_creation_expression type: (_) @qualified)
        (method_invocation
          object: (field_access object: (identifier) @_system)
          name: (identifier) @skip
          (#eq? @_system "System"))
        (import_declaration) @import
        """,
        _java_imports,
    ),
    "rust": Rules(
        """
        (call_expression function: (identifier) @call)
        (call_expression function: (scoped_identifier name: (identifier) @member))
        (call_expression function: (field_expression field: (field_identifier) @member))
        (generic_function function: (identifier) @call)
        (generic_function function: (scoped_identifier name: (identifier) @member))
        (generic_function function: (field_expression field: (field_identifier) @member))
        (struct_expression name: (type_identifier) @call)
        (struct_expression name: (scoped_type_identifier name: (type_identifier) @member))
        (use_declaration argument: (_) @import)
        (extern_crate_declaration name: (identifier) @import)
        (mod_item !body name: (identifier) @import)
        """,
        _rust_imports,
        _RUST_BUILTINS,
    ),
    "c": Rules(_C_CALLS, _c_includes, _C_BUILTINS),
    "cpp": Rules(_C_CALLS + _CPP_CALLS, _c_includes, _CPP_BUILTINS),
}
