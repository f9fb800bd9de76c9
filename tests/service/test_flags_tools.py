"""Feature flags (GetFeatureFlags, SetFeatureFlag) and plugin tools per project
(ListProjectTools, SetProjectToolEnabled)."""

from __future__ import annotations

import pytest

from projectqa.v1 import admin_pb2

from .fake_plugin import PLUGIN_NAME, SIDE_EFFECT_TOOLS, TOOL_NAMES
from .helpers import Code, all_pages, as_dict, flatten, rpc_error

GLOBAL = admin_pb2.FEATURE_FLAG_SCOPE_GLOBAL
PROJECT = admin_pb2.FEATURE_FLAG_SCOPE_PROJECT


async def set_flag(stub, key, enabled=True, project="", reset=False):
    request = admin_pb2.SetFeatureFlagRequest(
        project=project, key=key, enabled=enabled, reset=reset
    )
    return await stub.SetFeatureFlag(request)


async def flags(stub, project=""):
    response = await stub.GetFeatureFlags(admin_pb2.GetFeatureFlagsRequest(project=project))
    return [(f.key, f.enabled, f.scope) for f in response.flags]


async def tools(stub, project="alpha"):
    response = await stub.ListProjectTools(admin_pb2.ListProjectToolsRequest(project=project))
    return {t.name: t for t in response.tools}


# ------------------------------------------------------------------- flags


async def test_global_flag_is_returned_with_global_scope(admin) -> None:
    response = await set_flag(admin, "chat.streaming", enabled=True)

    assert (response.flag.key, response.flag.enabled, response.flag.scope) == (
        "chat.streaming",
        True,
        GLOBAL,
    )
    assert await flags(admin) == [("chat.streaming", True, GLOBAL)]


async def test_get_feature_flags_orders_by_key(admin) -> None:
    for key in ("zeta", "alpha", "mid"):
        await set_flag(admin, key)

    assert [key for key, _, _ in await flags(admin)] == ["alpha", "mid", "zeta"]


async def test_project_sees_global_values_until_it_overrides_them(admin, project) -> None:
    await set_flag(admin, "grep", enabled=True)
    await set_flag(admin, "rerank", enabled=False)
    assert await flags(admin, "alpha") == [("grep", True, GLOBAL), ("rerank", False, GLOBAL)]

    response = await set_flag(admin, "grep", enabled=False, project="alpha")

    assert (response.flag.enabled, response.flag.scope) == (False, PROJECT)
    assert await flags(admin, "alpha") == [("grep", False, PROJECT), ("rerank", False, GLOBAL)]
    assert await flags(admin) == [("grep", True, GLOBAL), ("rerank", False, GLOBAL)]


async def test_project_only_flag_is_listed_for_that_project_alone(admin, new_project) -> None:
    await new_project("alpha")
    await new_project("beta")

    await set_flag(admin, "beta-feature", project="alpha")

    assert await flags(admin, "alpha") == [("beta-feature", True, PROJECT)]
    assert await flags(admin, "beta") == []
    assert await flags(admin) == []


async def test_resetting_a_project_override_falls_back_to_the_global_value(admin, project) -> None:
    await set_flag(admin, "grep", enabled=True)
    await set_flag(admin, "grep", enabled=False, project="alpha")

    response = await set_flag(admin, "grep", project="alpha", reset=True)

    assert (response.flag.key, response.flag.enabled, response.flag.scope) == (
        "grep",
        True,
        GLOBAL,
    )
    assert await flags(admin, "alpha") == [("grep", True, GLOBAL)]


async def test_reset_that_leaves_no_value_returns_no_flag(admin, project) -> None:
    await set_flag(admin, "grep", project="alpha")

    project_reset = await set_flag(admin, "grep", project="alpha", reset=True)
    global_reset = await set_flag(admin, "never-set", reset=True)

    assert not project_reset.HasField("flag")
    assert not global_reset.HasField("flag")
    assert await flags(admin, "alpha") == []


async def test_setting_a_flag_again_replaces_its_value(admin) -> None:
    await set_flag(admin, "grep", enabled=True)
    response = await set_flag(admin, "grep", enabled=False)

    assert not response.flag.enabled
    assert await flags(admin) == [("grep", False, GLOBAL)]


@pytest.mark.parametrize(
    "key",
    ["", "Upper", "1digit-first", "has space", "k" * 65, "-dash-first", "slash/key"],
    ids=["empty", "uppercase", "digit-first", "space", "key-65", "dash-first", "slash"],
)
@pytest.mark.parametrize("scope", ["global", "project"])
async def test_bad_flag_keys_are_invalid(admin, project, key, scope) -> None:
    target = "alpha" if scope == "project" else ""

    await rpc_error(set_flag(admin, key, project=target), Code.INVALID_ARGUMENT, "key: ")

    assert await flags(admin, target) == []


async def test_flag_key_of_64_characters_is_accepted(admin) -> None:
    key = "k" + "a.b_c-9" * 9
    assert len(key) == 64

    assert (await set_flag(admin, key)).flag.key == key


async def test_flags_of_a_missing_project_are_not_found(admin) -> None:
    await rpc_error(
        admin.GetFeatureFlags(admin_pb2.GetFeatureFlagsRequest(project="ghost")),
        Code.NOT_FOUND,
        "project 'ghost' not found",
    )
    await rpc_error(
        set_flag(admin, "grep", project="ghost"), Code.NOT_FOUND, "project 'ghost' not found"
    )


# ------------------------------------------------------------------- tools


async def test_plugin_tools_are_listed_disabled_with_their_details(member) -> None:
    listed = await tools(member.stub)

    assert list(listed) == sorted(TOOL_NAMES)
    assert not any(t.enabled for t in listed.values())
    assert {t.plugin for t in listed.values()} == {PLUGIN_NAME}
    assert {name for name, t in listed.items() if t.side_effects} == SIDE_EFFECT_TOOLS
    echo = listed["echo"]
    assert echo.description == "Tool echo"
    assert as_dict(echo.arguments_schema) == {
        "type": "object",
        "properties": {"text": {"type": "string"}},
    }


async def test_enabling_a_tool_shows_in_that_project_only(admin, new_project) -> None:
    await new_project("alpha")
    await new_project("beta")

    response = await admin.SetProjectToolEnabled(
        admin_pb2.SetProjectToolEnabledRequest(project="alpha", tool="deploy", enabled=True)
    )

    tool = response.tool
    assert (tool.name, tool.enabled, tool.plugin, tool.side_effects) == (
        "deploy",
        True,
        PLUGIN_NAME,
        True,
    )
    assert tool.description == "Tool deploy"
    alpha = await tools(admin, "alpha")
    assert {name for name, t in alpha.items() if t.enabled} == {"deploy"}
    assert not any(t.enabled for t in (await tools(admin, "beta")).values())


async def test_disabling_a_tool_turns_it_off_again(admin, project) -> None:
    request = admin_pb2.SetProjectToolEnabledRequest(project="alpha", tool="echo", enabled=True)
    await admin.SetProjectToolEnabled(request)

    request.enabled = False
    response = await admin.SetProjectToolEnabled(request)

    assert not response.tool.enabled
    assert not (await tools(admin))["echo"].enabled


async def test_list_project_tools_follows_pages_by_name(admin, project) -> None:
    await admin.SetProjectToolEnabled(
        admin_pb2.SetProjectToolEnabledRequest(project="alpha", tool="tool2", enabled=True)
    )

    pages = await all_pages(
        admin.ListProjectTools, admin_pb2.ListProjectToolsRequest(project="alpha"), "tools"
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = flatten(pages)
    assert [t.name for t in listed] == sorted(TOOL_NAMES)
    assert [t.name for t in listed if t.enabled] == ["tool2"]


async def test_enabling_an_unknown_tool_is_not_found(admin, project) -> None:
    request = admin_pb2.SetProjectToolEnabledRequest(project="alpha", tool="nope", enabled=True)

    await rpc_error(admin.SetProjectToolEnabled(request), Code.NOT_FOUND, "tool 'nope' not found")


async def test_enabling_a_tool_needs_its_name(admin, project) -> None:
    request = admin_pb2.SetProjectToolEnabledRequest(project="alpha", enabled=True)

    await rpc_error(admin.SetProjectToolEnabled(request), Code.INVALID_ARGUMENT, "tool: ")
