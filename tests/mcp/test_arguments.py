"""Arguments checked against a catalog schema name the field; URIs confine the path."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError

from projectqa.mcp.arguments import check, split_project
from projectqa.mcp.catalog import builtin_fallback, input_schema
from projectqa.mcp.errors import BadArgument
from projectqa.mcp.render import bounded
from projectqa.mcp.resources import parse_uri

SCHEMAS = {tool.name: tool for tool in builtin_fallback()}


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("search", {"query": "x", "top_k": 0}, "top_k"),
        ("search", {"query": "   "}, "query"),
        ("search", {}, "query"),
        ("search", {"query": "x", "kinds": ["wiki"]}, "kinds.0"),
        ("grep", {"pattern": "x", "colour": True}, "colour"),
        ("open_file", {"path": "a.py", "start_line": "3"}, "start_line"),
    ],
)
def test_a_refused_argument_is_named(tool: str, arguments: dict[str, object], field: str) -> None:
    with pytest.raises(BadArgument) as refused:
        check(SCHEMAS[tool].schema, arguments)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"invalid argument '{field}': ")


def test_defaults_are_filled_in() -> None:
    checked = check(SCHEMAS["search"].schema, {"query": "cart"})
    assert checked == {"query": "cart", "mode": "hybrid", "top_k": 10}


def test_project_argument_is_required_unless_fixed() -> None:
    assert "project" in input_schema(SCHEMAS["grep"], project_fixed=False)["required"]
    assert input_schema(SCHEMAS["grep"], project_fixed=True) == SCHEMAS["grep"].schema
    with pytest.raises(BadArgument, match="'project'"):
        split_project({"pattern": "x"}, None)
    assert split_project({"pattern": "x", "project": "shop"}, None) == ("shop", {"pattern": "x"})
    with pytest.raises(BadArgument, match="'project'"):
        split_project({"project": "other"}, "shop")


def test_a_long_text_is_cut_within_the_bound_and_says_so() -> None:
    text = bounded("x" * 100_000, 2000)
    assert len(text) <= 2000 and "[cut: " in text
    assert bounded("short", 2000) == "short"


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "projectqa://shop",
        "projectqa://shop/",
        "projectqa://shop/a/../../b",
        "projectqa://shop/%2E%2E/b",
        "projectqa://shop/C:%5Cwindows",
        "projectqa://shop/a.py?x=1",
    ],
)
def test_bad_uris_are_refused(uri: str) -> None:
    with pytest.raises(MCPError, match="uri"):
        parse_uri(uri)


def test_uri_parts() -> None:
    assert parse_uri("projectqa://shop/src/my%20file.py") == ("shop", "src/my file.py")


def test_resource_links_are_one_per_file_and_bounded() -> None:
    from projectqa.mcp.render import MAX_LINKS, links
    from projectqa.v1 import common_pb2

    cited = [common_pb2.Citation(path=f"src/m{i % 30}.py", kind="file") for i in range(90)]
    cited.append(common_pb2.Citation(document_key="#12", kind="issue"))
    made = links("shop", cited)
    assert len(made) == MAX_LINKS
    assert [link.uri for link in made[:2]] == [
        "projectqa://shop/src/m0.py",
        "projectqa://shop/src/m1.py",
    ]
