"""Tool argument schemas: derived from a typed Python function, and their defaults applied.

``tool_from_function`` turns ``def f(glob: str, limit: int = 10, *, context:
ToolContext)`` into a ``ToolSpec`` (as simonw/llm does): each parameter is a
property typed by its annotation, a parameter with a default is optional and
its default is written into the schema, the docstring is the description
(``:param name:`` lines describe the properties). The parameter annotated
``ToolContext`` receives the call's context and is not an argument.

``with_defaults`` fills in the ``default`` of every property an argument object
lacks, so a function sees the defaults its schema promises, whether the schema
was derived or written by hand.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from .base import ToolContext

# Annotations a JSON argument can take: JSON Schema type by Python type (bool before int:
# a bool is an int to Python, never to JSON Schema).
SCALARS: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
PARAM_LINE = re.compile(r"^\s*:param\s+(\w+):\s*(.*)$")


class SignatureProblem(ValueError):
    """The function cannot be described as a tool; the message names the parameter."""


def schema_of_function(function: Callable[..., Any]) -> tuple[dict[str, Any], str | None]:
    """The JSON Schema of ``function``'s arguments, and the name of its context parameter."""
    try:
        hints = typing.get_type_hints(function)
    except Exception as exc:  # NameError for an annotation that names nothing importable
        raise SignatureProblem(f"its annotations cannot be resolved: {exc}") from None
    described = _param_descriptions(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    context_name: str | None = None
    for param in inspect.signature(function).parameters.values():
        hint = hints.get(param.name, inspect.Parameter.empty)
        if hint is ToolContext:
            context_name = param.name
            continue
        properties[param.name] = _property(param, hint, described.get(param.name, ""))
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema, context_name


def description_of_function(function: Callable[..., Any]) -> str:
    """The docstring without its ``:param:`` lines (they describe the properties)."""
    doc = inspect.getdoc(function) or ""
    lines = [line for line in doc.splitlines() if not PARAM_LINE.match(line)]
    return "\n".join(lines).strip()


def calling(function: Callable[..., Any], context_name: str | None) -> Callable[..., Any]:
    """``function`` in the ToolSpec calling convention: ``(arguments, context)``.

    An ``async def`` function gives a coroutine here, which the plugin runner awaits.
    """

    def call(arguments: dict[str, Any], context: ToolContext) -> Any:
        keywords = dict(arguments)
        if context_name is not None:
            keywords[context_name] = context
        return function(**keywords)

    # Logs and tracebacks name the plugin's function, not this wrapper.
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        if hasattr(function, attribute):
            setattr(call, attribute, getattr(function, attribute))
    return call


def _param_descriptions(doc: str) -> dict[str, str]:
    found = (PARAM_LINE.match(line) for line in doc.splitlines())
    return {m.group(1): m.group(2).strip() for m in found if m}


def _property(param: inspect.Parameter, hint: Any, description: str) -> dict[str, Any]:
    where = f"parameter {param.name!r}"
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        raise SignatureProblem(f"{where}: *args and **kwargs cannot be tool arguments")
    if param.kind is param.POSITIONAL_ONLY:
        raise SignatureProblem(f"{where}: positional-only parameters cannot be tool arguments")
    if hint is inspect.Parameter.empty:
        raise SignatureProblem(f"{where} needs a type annotation (str, int, list[str], ...)")
    schema = json_schema_of(hint, where)
    if description:
        schema["description"] = description
    if param.default is not inspect.Parameter.empty:
        schema["default"] = _json_default(param.default, where)
    return schema


def json_schema_of(hint: Any, where: str) -> dict[str, Any]:
    """The JSON Schema of one annotation; ``SignatureProblem`` for one JSON cannot carry."""
    if hint is Any:
        return {}
    if hint is type(None):
        return {"type": "null"}
    if isinstance(hint, type) and hint in SCALARS:
        return {"type": SCALARS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return _literal(args, where)
    if origin in (typing.Union, types.UnionType):
        return _union(args, where)
    if hint is list or origin is list:
        items = json_schema_of(args[0], where) if args else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    if hint is dict or origin is dict:
        if args and args[0] is not str:
            raise SignatureProblem(f"{where}: JSON object keys are strings (dict[str, ...])")
        values = json_schema_of(args[1], where) if args else {}
        return {"type": "object", "additionalProperties": values} if values else {"type": "object"}
    raise SignatureProblem(
        f"{where}: annotation {hint!r} has no JSON form; use str, int, float, bool, "
        "list[...], dict[str, ...], Literal[...], X | None or Any"
    )


def _literal(values: tuple[Any, ...], where: str) -> dict[str, Any]:
    # The exact type, not isinstance: an enum member (IntEnum, StrEnum) is an int or a
    # str to isinstance, yet it is not JSON data and its class names no JSON type.
    odd = [v for v in values if v is not None and type(v) not in SCALARS]
    if odd:
        raise SignatureProblem(
            f"{where}: Literal values must be str, int, float, bool or None, "
            f"not {odd[0]!r} ({type(odd[0]).__name__}); write the plain value"
        )
    kinds = {SCALARS[type(v)] if v is not None else "null" for v in values}
    schema: dict[str, Any] = {"enum": list(values)}
    if len(kinds) == 1:
        schema["type"] = kinds.pop()
    return schema


def _union(members: tuple[Any, ...], where: str) -> dict[str, Any]:
    schemas = [json_schema_of(member, where) for member in members]
    if any(not s for s in schemas):
        return {}  # Any | None is still anything
    simple = [s["type"] for s in schemas if set(s) == {"type"} and isinstance(s["type"], str)]
    if len(simple) == len(schemas):  # str | None -> {"type": ["string", "null"]}
        return {"type": simple}
    return {"anyOf": schemas}


def _json_default(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise SignatureProblem(f"{where}: its default {value!r} is not JSON data") from None


def with_defaults(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with the ``default`` of each property it lacks (nested objects too).

    Only plain ``properties`` are followed (not ``anyOf``/``$ref``): a default is
    applied where the schema says unambiguously which property it belongs to.
    """
    filled = dict(arguments)
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return filled
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        if name not in filled and "default" in sub:
            filled[name] = copy.deepcopy(sub["default"])
        elif isinstance(filled.get(name), dict):
            filled[name] = with_defaults(sub, filled[name])
    return filled
