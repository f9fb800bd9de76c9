"""``projectqa mcp`` over stdio, driven by the MCP SDK's own client."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import CallToolResult, ResourceLink, TextContent

from projectqa.client import Client as QaClient
from tests.cli.test_search_tools import CART

from .conftest import LARGE_LINES, SHOP_FILES, VAULT_MARKER, Deployment, stdio_session

pytestmark = pytest.mark.model
CART_LINES = len(CART.splitlines())


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def links_of(result: CallToolResult) -> list[str]:
    return [block.uri for block in result.content if isinstance(block, ResourceLink)]


def catalog(deployment: Deployment, project: str) -> dict[str, dict[str, Any]]:
    """The ToolsService catalog's schemas, as the CLI's library reads them."""
    from google.protobuf import json_format

    with QaClient(deployment.address, deployment.admin_token) as client:
        return {
            tool.name: json_format.MessageToDict(tool.arguments_schema)
            for tool in client.list_tools(project)
        }


async def test_tools_are_the_catalogs_with_its_schemas(deployment: Deployment) -> None:
    async with stdio_session(deployment, "--project", "shop") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    expected = catalog(deployment, "shop")
    assert {"search", "find_symbol", "grep", "open_file", "project_metadata"} <= set(expected)
    offered = set(expected) - {"run_checks"}  # side effects: not offered without the flag
    assert set(listed) == offered | {"ask", "list_projects"}
    for name in offered:
        assert _ints(listed[name].input_schema) == _ints(expected[name]), name
    assert (
        listed["ask"].input_schema["properties"]["question"]["maxLength"]
        == (expected["search"]["properties"]["query"]["maxLength"])
    )


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


async def test_each_tool_answers_with_citations_and_links(deployment: Deployment) -> None:
    async with stdio_session(deployment, "--project", "shop") as client:
        search = await client.call_tool("search", {"query": "total price of the cart"})
        symbol = await client.call_tool("find_symbol", {"name": "charge_card"})
        grep = await client.call_tool("grep", {"pattern": "def total"})
        opened = await client.call_tool(
            "open_file", {"path": "shop/cart.py", "start_line": 4, "end_line": 6}
        )
        metadata = await client.call_tool("project_metadata", {})
        answer = await client.call_tool("ask", {"question": "how is the cart total computed?"})
        projects = await client.call_tool("list_projects", {})
        plugin = await client.call_tool("count_lines", {"target": "x"})
    for result in (search, symbol, grep, opened, metadata, answer, projects, plugin):
        assert not result.is_error, text_of(result)
    assert text_of(search).startswith("1. shop/cart.py:")
    assert "projectqa://shop/shop/cart.py" in links_of(search)
    assert "shop/payment.py:" in text_of(symbol) and "charge_card" in text_of(symbol)
    assert links_of(symbol) == ["projectqa://shop/shop/payment.py"]
    assert "shop/cart.py:" in text_of(grep) and "def total" in text_of(grep)
    assert text_of(opened).splitlines()[0] == f"shop/cart.py:4-6 of {CART_LINES} lines"
    assert "class Cart" in text_of(opened)
    assert '"slug": "shop"' in text_of(metadata)
    assert "Sources:" in text_of(answer) and "shop/cart.py:" in text_of(answer)
    assert "projectqa://shop/shop/cart.py" in links_of(answer)
    assert text_of(projects) == "shop  Shop"  # --project shop: the one project served
    assert text_of(plugin) == "0"


async def test_a_bad_argument_is_a_tool_error_naming_the_field(deployment: Deployment) -> None:
    async with stdio_session(deployment, "--project", "shop") as client:
        too_many = await client.call_tool("search", {"query": "cart", "top_k": 500})
        missing = await client.call_tool("grep", {})
        unknown = await client.call_tool("open_file", {"path": "shop/cart.py", "lines": 3})
        other_project = await client.call_tool("search", {"query": "x", "project": "vault"})
    assert too_many.is_error and "'top_k'" in text_of(too_many)
    assert missing.is_error and "'pattern'" in text_of(missing)
    assert unknown.is_error and "'lines'" in text_of(unknown)
    assert other_project.is_error and "'project'" in text_of(other_project)


async def test_without_a_fixed_project_tools_take_one(deployment: Deployment) -> None:
    async with stdio_session(deployment) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        missing = await client.call_tool("search", {"query": "refunds"})
        found = await client.call_tool("search", {"query": "refunds", "project": "shop"})
    assert "project" in tools["search"].input_schema["required"]
    assert "project" not in tools["list_projects"].input_schema["properties"]
    assert missing.is_error and "'project'" in text_of(missing)
    assert not found.is_error and "docs/refunds.md" in text_of(found)


async def test_a_token_without_access_gets_an_error_and_nothing_else(
    deployment: Deployment,
) -> None:
    async with stdio_session(deployment, token=deployment.member_token) as client:
        projects = await client.call_tool("list_projects", {})
        results = [
            await client.call_tool(name, {"project": "vault", **args})
            for name, args in (
                ("search", {"query": "combination"}),
                ("grep", {"pattern": "ZEBRA"}),
                ("open_file", {"path": "vault.md"}),
                ("ask", {"question": "what is the combination?"}),
                ("project_metadata", {}),
            )
        ]
        own = await client.call_tool("search", {"project": "shop", "query": "refund"})
    assert "vault" not in text_of(projects)
    for result in results:
        assert result.is_error
        assert "not found" in text_of(result) and VAULT_MARKER not in text_of(result)
        assert not links_of(result)
    assert not own.is_error


async def test_large_results_are_cut_and_say_so(deployment: Deployment) -> None:
    async with stdio_session(deployment, "--project", "shop", "--max-result-chars", "5000") as c:
        whole = await c.call_tool("open_file", {"path": "data/large.txt"})
        many = await c.call_tool("grep", {"pattern": "quick", "max_matches": 1000})
    for result in (whole, many):
        text = text_of(result)
        assert not result.is_error
        assert len(text) <= 5000
        assert "[cut: " in text and "characters left out" in text
    assert LARGE_LINES > 1000  # the file is far larger than the bound


async def test_side_effecting_tools_need_the_flag(deployment: Deployment) -> None:
    async with stdio_session(deployment, "--project", "shop") as client:
        refused = await client.call_tool("run_checks", {"target": "all"})
    async with stdio_session(deployment, "--project", "shop", "--allow-side-effects") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        allowed = await client.call_tool("run_checks", {"target": "all"})
    assert refused.is_error and "--allow-side-effects" in text_of(refused)
    assert "run_checks" in names
    assert not allowed.is_error and text_of(allowed) == "ok"


async def test_the_server_still_wants_a_project_admin_for_side_effects(
    deployment: Deployment,
) -> None:
    member = deployment.member_token
    async with stdio_session(deployment, "-p", "shop", "--allow-side-effects", token=member) as c:
        denied = await c.call_tool("run_checks", {"target": "all"})
    assert denied.is_error and text_of(denied).startswith("permission denied: ")


async def test_files_are_resources_read_through_openfile(deployment: Deployment) -> None:
    async with stdio_session(deployment, "--project", "shop") as client:
        templates = (await client.list_resource_templates()).resource_templates
        listing = await client.list_resources()
        read = await client.read_resource("projectqa://shop/shop/cart.py")
    assert templates[0].uri_template == "projectqa://{project}/{+path}"
    # Every indexed file, nested ones too, by path (ToolsService.ListFiles).
    assert [r.uri for r in listing.resources] == [f"projectqa://shop/{p}" for p in SHOP_FILES]
    assert listing.next_cursor is None
    cart = next(r for r in listing.resources if r.uri.endswith("/shop/cart.py"))
    assert cart.name == "shop/shop/cart.py" and cart.size == len(CART.encode())
    [contents] = read.contents
    assert contents.uri == "projectqa://shop/shop/cart.py"
    assert getattr(contents, "text", "").startswith('"""The shopping cart."""')


async def test_resources_listed_are_the_tokens_projects_only(deployment: Deployment) -> None:
    async with stdio_session(deployment, token=deployment.member_token) as client:
        listed = [r.uri for r in (await client.list_resources()).resources]
    async with stdio_session(deployment) as client:  # the admin reads both
        everything = [r.uri for r in (await client.list_resources()).resources]
    assert listed == [f"projectqa://shop/{p}" for p in SHOP_FILES]
    assert set(everything) == {*listed, "projectqa://vault/vault.md"}


@pytest.mark.parametrize(
    "uri",
    [
        "projectqa://shop/../vault/vault.md",
        "projectqa://shop/shop/../../../../etc/passwd",
        "projectqa://shop/%2e%2e/%2e%2e/etc/passwd",
        "projectqa://shop//etc/passwd",
        "projectqa://vault/vault.md",
    ],
)
async def test_a_resource_outside_what_the_token_may_read_is_refused(
    deployment: Deployment, uri: str
) -> None:
    from mcp.shared.exceptions import MCPError

    async with stdio_session(deployment, token=deployment.member_token) as client:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(uri)
    assert VAULT_MARKER not in str(refused.value) and "root:x:" not in str(refused.value)
    assert "uri" in refused.value.message or "not found" in refused.value.message
