"""Tool schemas derived from typed signatures, refused when JSON cannot carry them, and run."""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator

from projectqa.plugin import Checkout, ContributionError, ToolContext, ToolSpec, hookimpl, tool
from projectqa.server.plugin_host import load_plugins
from projectqa.server.tools.plugin_runner import run_plugin_tool
from projectqa.server.tools.tool_schemas import with_defaults

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "example-plugin"


def everything(
    text: str,
    count: int,
    ratio: float = 0.5,
    exact: bool = False,
    tags: list[str] | None = None,
    mode: Literal["fast", "slow"] = "fast",
    weights: dict[str, float] | None = None,
    anything: Any = None,
    *,
    context: ToolContext,
) -> dict[str, Any]:
    """Do everything once.

    More words about it.

    :param text: what to work on
    :param count: how many times
    """
    return {"text": text, "count": count, "ratio": ratio, "project": context.project_slug}


def test_a_signature_becomes_a_json_schema() -> None:
    spec = ToolSpec.from_function(everything)

    assert spec.name == "everything"
    assert spec.description == "Do everything once.\n\nMore words about it."
    assert spec.arguments_schema == {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "what to work on"},
            "count": {"type": "integer", "description": "how many times"},
            "ratio": {"type": "number", "default": 0.5},
            "exact": {"type": "boolean", "default": False},
            "tags": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "default": None,
            },
            "mode": {"enum": ["fast", "slow"], "type": "string", "default": "fast"},
            "weights": {
                "anyOf": [
                    {"type": "object", "additionalProperties": {"type": "number"}},
                    {"type": "null"},
                ],
                "default": None,
            },
            "anything": {"default": None},
        },
        "additionalProperties": False,
        "required": ["text", "count"],
    }
    Draft202012Validator.check_schema(spec.arguments_schema)


def test_optional_scalars_and_overrides() -> None:
    @tool(name="renamed", description="Said otherwise.", side_effects=True)
    def original(path: str | None = None) -> str:
        """Not this."""
        return path or ""

    assert (original.name, original.description, original.side_effects) == (
        "renamed",
        "Said otherwise.",
        True,
    )
    assert original.arguments_schema["properties"]["path"] == {
        "type": ["string", "null"],
        "default": None,
    }


def untyped(path):  # type: ignore[no-untyped-def]
    return path


def star_args(*paths: str) -> int:
    return len(paths)


def a_set(names: set[str]) -> int:
    return len(names)


def int_keys(table: dict[int, str]) -> int:
    return len(table)


def odd_default(when: str = object()) -> str:  # type: ignore[assignment]
    return when


class Speed(enum.IntEnum):
    SLOW = 1


class Shade(enum.StrEnum):
    DARK = "dark"


def enum_literal(speed: Literal[Speed.SLOW, 2]) -> int:
    return int(speed)


def str_enum_literal(shade: Literal[Shade.DARK]) -> str:
    return str(shade)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (untyped, "parameter 'path' needs a type annotation"),
        (star_args, "parameter 'paths': *args and **kwargs cannot be tool arguments"),
        (a_set, "parameter 'names': annotation set[str] has no JSON form"),
        (int_keys, "parameter 'table': JSON object keys are strings"),
        (odd_default, "parameter 'when': its default <object object"),
        (enum_literal, "parameter 'speed': Literal values must be str, int, float, bool or None"),
        (str_enum_literal, "parameter 'shade': Literal values must be str, int, float, bool"),
    ],
)
def test_what_json_cannot_carry_is_refused_naming_the_parameter(function, message) -> None:
    with pytest.raises(ContributionError, match=f"tool {function.__name__!r}: .*") as raised:
        ToolSpec.from_function(function)
    assert message in str(raised.value)


class PlainFunctions:
    @hookimpl
    def projectqa_register_tools(self, register: Any) -> None:
        register(everything)  # a plain typed function: the host derives its spec
        register(a_set)  # refused alone: the plugin's other tools stay


def test_register_takes_a_plain_typed_function(caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="projectqa"):
        host = load_plugins(allow=[], extra=[("plain", PlainFunctions())])

    assert host.blocked == {}
    assert set(host.catalog.tools) == {"everything"}
    assert host.catalog.tools["everything"].item.arguments_schema["required"] == ["text", "count"]
    assert any("has no JSON form" in getattr(r, "reason", "") for r in caplog.records)


async def test_a_derived_tool_gets_its_defaults_and_the_context(tmp_path: Path) -> None:
    spec = ToolSpec.from_function(everything)
    context = ToolContext("prj_1", "alpha", (Checkout("con_1", "repo", tmp_path),))

    result = await run_plugin_tool(spec, {"text": "x", "count": 2}, context, timeout_s=30)

    assert not result.is_error, result.error
    assert result.value == {"text": "x", "count": 2, "ratio": 0.5, "project": "alpha"}


def test_defaults_fill_only_missing_values_with_fresh_copies() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 1},
            "items": {"type": "array", "default": [], "items": {"type": "object"}},
        },
    }
    default_list = with_defaults(schema, {})["items"]
    default_list.append("mutated")

    assert with_defaults(schema, {"a": 5}) == {"a": 5, "items": []}  # a fresh copy each time
    assert with_defaults({"type": "object"}, {"x": 1}) == {"x": 1}


@pytest.fixture
def example_markers() -> Iterator[ToolSpec]:
    """The example plugin's signature-derived tool, imported from its source folder."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from projectqa_example_plugin.markers import find_markers

        yield find_markers
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in [m for m in sys.modules if m.startswith("projectqa_example_plugin")]:
            del sys.modules[name]


async def test_the_example_find_markers_tool(example_markers: ToolSpec, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1  # TODO: name\n# FIXME later\n# TODO again\n")
    (tmp_path / "blob.bin").write_bytes(b"\0TODO")
    context = ToolContext("prj_1", "alpha", (Checkout("con_1", "repo", tmp_path),))

    assert example_markers.arguments_schema["properties"]["marker"]["enum"] == [
        "TODO",
        "FIXME",
        "XXX",
        "HACK",
    ]
    assert "required" not in example_markers.arguments_schema
    found = await run_plugin_tool(example_markers, {}, context, timeout_s=30)
    one = await run_plugin_tool(example_markers, {"limit": 1}, context, timeout_s=30)
    fixme = await run_plugin_tool(example_markers, {"marker": "FIXME"}, context, timeout_s=30)

    assert found.value == {
        "hits": [
            {"connector": "repo", "at": "src/a.py:1", "line": "x = 1  # TODO: name"},
            {"connector": "repo", "at": "src/a.py:3", "line": "# TODO again"},
        ],
        "truncated": False,
    }
    assert one.value["truncated"] is True and len(one.value["hits"]) == 1
    assert [h["at"] for h in fixme.value["hits"]] == ["src/a.py:2"]
