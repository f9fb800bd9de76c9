"""Reading names and kinds off definition nodes: the resolvers the grammar tables use.

A resolver gets a node of a type its table maps, and returns the node whose ``body``
holds members, the definition's name and its kind, or None when the node is not a
definition after all (a forward declaration, a ``const`` holding a number).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from tree_sitter import Node


class Found(NamedTuple):
    """A definition node (whose ``body`` holds any members), its name and its kind."""

    node: Node
    name: str
    kind: str


Resolver = Callable[[Node], Found | None]


def text_of(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_SPACED_PUNCTUATION = re.compile(r"\s*(::|<|>|,|\.)\s*")


def without_templates(name: str) -> str:
    """``Foo<T<U>>::bar`` -> ``Foo::bar``: template arguments, nested ones too, dropped."""
    while (shorter := re.sub(r"<[^<>]*>", "", name)) != name:
        name = shorter
    return name


def clean_name(name: str) -> str:
    """``a::b::Foo<T>::bar`` -> ``a.b.Foo.bar``: one separator for every language.

    Macros tree-sitter cannot expand (``_GLIBCXX20_CONSTEXPR vector``) can leave words
    before a name: the last one is kept (from ``operator`` on, for operators). An
    implausibly long name is no name at all.
    """
    name = without_templates(_SPACED_PUNCTUATION.sub(r"\1", _COMMENT.sub(" ", name)).strip())
    words = name.split()
    first = next((i for i, w in enumerate(words) if w.endswith("operator")), len(words) - 1)
    name = " ".join(words[first:])  # "operator bool" keeps its space
    name = name.replace("::", ".").strip(".")
    return name if len(name) <= 200 else ""


def type_name(node: Node | None) -> str:
    """The bare type of a Go receiver or Rust impl: ``*Server`` / ``&'a Pair<K>`` -> ``Server``."""
    name = re.sub(r"[<\[(].*", "", text_of(node), flags=re.DOTALL)
    name = re.sub(r"^[\s*&]*(?:'\w+\s+)?(?:(?:mut|dyn|const)\s+)?", "", name)
    return clean_name(name)


# Resolvers: small functions named after what they read, shared across grammars.


def named(kind: str, *, body: bool = False) -> Resolver:
    """A definition named by its ``name`` field; with ``body``, only when it has a body."""

    def resolve(node: Node) -> Found | None:
        if body and node.child_by_field_name("body") is None:
            return None
        name = clean_name(text_of(node.child_by_field_name("name")))
        return Found(node, name, kind) if name else None

    return resolve


def scope(node: Node) -> Found | None:
    """A namespace or module block; anonymous ones qualify nothing but still hold members."""
    if node.child_by_field_name("body") is None:
        return None
    name = clean_name(text_of(node.child_by_field_name("name")).strip("\"'`"))
    return Found(node, name, "module")


def c_function(node: Node) -> Found | None:
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type.endswith("declarator"):
        inner = declarator.child_by_field_name("declarator")
        declarator = inner if inner is not None else next(iter(declarator.named_children), None)
    raw = text_of(declarator)
    if not (name := clean_name(raw)):
        return None
    # ``void Foo::bar() {…}`` defines a member outside its class.
    return Found(node, name, "method" if "::" in raw else "function")


def c_typedef(node: Node) -> Found | None:
    """``typedef struct {…} Foo;`` defines the struct Foo; other typedefs are plain lines."""
    kinds = {"struct_specifier": "struct", "union_specifier": "struct", "enum_specifier": "enum"}
    target = node.child_by_field_name("type")
    if target is None or target.type not in kinds or target.child_by_field_name("body") is None:
        return None
    name = clean_name(text_of(node.child_by_field_name("declarator")).lstrip("*"))
    return Found(target, name, kinds[target.type]) if name else None


def go_method(node: Node) -> Found | None:
    receiver = node.child_by_field_name("receiver")
    parameter = receiver.named_children[0] if receiver and receiver.named_children else None
    owner = type_name(parameter.child_by_field_name("type")) if parameter else ""
    name = text_of(node.child_by_field_name("name"))
    return Found(node, f"{owner}.{name}" if owner else name, "method") if name else None


def go_type(node: Node) -> Found | None:
    """``type X struct {…}``; a grouped ``type (…)`` block stays plain lines."""
    kinds = {"struct_type": "struct", "interface_type": "interface"}
    specs = [child for child in node.named_children if child.type == "type_spec"]
    if len(specs) != 1:
        return None
    name = text_of(specs[0].child_by_field_name("name"))
    kind = kinds.get(getattr(specs[0].child_by_field_name("type"), "type", ""), "type")
    return Found(node, name, kind) if name else None


def rust_impl(node: Node) -> Found | None:
    name = type_name(node.child_by_field_name("type"))
    return Found(node, name, "impl") if name else None


_JS_FUNCTION_VALUES = {
    "arrow_function": "function",
    "function_expression": "function",
    "function": "function",
    "generator_function": "function",
    "class": "class",
}


def js_variable(node: Node) -> Found | None:
    """``const add = (a, b) => a + b`` defines the function ``add``."""
    declarators = [c for c in node.named_children if c.type == "variable_declarator"]
    if len(declarators) != 1:
        return None
    name = declarators[0].child_by_field_name("name")
    value = declarators[0].child_by_field_name("value")
    kind = _JS_FUNCTION_VALUES.get(getattr(value, "type", ""))
    if kind is None or value is None or name is None or name.type != "identifier":
        return None
    return Found(value, text_of(name), kind)


def js_field(node: Node) -> Found | None:
    """A class field holding a function (``handle = (e) => {…}``) is a method."""
    name = node.child_by_field_name("name") or node.child_by_field_name("property")
    value = node.child_by_field_name("value")
    if name is None or _JS_FUNCTION_VALUES.get(getattr(value, "type", "")) != "function":
        return None
    return Found(node, clean_name(text_of(name)), "function")
