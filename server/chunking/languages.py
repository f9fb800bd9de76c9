"""Which language a path is in, and for those with a tree-sitter grammar, how to read it.

Each :class:`Grammar` is a small table: which node types are definitions (and how to
name them), which merely wrap one (decorators, ``export``, ``template<…>``), which are
looked through (``#ifdef`` blocks, ``extern "C" {…}``), which statements may hold
definitions that are symbols but not chunks of their own (``if``/``try`` blocks), and
which sibling nodes belong to the definition after them (doc comments, Rust
attributes). ``code.py`` walks a syntax tree with nothing but these tables and the
resolvers of ``names.py``.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

from tree_sitter import Language, Parser

from .names import (
    Resolver,
    c_function,
    c_typedef,
    go_method,
    go_type,
    js_field,
    js_variable,
    named,
    rust_impl,
    scope,
)

_EXTENSIONS = {
    **dict.fromkeys(["py", "pyi", "pyw"], "python"),
    **dict.fromkeys(["js", "mjs", "cjs", "jsx"], "javascript"),
    **dict.fromkeys(["ts", "mts", "cts"], "typescript"),
    "tsx": "tsx",
    "go": "go",
    "java": "java",
    "rs": "rust",
    **dict.fromkeys(["c", "h"], "c"),
    **dict.fromkeys(["cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "inl"], "cpp"),
    **dict.fromkeys(["md", "markdown", "mdx"], "markdown"),
    "rst": "rst",
    **dict.fromkeys(["txt", "text"], "text"),
    **dict.fromkeys(["kt", "kts"], "kotlin"),
    "scala": "scala",
    "swift": "swift",
    "cs": "csharp",
    "rb": "ruby",
    "php": "php",
    **dict.fromkeys(["sh", "bash", "zsh"], "shell"),
    **dict.fromkeys(["yml", "yaml"], "yaml"),
    "json": "json",
    "toml": "toml",
    **dict.fromkeys(["ini", "cfg"], "ini"),
    **dict.fromkeys(["html", "htm"], "html"),
    "css": "css",
    "sql": "sql",
    "proto": "protobuf",
}
_FILE_NAMES = {
    "dockerfile": "dockerfile",
    "makefile": "make",
    "gnumakefile": "make",
    "cmakelists.txt": "cmake",
}
_CPP_IN_HEADER = re.compile(r"^\s*(?:class|namespace|template)\b|^\s*public:", re.MULTILINE)


def language_of(path: str) -> str:
    """The language of a file from its name: ``"python"``, ``"tsx"``, … or ``""`` if unknown."""
    name = PurePosixPath(path).name.lower()
    if name in _FILE_NAMES:
        return _FILE_NAMES[name]
    _, dot, extension = name.rpartition(".")
    return _EXTENSIONS.get(extension, "") if dot else ""


def refine_language(language: str, path: str, text: str) -> str:
    """A ``.h`` header written in C++ is read as C++ (the C grammar garbles classes)."""
    if language == "c" and path.endswith(".h") and _CPP_IN_HEADER.search(text):
        return "cpp"
    return language


@dataclass(frozen=True)
class Grammar:
    """How to find definitions in one language's syntax tree."""

    loader: tuple[str, str]  # grammar wheel module and the function returning its language
    definitions: Mapping[str, Resolver]  # node type -> name and kind, None if not one after all
    wrappers: frozenset[str] = frozenset()  # the definition is the first named child resolving
    transparent: frozenset[str] = frozenset()  # children count as if they were siblings
    leading: frozenset[str] = frozenset()  # adjacent nodes before a definition belong to it
    # Statements whose bodies may define things (``if``/``try`` at module level): their
    # definitions are symbols, while chunking keeps the statement as plain lines.
    blocks: frozenset[str] = frozenset()


_C_DEFINITIONS: dict[str, Resolver] = {
    "function_definition": c_function,
    "struct_specifier": named("struct", body=True),
    "union_specifier": named("struct", body=True),
    "enum_specifier": named("enum", body=True),
    "type_definition": c_typedef,
}
_C_THROUGH = frozenset(
    {"preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "preproc_elifdef"}
    | {"linkage_specification", "declaration_list"}
)
_JS_DEFINITIONS: dict[str, Resolver] = {
    "function_declaration": named("function"),
    "generator_function_declaration": named("function"),
    "class_declaration": named("class"),
    "method_definition": named("function"),
    "lexical_declaration": js_variable,
    "variable_declaration": js_variable,
    "field_definition": js_field,
}
_TS_DEFINITIONS: dict[str, Resolver] = {
    **_JS_DEFINITIONS,
    "abstract_class_declaration": named("class"),
    "interface_declaration": named("interface"),
    "enum_declaration": named("enum"),
    "type_alias_declaration": named("type"),
    # Interface and abstract members without a body, as Java's are.
    **dict.fromkeys(["method_signature", "abstract_method_signature"], named("function")),
    "public_field_definition": js_field,
    "internal_module": scope,
    "module": scope,
}
_JS_WRAPPERS = frozenset({"export_statement"})
_JS_BLOCKS = frozenset(
    {"if_statement", "else_clause", "statement_block", "try_statement"}
    | {"catch_clause", "finally_clause"}
)
_TS_WRAPPERS = frozenset({"export_statement", "ambient_declaration", "expression_statement"})

GRAMMARS: Mapping[str, Grammar] = {
    "python": Grammar(
        ("tree_sitter_python", "language"),
        {"function_definition": named("function"), "class_definition": named("class")},
        wrappers=frozenset({"decorated_definition"}),
        leading=frozenset({"comment"}),
        blocks=frozenset(
            {"if_statement", "elif_clause", "else_clause", "block", "with_statement"}
            | {"try_statement", "except_clause", "finally_clause"}
        ),
    ),
    "javascript": Grammar(
        ("tree_sitter_javascript", "language"),
        _JS_DEFINITIONS,
        wrappers=_JS_WRAPPERS,
        leading=frozenset({"comment"}),
        blocks=_JS_BLOCKS,
    ),
    "typescript": Grammar(
        ("tree_sitter_typescript", "language_typescript"),
        _TS_DEFINITIONS,
        wrappers=_TS_WRAPPERS,
        leading=frozenset({"comment"}),
        blocks=_JS_BLOCKS,
    ),
    "tsx": Grammar(
        ("tree_sitter_typescript", "language_tsx"),
        _TS_DEFINITIONS,
        wrappers=_TS_WRAPPERS,
        leading=frozenset({"comment"}),
        blocks=_JS_BLOCKS,
    ),
    "go": Grammar(
        ("tree_sitter_go", "language"),
        {
            "function_declaration": named("function"),
            "method_declaration": go_method,
            "type_declaration": go_type,
        },
        leading=frozenset({"comment"}),
    ),
    "java": Grammar(
        ("tree_sitter_java", "language"),
        {
            **dict.fromkeys(["class_declaration", "record_declaration"], named("class")),
            **dict.fromkeys(
                ["interface_declaration", "annotation_type_declaration"], named("interface")
            ),
            "enum_declaration": named("enum"),
            **dict.fromkeys(
                [
                    "method_declaration",
                    "constructor_declaration",
                    "compact_constructor_declaration",
                ],
                named("function"),
            ),
        },
        transparent=frozenset({"enum_body_declarations"}),
        leading=frozenset({"line_comment", "block_comment"}),
    ),
    "rust": Grammar(
        ("tree_sitter_rust", "language"),
        {
            **dict.fromkeys(["function_item", "function_signature_item"], named("function")),
            **dict.fromkeys(["struct_item", "union_item"], named("struct")),
            "enum_item": named("enum"),
            "trait_item": named("trait"),
            "impl_item": rust_impl,
            "mod_item": scope,
        },
        leading=frozenset({"line_comment", "block_comment", "attribute_item"}),
    ),
    "c": Grammar(
        ("tree_sitter_c", "language"),
        _C_DEFINITIONS,
        transparent=_C_THROUGH,
        leading=frozenset({"comment"}),
    ),
    "cpp": Grammar(
        ("tree_sitter_cpp", "language"),
        {
            **_C_DEFINITIONS,
            "class_specifier": named("class", body=True),
            "namespace_definition": scope,
        },
        wrappers=frozenset({"template_declaration"}),
        transparent=_C_THROUGH,
        leading=frozenset({"comment"}),
    ),
}


@cache
def language_for(language: str) -> Language:
    """The tree-sitter language of a grammar (loaded once per process)."""
    module, function = GRAMMARS[language].loader
    return Language(getattr(importlib.import_module(module), function)())


_parsers = threading.local()  # a Parser is not shared between threads


def parser_for(language: str) -> Parser | None:
    """A parser for ``language`` (grammar loaded once per process), or None without a grammar."""
    if language not in GRAMMARS:
        return None
    cached: dict[str, Parser] = _parsers.__dict__.setdefault("by_language", {})
    if language not in cached:
        cached[language] = Parser(language_for(language))
    return cached[language]
