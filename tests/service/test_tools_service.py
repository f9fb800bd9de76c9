"""ToolsService end to end: the catalog, InvokeTool for every kind of tool, the typed RPCs.

One server per module over a real ingested project (see ``retrieval_fixtures``):
built-in tools read the ``local`` connectors' folders, plugin tools come from
the ``probe`` plugin (timeout 0.5 s), script tools are real processes.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf import json_format, struct_pb2

from projectqa.v1 import admin_pb2, retrieval_pb2, tools_pb2

from .helpers import Code, rpc_error
from .retrieval_fixtures import (
    BINARY_FILE,
    CART_PY,
    CODE_CONNECTOR,
    ESCAPING_LINK,
    IGNORED_FILE,
    IGNORED_SECRET,
    NOTES_CONNECTOR,
    NOTES_MD,
    PLUGIN_TIMEOUT_S,
    PRICING_PY,
    PROJECT,
    SECRET_TEXT,
    SHOP_FILES,
    Caller,
    IndexedProject,
    definition_lines,
    file_lines,
    indexed_project,
)

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

BUILTINS = {"search", "keyword_search", "grep", "open_file", "find_symbol", "project_metadata"}
_names = itertools.count()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


def unique(prefix: str) -> str:
    """A name no other test of the module uses (they share one server)."""
    return f"{prefix}-{next(_names)}"


async def catalog(caller: Caller, project: str = PROJECT) -> dict[str, tools_pb2.Tool]:
    response = await caller.tools.ListTools(tools_pb2.ListToolsRequest(project=project))
    return {tool.name: tool for tool in response.tools}


async def invoke(
    caller: Caller, tool: str, arguments: dict[str, Any] | None = None, project: str = PROJECT
) -> tools_pb2.InvokeToolResponse:
    request = tools_pb2.InvokeToolRequest(project=project, tool=tool)
    request.arguments.update(arguments or {})
    return await caller.tools.InvokeTool(request)


def result_of(response: tools_pb2.InvokeToolResponse) -> Any:
    return json_format.MessageToDict(response.result)


async def enable_plugin_tool(qa: IndexedProject, tool: str, enabled: bool = True) -> None:
    request = admin_pb2.SetProjectToolEnabledRequest(project=PROJECT, tool=tool, enabled=enabled)
    await qa.admin.admin.SetProjectToolEnabled(request)


async def script_tool(
    qa: IndexedProject,
    command: list[str],
    properties: dict[str, Any] | None = None,
    project: str = PROJECT,
    **fields: Any,
) -> str:
    """Create an enabled script tool; return its (unique) name."""
    name = unique("script")
    schema = struct_pb2.Struct()
    if properties is not None:
        schema.update({"type": "object", "properties": properties})
    tool = admin_pb2.CustomTool(
        name=name,
        description=f"test tool running {command[0]}",
        command=command,
        arguments_schema=schema,
        enabled=fields.pop("enabled", True),
        **fields,
    )
    request = admin_pb2.CreateCustomToolRequest(project=project, tool=tool)
    return (await qa.admin.admin.CreateCustomTool(request)).tool.name


async def new_project(qa: IndexedProject) -> str:
    slug = unique("catalog")
    await qa.admin.admin.CreateProject(admin_pb2.CreateProjectRequest(slug=slug, name=slug))
    return slug


# ------------------------------------------------------------------ ListTools
async def test_the_catalog_starts_with_the_six_builtins(qa: IndexedProject) -> None:
    tools = await catalog(qa.admin, await new_project(qa))

    assert set(tools) == BUILTINS
    assert list(tools) == sorted(tools)  # ordered by name
    for tool in tools.values():
        schema = json_format.MessageToDict(tool.arguments_schema)
        assert schema["type"] == "object", tool.name
        assert tool.provider == "builtin"
        assert tool.origin == tools_pb2.TOOL_ORIGIN_BUILTIN
        assert not tool.side_effects
        assert tool.description
    grep = json_format.MessageToDict(tools["grep"].arguments_schema)
    assert grep["required"] == ["pattern"]
    assert grep["properties"]["pattern"]["type"] == "string"


async def test_a_plugin_tool_is_listed_only_while_the_project_enables_it(
    qa: IndexedProject,
) -> None:
    slug = await new_project(qa)
    assert "probe_echo" not in await catalog(qa.admin, slug)

    request = admin_pb2.SetProjectToolEnabledRequest(project=slug, tool="probe_echo", enabled=True)
    await qa.admin.admin.SetProjectToolEnabled(request)
    tool = (await catalog(qa.admin, slug))["probe_echo"]
    assert (tool.origin, tool.provider) == (tools_pb2.TOOL_ORIGIN_PLUGIN, "probe")
    assert json_format.MessageToDict(tool.arguments_schema)["properties"] == {
        "text": {"type": "string"}
    }

    request.enabled = False
    await qa.admin.admin.SetProjectToolEnabled(request)
    assert "probe_echo" not in await catalog(qa.admin, slug)


async def test_a_script_tool_is_listed_while_enabled_and_until_deleted(
    qa: IndexedProject,
) -> None:
    slug = await new_project(qa)
    name = await script_tool(qa, ["echo", "{text}"], {"text": {"type": "string"}}, project=slug)

    tool = (await catalog(qa.admin, slug))[name]
    assert (tool.origin, tool.provider) == (tools_pb2.TOOL_ORIGIN_SCRIPT, slug)
    assert tool.description == "test tool running echo"

    update = admin_pb2.UpdateCustomToolRequest(project=slug, name=name, enabled=False)
    await qa.admin.admin.UpdateCustomTool(update)
    assert name not in await catalog(qa.admin, slug)
    update.enabled = True
    await qa.admin.admin.UpdateCustomTool(update)
    assert name in await catalog(qa.admin, slug)

    await qa.admin.admin.DeleteCustomTool(
        admin_pb2.DeleteCustomToolRequest(project=slug, name=name)
    )
    assert name not in await catalog(qa.admin, slug)


async def test_a_disabled_script_tool_is_not_listed(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["true"], enabled=False)

    assert name not in await catalog(qa.admin)
    await rpc_error(invoke(qa.admin, name), Code.NOT_FOUND, name)


async def test_members_list_tools_and_outsiders_do_not_see_the_project(
    qa: IndexedProject,
) -> None:
    assert set(await catalog(qa.member)) >= BUILTINS

    request = tools_pb2.ListToolsRequest(project=PROJECT)
    await rpc_error(qa.outsider.tools.ListTools(request), Code.NOT_FOUND, PROJECT)


# ------------------------------------------------------------------ InvokeTool: checks
@pytest.mark.parametrize("tool", ["no_such_tool", "probe_never_enabled"])
async def test_a_tool_not_in_the_catalog_is_not_found(qa: IndexedProject, tool: str) -> None:
    await rpc_error(invoke(qa.admin, tool), Code.NOT_FOUND, tool)


async def test_a_plugin_tool_not_enabled_is_not_found(qa: IndexedProject) -> None:
    await enable_plugin_tool(qa, "probe_echo", enabled=False)

    await rpc_error(invoke(qa.admin, "probe_echo", {"text": "x"}), Code.NOT_FOUND, "probe_echo")


async def test_an_empty_tool_name_is_invalid(qa: IndexedProject) -> None:
    await rpc_error(invoke(qa.admin, ""), Code.INVALID_ARGUMENT, "tool")


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("grep", {}, "arguments.pattern"),
        ("grep", {"pattern": "x", "bogus": 1}, "arguments.bogus"),
        ("grep", {"pattern": "x", "context_lines": 11}, "arguments.context_lines"),
        ("search", {"query": "cart", "top_k": "ten"}, "arguments.top_k"),
        ("search", {"query": "cart", "top_k": 101}, "arguments.top_k"),
        ("search", {"query": "cart", "mode": "psychic"}, "arguments.mode"),
        ("search", {"query": "cart", "kinds": ["tweet"]}, "arguments.kinds.0"),
        ("open_file", {"path": 7}, "arguments.path"),
        ("project_metadata", {"verbose": True}, "arguments.verbose"),
    ],
)
async def test_arguments_the_schema_refuses_are_invalid_and_named(
    qa: IndexedProject, tool: str, arguments: dict[str, Any], field: str
) -> None:
    await rpc_error(invoke(qa.admin, tool, arguments), Code.INVALID_ARGUMENT, field)


async def test_invoke_on_another_project_is_not_found(qa: IndexedProject) -> None:
    call = invoke(qa.member, "grep", {"pattern": "Cart"}, project=qa.hidden_project_id)

    details = await rpc_error(call, Code.NOT_FOUND)
    assert details == f"project {qa.hidden_project_id!r} not found"


# ------------------------------------------------------------------ InvokeTool: built-ins
async def test_grep_by_name_finds_the_line(qa: IndexedProject) -> None:
    response = await invoke(qa.member, "grep", {"pattern": r"def apply_discount\("})

    assert not response.is_error, response.error
    [match] = result_of(response)["matches"]
    start, _ = definition_lines(PRICING_PY, "apply_discount")
    assert match["path"] == "shop/pricing.py"
    assert match["line"]["number"] == start
    assert match["line"]["text"] == PRICING_PY.split("\n")[start - 1]
    assert match["connector_id"] == qa.code_connector_id


async def test_open_file_by_name_returns_the_content(qa: IndexedProject) -> None:
    response = await invoke(
        qa.member, "open_file", {"path": "shop/cart.py", "start_line": 2, "end_line": 4}
    )

    assert not response.is_error, response.error
    result = result_of(response)
    assert result["content"] == file_lines(qa.shop, "shop/cart.py", 2, 4)
    assert (result["start_line"], result["end_line"]) == (2, 4)
    assert result["total_lines"] == CART_PY.count("\n")


async def test_search_by_name_returns_cited_hits(qa: IndexedProject) -> None:
    response = await invoke(qa.member, "search", {"query": "Cart.total_price", "top_k": 3})

    assert not response.is_error, response.error
    hits = result_of(response)["hits"]
    start, end = definition_lines(CART_PY, "Cart.total_price")
    assert 1 <= len(hits) <= 3
    assert hits[0]["citation"] == f"shop/cart.py:{start}-{end}"
    for hit in hits:
        assert hit["citation"].startswith(hit["path"] + ":")
        assert "text" in hit


async def test_keyword_search_by_name_returns_cited_hits(qa: IndexedProject) -> None:
    response = await invoke(qa.member, "keyword_search", {"query": "parse_price"})

    assert not response.is_error, response.error
    hits = result_of(response)["hits"]
    start, end = definition_lines(PRICING_PY, "parse_price")
    assert f"shop/pricing.py:{start}-{end}" in [hit["citation"] for hit in hits[:3]]


async def test_find_symbol_by_name(qa: IndexedProject) -> None:
    response = await invoke(qa.member, "find_symbol", {"name": "Cart.total_price", "exact": True})

    assert not response.is_error, response.error
    symbols = result_of(response)["symbols"]
    assert [s["path"] for s in symbols] == ["shop/cart.py"]


async def test_project_metadata_by_name(qa: IndexedProject) -> None:
    response = await invoke(qa.member, "project_metadata")

    assert not response.is_error, response.error
    result = result_of(response)
    assert result["slug"] == PROJECT
    assert {entry["language"] for entry in result["languages"]} >= {"python", "markdown"}


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", ESCAPING_LINK])
async def test_open_file_by_name_outside_the_checkout_is_an_error_result(
    qa: IndexedProject, path: str
) -> None:
    response = await invoke(qa.member, "open_file", {"path": path})

    assert response.is_error
    assert "path" in response.error
    assert "root:" not in json_format.MessageToJson(response)


async def test_a_built_in_that_fails_reports_why(qa: IndexedProject) -> None:
    response = await invoke(qa.member, "grep", {"pattern": "(unclosed"})

    assert response.is_error
    assert "unclosed group" in response.error


@pytest.mark.parametrize("tool", ["search", "keyword_search"])
async def test_a_search_tool_with_a_malformed_glob_is_an_error_result(
    qa: IndexedProject, tool: str
) -> None:
    response = await invoke(qa.member, tool, {"query": "cart", "path_globs": ["!"]})

    assert response.is_error
    assert "path_globs" in response.error


# ------------------------------------------------------------------ InvokeTool: plugin tools
async def test_a_plugin_tool_gets_its_arguments_and_the_project(qa: IndexedProject) -> None:
    await enable_plugin_tool(qa, "probe_echo")

    response = await invoke(qa.member, "probe_echo", {"text": "hello; rm -rf /"})

    assert not response.is_error, response.error
    assert result_of(response) == {
        "arguments": {"text": "hello; rm -rf /"},
        "project": PROJECT,
        "checkouts": [CODE_CONNECTOR, NOTES_CONNECTOR],
    }
    assert response.duration_ms >= 0


@pytest.mark.parametrize(
    ("tool", "fragments"),
    [
        ("probe_raise", ("RuntimeError", "the probe exploded on purpose")),
        ("probe_stall", (f"timed out after {PLUGIN_TIMEOUT_S:g} s",)),
        ("probe_set", ("not JSON", "set")),
        ("probe_nan", ("not JSON",)),
    ],
)
async def test_a_misbehaving_plugin_tool_is_an_error_result_and_the_server_goes_on(
    qa: IndexedProject, tool: str, fragments: tuple[str, ...]
) -> None:
    await enable_plugin_tool(qa, tool)
    await enable_plugin_tool(qa, "probe_echo")

    response = await invoke(qa.member, tool, {"text": "x"})

    assert response.is_error
    for fragment in fragments:
        assert fragment in response.error
    assert not response.HasField("result") or response.result.WhichOneof("kind") in (
        None,
        "null_value",
    )
    after = await invoke(qa.member, "probe_echo", {"text": "still there"})
    assert not after.is_error, after.error
    assert (await catalog(qa.member))[tool].origin == tools_pb2.TOOL_ORIGIN_PLUGIN


async def test_a_plugin_tool_with_side_effects_needs_a_project_admin(qa: IndexedProject) -> None:
    await enable_plugin_tool(qa, "probe_deploy")

    await rpc_error(invoke(qa.member, "probe_deploy", {"text": "x"}), Code.PERMISSION_DENIED)
    response = await invoke(qa.admin, "probe_deploy", {"text": "x"})
    assert not response.is_error, response.error
    assert (await catalog(qa.member))["probe_deploy"].side_effects


# ------------------------------------------------------------------ InvokeTool: script tools
TEXT = {"text": {"type": "string"}}
SHELL_BAIT = "$(touch pwned) `touch pwned2`; touch pwned3 | cat > pwned4 && echo * > out"


async def test_a_script_tool_passes_shell_metacharacters_literally(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["echo", "{text}"], TEXT)

    response = await invoke(qa.member, name, {"text": SHELL_BAIT})

    assert not response.is_error, response.error
    assert result_of(response) == {
        "exit_code": 0,
        "stdout": SHELL_BAIT + "\n",
        "stderr": "",
        "truncated": False,
    }
    created = {p.name for p in qa.shop.iterdir()} - {p.split("/")[0] for p in SHOP_FILES}
    assert created == {"assets", ESCAPING_LINK, IGNORED_FILE, ".gitignore"}  # nothing new


async def test_a_script_tool_sees_its_arguments_in_the_environment(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["printenv", "PROJECTQA_ARG_TEXT"], TEXT)

    response = await invoke(qa.member, name, {"text": "a b\tc"})

    assert not response.is_error, response.error
    assert result_of(response)["stdout"] == "a b\tc\n"


async def test_a_script_tool_runs_in_the_checkout(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["cat", "README.md"])

    response = await invoke(qa.member, name)

    assert not response.is_error, response.error
    assert result_of(response)["stdout"] == SHOP_FILES["README.md"]


async def test_a_script_tool_whose_command_is_missing_is_an_error_result(
    qa: IndexedProject,
) -> None:
    name = await script_tool(qa, ["projectqa-no-such-program-h8"])

    response = await invoke(qa.member, name)

    assert response.is_error
    assert "projectqa-no-such-program-h8" in response.error and "not found" in response.error


async def test_a_script_tool_that_exits_non_zero_is_an_error_result(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["sh", "-c", "echo half done; echo disk on fire >&2; exit 3"])

    response = await invoke(qa.member, name)

    assert response.is_error
    assert "exited with code 3" in response.error and "disk on fire" in response.error
    result = result_of(response)
    assert (result["exit_code"], result["stdout"]) == (3, "half done\n")


async def test_a_script_tool_that_floods_output_is_killed(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["yes"], max_output_bytes=1024, timeout_seconds=30)

    response = await invoke(qa.member, name)

    assert response.is_error
    assert "output exceeded 1024 bytes" in response.error
    result = result_of(response)
    assert result["truncated"] is True
    assert len(result["stdout"].encode()) <= 1024
    assert result["stdout"].startswith("y\ny\n")


async def test_a_script_tool_that_hangs_is_killed_at_its_timeout(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["sleep", "120"], timeout_seconds=1)

    response = await invoke(qa.member, name)

    assert response.is_error
    assert "timed out after 1 s" in response.error
    after = await invoke(qa.member, "grep", {"pattern": "class Cart"})
    assert not after.is_error


async def test_a_side_effecting_script_tool_needs_a_project_admin(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["echo", "deployed"], side_effects=True)

    await rpc_error(invoke(qa.member, name), Code.PERMISSION_DENIED)
    response = await invoke(qa.admin, name)
    assert not response.is_error, response.error
    assert result_of(response)["stdout"] == "deployed\n"


async def test_script_tool_arguments_are_checked_against_its_schema(qa: IndexedProject) -> None:
    name = await script_tool(qa, ["echo", "{count}"], {"count": {"type": "integer"}})

    await rpc_error(invoke(qa.member, name, {"count": "many"}), Code.INVALID_ARGUMENT, "count")
    response = await invoke(qa.member, name, {"count": 3})
    assert result_of(response)["stdout"] == "3\n"


# ------------------------------------------------------------------ Grep
async def grep(caller: Caller, pattern: str, **fields: Any) -> tools_pb2.GrepResponse:
    request = tools_pb2.GrepRequest(project=PROJECT, pattern=pattern, **fields)
    return await caller.tools.Grep(request)


async def test_grep_finds_lines_with_their_numbers(qa: IndexedProject) -> None:
    response = await grep(qa.member, r"def \w+_price\(")

    found = [(m.path, m.line.number, m.line.text) for m in response.matches]
    cart_start, _ = definition_lines(CART_PY, "Cart.total_price")
    parse_start, _ = definition_lines(PRICING_PY, "parse_price")
    assert found == [
        ("shop/cart.py", cart_start, CART_PY.split("\n")[cart_start - 1]),
        ("shop/pricing.py", parse_start, PRICING_PY.split("\n")[parse_start - 1]),
    ]
    assert {m.connector_id for m in response.matches} == {qa.code_connector_id}
    assert {m.commit for m in response.matches} == {""}
    assert not response.truncated


async def test_grep_context_lines(qa: IndexedProject) -> None:
    response = await grep(qa.member, "def apply_discount", context_lines=1)

    [match] = response.matches
    lines = PRICING_PY.split("\n")
    number = match.line.number
    assert [(ln.number, ln.text) for ln in match.before] == [(number - 1, lines[number - 2])]
    assert [(ln.number, ln.text) for ln in match.after] == [(number + 1, lines[number])]


async def test_grep_globs_case_and_connector(qa: IndexedProject) -> None:
    markdown = await grep(qa.member, "DISCOUNT", ignore_case=True, path_globs=["*.md"])
    notes = await grep(qa.member, "the", connector=NOTES_CONNECTOR)
    literal = await grep(qa.member, "prices[sku] * count", fixed_strings=True)

    assert {m.path for m in markdown.matches} == {"README.md"}
    assert notes.matches and {m.path for m in notes.matches} == {"release.md"}
    assert {m.connector_id for m in notes.matches} == {qa.notes_connector_id}
    assert [m.path for m in literal.matches] == ["shop/cart.py"]


async def test_grep_stops_at_max_matches(qa: IndexedProject) -> None:
    response = await grep(qa.member, "self", max_matches=2)

    assert len(response.matches) == 2
    assert (response.truncated, response.truncated_reason) == (True, "max_matches")


async def test_grep_does_not_follow_a_symlink_out_of_the_checkout(qa: IndexedProject) -> None:
    response = await grep(qa.member, SECRET_TEXT.strip(), fixed_strings=True)

    assert list(response.matches) == []


@pytest.mark.parametrize(
    ("pattern", "fragments"),
    [
        ("(unclosed", ("pattern", "regex parse error", "unclosed group")),
        ("[z-a]", ("pattern", "regex parse error", "invalid character class range")),
        (r"\w{500}{500}", ("pattern", "size limit")),
    ],
)
async def test_grep_refuses_a_bad_regex_with_the_parsers_message(
    qa: IndexedProject, pattern: str, fragments: tuple[str, ...]
) -> None:
    await rpc_error(grep(qa.member, pattern), Code.INVALID_ARGUMENT, *fragments)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pattern": ""}, "pattern"),
        ({"pattern": "x", "context_lines": 11}, "context_lines"),
        ({"pattern": "x", "max_matches": -1}, "max_matches"),
        ({"pattern": "x", "max_matches": 1001}, "max_matches"),
    ],
)
async def test_grep_bad_request_names_the_field(
    qa: IndexedProject, fields: dict[str, Any], field: str
) -> None:
    request = tools_pb2.GrepRequest(project=PROJECT, **fields)

    await rpc_error(qa.member.tools.Grep(request), Code.INVALID_ARGUMENT, field)


async def test_grep_of_an_unknown_connector_is_not_found(qa: IndexedProject) -> None:
    await rpc_error(grep(qa.member, "x", connector="nope"), Code.NOT_FOUND, "nope")


async def test_grep_of_a_hidden_project_is_not_found(qa: IndexedProject) -> None:
    request = tools_pb2.GrepRequest(project=qa.hidden_project_id, pattern="Cart")

    await rpc_error(qa.member.tools.Grep(request), Code.NOT_FOUND, qa.hidden_project_id)


# ------------------------------------------------------------------ OpenFile
async def open_file(caller: Caller, path: str, **fields: Any) -> tools_pb2.OpenFileResponse:
    request = tools_pb2.OpenFileRequest(project=PROJECT, path=path, **fields)
    return await caller.tools.OpenFile(request)


async def test_open_file_returns_the_lines_asked_for(qa: IndexedProject) -> None:
    start, end = definition_lines(CART_PY, "Cart.total_price")

    opened = await open_file(qa.member, "shop/cart.py", start_line=start, end_line=end)

    assert opened.content == file_lines(qa.shop, "shop/cart.py", start, end)
    assert (opened.start_line, opened.end_line) == (start, end)
    assert opened.total_lines == CART_PY.count("\n")
    assert (opened.path, opened.language, opened.commit) == ("shop/cart.py", "python", "")
    assert opened.connector_id == qa.code_connector_id
    assert not opened.truncated


async def test_open_file_whole_file_normalised_path_and_other_connector(
    qa: IndexedProject,
) -> None:
    whole = await open_file(qa.member, "./shop//pricing.py")
    notes = await open_file(qa.member, "release.md")

    assert whole.path == "shop/pricing.py"
    assert whole.content == PRICING_PY.removesuffix("\n")
    assert (whole.start_line, whole.end_line) == (1, PRICING_PY.count("\n"))
    assert notes.connector_id == qa.notes_connector_id
    assert notes.content == NOTES_MD.removesuffix("\n")
    assert notes.language == "markdown"


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "/etc/passwd",
        "%2e%2e/x",
        "shop/%2e%2e/%2e%2e/secret.txt",
        "shop/../../secret.txt",
        "..",
        ESCAPING_LINK,  # a symlink to a file beside the checkout
        ".git/config",
        "~/.ssh/id_rsa",
        "shop\\cart.py",
        "shop/cart.py\x00.txt",
        "",
    ],
)
async def test_open_file_refuses_paths_leaving_the_checkout(qa: IndexedProject, path: str) -> None:
    details = await rpc_error(open_file(qa.member, path), Code.INVALID_ARGUMENT, "path")

    assert SECRET_TEXT.strip() not in details


async def test_open_file_refuses_a_binary_file(qa: IndexedProject) -> None:
    await rpc_error(open_file(qa.member, BINARY_FILE), Code.FAILED_PRECONDITION, "binary")


async def test_open_file_of_a_directory_is_invalid(qa: IndexedProject) -> None:
    await rpc_error(open_file(qa.member, "shop"), Code.INVALID_ARGUMENT, "directory")


async def test_open_file_of_a_missing_file_is_not_found(qa: IndexedProject) -> None:
    await rpc_error(open_file(qa.member, "shop/nope.py"), Code.NOT_FOUND, "shop/nope.py")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start_line": -1}, "start_line"),
        ({"end_line": -2}, "end_line"),
        ({"start_line": 5, "end_line": 4}, "end_line"),
        ({"start_line": 10_000}, "start_line"),
    ],
)
async def test_open_file_bad_line_range_names_the_field(
    qa: IndexedProject, fields: dict[str, int], field: str
) -> None:
    await rpc_error(open_file(qa.member, "shop/cart.py", **fields), Code.INVALID_ARGUMENT, field)


async def test_open_file_of_a_hidden_project_is_not_found(qa: IndexedProject) -> None:
    request = tools_pb2.OpenFileRequest(project=qa.hidden_project_id, path="shop/cart.py")

    await rpc_error(qa.outsider.tools.OpenFile(request), Code.NOT_FOUND)


# ------------------------------------------------------------------ KeywordSearch
async def test_keyword_search_ranks_by_keywords_alone(qa: IndexedProject) -> None:
    request = tools_pb2.KeywordSearchRequest(project=PROJECT, query="apply_discount", top_k=5)

    response = await qa.member.tools.KeywordSearch(request)

    assert 1 <= len(response.hits) <= 5
    start, end = definition_lines(PRICING_PY, "apply_discount")
    labels = [hit.citation.label for hit in response.hits]
    assert f"shop/pricing.py:{start}-{end}" in labels[:2]
    for hit in response.hits:
        assert hit.dense_rank == 0 and hit.keyword_rank >= 1


async def test_keyword_search_filters(qa: IndexedProject) -> None:
    request = tools_pb2.KeywordSearchRequest(
        project=PROJECT,
        query="discounts percentages",
        filter=retrieval_pb2.SearchFilter(languages=["markdown"]),
    )

    response = await qa.member.tools.KeywordSearch(request)

    assert response.hits and {hit.language for hit in response.hits} == {"markdown"}


async def test_keyword_search_with_a_malformed_glob_is_invalid(qa: IndexedProject) -> None:
    request = tools_pb2.KeywordSearchRequest(
        project=PROJECT, query="cart", filter=retrieval_pb2.SearchFilter(path_globs=["!"])
    )

    await rpc_error(qa.member.tools.KeywordSearch(request), Code.INVALID_ARGUMENT, "path_globs")


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"query": " "}, "query"), ({"query": "x", "top_k": 101}, "top_k")],
)
async def test_keyword_search_bad_request_names_the_field(
    qa: IndexedProject, fields: dict[str, Any], field: str
) -> None:
    request = tools_pb2.KeywordSearchRequest(project=PROJECT, **fields)

    await rpc_error(qa.member.tools.KeywordSearch(request), Code.INVALID_ARGUMENT, field)


# ------------------------------------------------------------------ FindSymbol
async def find_symbol(caller: Caller, name: str, **fields: Any) -> tools_pb2.FindSymbolResponse:
    return await caller.tools.FindSymbol(
        tools_pb2.FindSymbolRequest(project=PROJECT, name=name, **fields)
    )


@pytest.mark.parametrize(
    ("name", "qualified", "path", "source", "kind"),
    [
        ("Cart.total_price", "Cart.total_price", "shop/cart.py", CART_PY, "method"),
        ("parse_price", "parse_price", "shop/pricing.py", PRICING_PY, "function"),
        ("Cart", "Cart", "shop/cart.py", CART_PY, "class"),
    ],
)
async def test_find_symbol_exact(
    qa: IndexedProject, name: str, qualified: str, path: str, source: str, kind: str
) -> None:
    response = await find_symbol(qa.member, name, exact=True)

    first = response.symbols[0]
    start, end = definition_lines(source, qualified)
    assert (first.name, first.path, first.kind) == (qualified, path, kind)
    assert (first.start_line, first.end_line) == (start, end)
    assert (first.language, first.connector_id) == ("python", qa.code_connector_id)
    assert first.score == 1.0


async def test_find_symbol_fuzzy_and_kinds(qa: IndexedProject) -> None:
    fuzzy = await find_symbol(qa.member, "total_pric")
    classes = await find_symbol(qa.member, "Cart", kinds=["class"])

    assert "Cart.total_price" in [s.name for s in fuzzy.symbols]
    assert all(s.score < 1.0 for s in fuzzy.symbols)
    assert classes.symbols and {s.kind for s in classes.symbols} == {"class"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": "x", "limit": 201}, "limit")],
)
async def test_find_symbol_bad_request_names_the_field(
    qa: IndexedProject, fields: dict[str, Any], field: str
) -> None:
    request = tools_pb2.FindSymbolRequest(project=PROJECT, **fields)

    await rpc_error(qa.member.tools.FindSymbol(request), Code.INVALID_ARGUMENT, field)


# ------------------------------------------------------------------ GetProjectMetadata
async def test_project_metadata_describes_languages_connectors_and_layout(
    qa: IndexedProject,
) -> None:
    request = tools_pb2.GetProjectMetadataRequest(project=PROJECT)

    meta = await qa.member.tools.GetProjectMetadata(request)

    assert (meta.project_id, meta.slug) == (qa.project_id, PROJECT)
    python = [text for path, text in SHOP_FILES.items() if path.endswith(".py")]
    languages = {lang.language: (lang.files, lang.lines) for lang in meta.languages}
    assert languages["python"] == (len(python), sum(text.count("\n") for text in python))
    readme = SHOP_FILES["README.md"]
    assert languages["markdown"] == (2, readme.count("\n") + NOTES_MD.count("\n"))
    assert meta.languages[0].language == "python"  # most lines first
    assert dict(meta.documents_by_kind) == {"file": len(python) + 3}  # + .gitignore
    assert meta.chunks > 0 and meta.index_generation > 0
    connectors = {c.name: c for c in meta.connectors}
    assert set(connectors) == {CODE_CONNECTOR, NOTES_CONNECTOR}
    code = connectors[CODE_CONNECTOR]
    assert (code.connector_id, code.type) == (qa.code_connector_id, "local")
    assert code.last_run_id.startswith("run_") and code.HasField("last_run_time")
    assert code.documents == len(python) + 2 and code.chunks > 0  # + README, .gitignore
    assert connectors[NOTES_CONNECTOR].documents == 1
    layout = {(e.connector_id, e.name): (e.is_dir, e.files) for e in meta.layout}
    assert layout[(qa.code_connector_id, "shop")] == (True, 4)
    assert layout[(qa.code_connector_id, "README.md")] == (False, 1)
    assert layout[(qa.notes_connector_id, "release.md")] == (False, 1)


async def test_project_metadata_counts_symbols(qa: IndexedProject) -> None:
    request = tools_pb2.GetProjectMetadataRequest(project=PROJECT)

    meta = await qa.member.tools.GetProjectMetadata(request)

    # Cart and its 11 methods, apply_discount, parse_price, send_receipt_email, 2 tests.
    assert meta.symbols >= 16


async def test_project_metadata_of_a_hidden_project_is_not_found(qa: IndexedProject) -> None:
    request = tools_pb2.GetProjectMetadataRequest(project=qa.hidden_project_id)

    await rpc_error(qa.member.tools.GetProjectMetadata(request), Code.NOT_FOUND)


async def test_files_the_connector_left_out_are_neither_opened_nor_grepped(
    qa: IndexedProject,
) -> None:
    request = tools_pb2.OpenFileRequest(project=PROJECT, path=IGNORED_FILE)
    await rpc_error(qa.member.tools.OpenFile(request), Code.NOT_FOUND, "not an indexed file")

    found = await qa.member.tools.Grep(
        tools_pb2.GrepRequest(project=PROJECT, pattern=IGNORED_SECRET, fixed_strings=True)
    )
    assert list(found.matches) == []
