"""LLM profiles: CreateLlmProfile, UpdateLlmProfile, DeleteLlmProfile, ListLlmProfiles."""

from __future__ import annotations

import pytest

from projectqa.v1 import admin_pb2

from .helpers import (
    Code,
    all_pages,
    assert_never_logged,
    assert_not_in_response,
    flatten,
    rpc_error,
)

API_KEY = "sk-test-0f1e2d3c4b5a-never-shown"
OPENAI = admin_pb2.LLM_PROVIDER_OPENAI
OLLAMA = admin_pb2.LLM_PROVIDER_OLLAMA
COMPATIBLE = admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE


async def create_profile(stub, name="main", project="alpha", **fields):
    request = admin_pb2.CreateLlmProfileRequest(
        project=project, name=name, provider=fields.pop("provider", OLLAMA), model="llama3.1:8b"
    )
    for field, value in fields.items():
        setattr(request, field, value)
    return (await stub.CreateLlmProfile(request)).profile


async def update_profile(stub, profile_id, **fields):
    request = admin_pb2.UpdateLlmProfileRequest(profile_id=profile_id, **fields)
    return (await stub.UpdateLlmProfile(request)).profile


async def list_profiles(stub, project="alpha"):
    response = await stub.ListLlmProfiles(admin_pb2.ListLlmProfilesRequest(project=project))
    return list(response.profiles)


async def test_create_project_profile_returns_every_field(admin, project) -> None:
    request = admin_pb2.CreateLlmProfileRequest(
        project="alpha",
        name="vllm",
        provider=COMPATIBLE,
        base_url="http://gpu-box:8000/v1",
        model="qwen2.5-coder",
        api_key=API_KEY,
        temperature=0.7,
        max_output_tokens=2048,
        timeout_seconds=120,
        is_default=True,
    )

    response = await admin.CreateLlmProfile(request)

    p = response.profile
    assert p.id.startswith("llm_")
    assert (p.project_id, p.name, p.provider) == (project.id, "vllm", COMPATIBLE)
    assert (p.base_url, p.model) == ("http://gpu-box:8000/v1", "qwen2.5-coder")
    assert (p.temperature, p.max_output_tokens, p.timeout_seconds) == (0.7, 2048, 120)
    assert p.api_key_set and p.is_default
    assert p.create_time == p.update_time
    assert_not_in_response(response, API_KEY)


async def test_create_profile_fills_in_defaults(admin, project) -> None:
    p = await create_profile(admin)

    assert (p.temperature, p.max_output_tokens, p.timeout_seconds) == (0.2, 0, 60)
    assert (p.base_url, p.api_key_set, p.is_default) == ("", False, False)


async def test_create_global_profile_has_no_project(admin) -> None:
    p = await create_profile(admin, project="", provider=OPENAI, api_key=API_KEY)

    assert p.project_id == ""
    assert [x.id for x in await list_profiles(admin, project="")] == [p.id]


async def test_global_and_project_profiles_are_listed_apart(admin, project) -> None:
    global_profile = await create_profile(admin, name="shared", project="")
    project_profile = await create_profile(admin, name="shared")

    assert await list_profiles(admin, project="") == [global_profile]
    assert await list_profiles(admin) == [project_profile]


async def test_list_profiles_never_returns_the_api_key(admin, member) -> None:
    created = await create_profile(admin, api_key=API_KEY)

    response = await member.stub.ListLlmProfiles(admin_pb2.ListLlmProfilesRequest(project="alpha"))

    assert list(response.profiles) == [created]
    assert response.profiles[0].api_key_set
    assert_not_in_response(response, API_KEY)


async def test_list_profiles_follows_pages(admin, project) -> None:
    ids = [(await create_profile(admin, name=f"p{i}")).id for i in range(7)]

    pages = await all_pages(
        admin.ListLlmProfiles, admin_pb2.ListLlmProfilesRequest(project="alpha"), "profiles"
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [p.id for p in flatten(pages)]
    assert sorted(listed) == sorted(ids)
    assert listed == sorted(listed)


async def test_update_profile_changes_only_the_fields_given(admin, project) -> None:
    created = await create_profile(admin, api_key=API_KEY, temperature=0.5)

    updated = await update_profile(admin, created.id, model="llama3.2", timeout_seconds=30)

    assert (updated.model, updated.timeout_seconds) == ("llama3.2", 30)
    assert (updated.name, updated.provider, updated.temperature) == ("main", OLLAMA, 0.5)
    assert updated.api_key_set
    assert updated.create_time == created.create_time
    assert await list_profiles(admin) == [updated]


async def test_update_profile_replaces_the_api_key_without_returning_it(
    admin, server, project
) -> None:
    created = await create_profile(admin, api_key=API_KEY)

    response = await admin.UpdateLlmProfile(
        admin_pb2.UpdateLlmProfileRequest(profile_id=created.id, api_key="sk-rotated-99")
    )

    assert response.profile.api_key_set
    assert server.server.store.get_llm_profile(created.id).api_key == "sk-rotated-99"
    assert_not_in_response(response, API_KEY, "sk-rotated-99")


async def test_clear_api_key_erases_it(admin, server, project) -> None:
    created = await create_profile(admin, api_key=API_KEY)

    cleared = await update_profile(admin, created.id, clear_api_key=True)

    assert not cleared.api_key_set
    assert server.server.store.get_llm_profile(created.id).api_key == ""
    assert not (await list_profiles(admin))[0].api_key_set


async def test_clear_api_key_together_with_a_new_key_is_invalid(admin, server, project) -> None:
    created = await create_profile(admin, api_key=API_KEY)

    await rpc_error(
        update_profile(admin, created.id, api_key="sk-other", clear_api_key=True),
        Code.INVALID_ARGUMENT,
        "clear_api_key: ",
    )

    assert server.server.store.get_llm_profile(created.id).api_key == API_KEY


async def test_update_can_clear_the_base_url_of_a_non_compatible_profile(admin, project) -> None:
    created = await create_profile(admin, base_url="http://ollama:11434/v1")

    updated = await update_profile(admin, created.id, base_url="")

    assert updated.base_url == ""


async def test_api_keys_never_reach_the_server_log(admin, project, server_log) -> None:
    created = await create_profile(admin, api_key=API_KEY)
    await update_profile(admin, created.id, api_key="sk-rotated-99")
    await list_profiles(admin)
    await rpc_error(
        create_profile(admin, name="bad", api_key="sk-failing-77", temperature=9.0),
        Code.INVALID_ARGUMENT,
    )

    assert_never_logged(server_log.records, API_KEY, "sk-rotated-99", "sk-failing-77")


async def test_delete_profile_removes_it(admin, project) -> None:
    keep = await create_profile(admin, name="keep")
    gone = await create_profile(admin, name="gone")

    await admin.DeleteLlmProfile(admin_pb2.DeleteLlmProfileRequest(profile_id=gone.id))

    assert await list_profiles(admin) == [keep]
    await rpc_error(
        admin.DeleteLlmProfile(admin_pb2.DeleteLlmProfileRequest(profile_id=gone.id)),
        Code.NOT_FOUND,
        f"LLM profile {gone.id!r} not found",
    )


async def test_making_a_profile_default_clears_the_other_default_of_its_scope(
    admin, new_project
) -> None:
    await new_project("alpha")
    await new_project("beta")
    global_default = await create_profile(admin, name="g", project="", is_default=True)
    beta_default = await create_profile(admin, name="b", project="beta", is_default=True)
    first = await create_profile(admin, name="first", is_default=True)

    second = await create_profile(admin, name="second", is_default=True)

    defaults = {p.name: p.is_default for p in await list_profiles(admin)}
    assert defaults == {"first": False, "second": True}
    # Other scopes keep their own defaults.
    assert [p.is_default for p in await list_profiles(admin, project="")] == [True]
    assert [p.is_default for p in await list_profiles(admin, project="beta")] == [True]
    assert global_default.is_default and beta_default.is_default

    await update_profile(admin, first.id, is_default=True)

    defaults = {p.name: p.is_default for p in await list_profiles(admin)}
    assert defaults == {"first": True, "second": False}
    assert [p.id for p in await list_profiles(admin, project="") if p.is_default] == [
        global_default.id
    ]
    assert second.is_default


async def test_update_is_default_false_leaves_the_scope_without_default(admin, project) -> None:
    created = await create_profile(admin, is_default=True)

    updated = await update_profile(admin, created.id, is_default=False)

    assert not updated.is_default
    assert [p.is_default for p in await list_profiles(admin)] == [False]


async def test_create_profile_with_a_taken_name_already_exists(admin, project) -> None:
    await create_profile(admin, name="main")

    await rpc_error(create_profile(admin, name="main"), Code.ALREADY_EXISTS, "main")


async def test_renaming_a_profile_to_a_taken_name_already_exists(admin, project) -> None:
    await create_profile(admin, name="one")
    two = await create_profile(admin, name="two")

    await rpc_error(update_profile(admin, two.id, name="one"), Code.ALREADY_EXISTS, "one")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"provider": admin_pb2.LLM_PROVIDER_UNSPECIFIED}, "provider"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.01}, "temperature"),
        ({"provider": COMPATIBLE}, "base_url"),
        ({"base_url": "ftp://host/v1"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"timeout_seconds": 601}, "timeout_seconds"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"max_output_tokens": -1}, "max_output_tokens"),
        ({"model": ""}, "model"),
        ({"model": "m" * 257}, "model"),
        ({"name": ""}, "name"),
        ({"name": "n" * 129}, "name"),
    ],
    ids=[
        "provider-unspecified",
        "temperature-negative",
        "temperature-above-2",
        "compatible-without-base-url",
        "base-url-not-http",
        "base-url-garbage",
        "timeout-601",
        "timeout-negative",
        "max-output-tokens-negative",
        "empty-model",
        "model-257",
        "empty-name",
        "name-129",
    ],
)
async def test_create_profile_rejects_bad_fields_naming_the_field(
    admin, project, fields, field
) -> None:
    request = admin_pb2.CreateLlmProfileRequest(
        project="alpha", name="p", provider=OLLAMA, model="m"
    )
    for name, value in fields.items():
        setattr(request, name, value)

    details = await rpc_error(admin.CreateLlmProfile(request), Code.INVALID_ARGUMENT)

    assert details.startswith(f"{field}: ")
    assert await list_profiles(admin) == []


@pytest.mark.parametrize(
    "base_url",
    [
        "http://[bad-host/v1",
        "https://[::1/v1",
        "http://host:99999999/v1",
        "https://user:sk-leak@host/v1",
        "ftp://host/v1",
    ],
)
async def test_unparseable_base_url_is_invalid(admin, project, base_url) -> None:
    await rpc_error(create_profile(admin, base_url=base_url), Code.INVALID_ARGUMENT, "base_url: ")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"provider": admin_pb2.LLM_PROVIDER_UNSPECIFIED}, "provider"),
        ({"temperature": 2.5}, "temperature"),
        ({"provider": COMPATIBLE}, "base_url"),
        ({"name": ""}, "name"),
        ({"model": ""}, "model"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
    ids=[
        "provider-unspecified",
        "temperature-above-2",
        "compatible-without-base-url",
        "empty-name",
        "empty-model",
        "timeout-0",
    ],
)
async def test_update_profile_rejects_bad_fields_and_keeps_the_profile(
    admin, project, fields, field
) -> None:
    created = await create_profile(admin)

    details = await rpc_error(update_profile(admin, created.id, **fields), Code.INVALID_ARGUMENT)

    assert details.startswith(f"{field}: ")
    assert await list_profiles(admin) == [created]


@pytest.mark.parametrize("rpc", ["UpdateLlmProfile", "DeleteLlmProfile"])
async def test_profile_rpcs_need_a_profile_id(admin, rpc) -> None:
    request = getattr(admin_pb2, f"{rpc}Request")()

    await rpc_error(getattr(admin, rpc)(request), Code.INVALID_ARGUMENT, "profile_id")


async def test_a_stored_key_never_follows_a_new_endpoint(admin, server, project) -> None:
    created = await create_profile(admin, base_url="http://127.0.0.1:11434/v1", api_key=API_KEY)
    moved = "https://collector.example/v1"

    await rpc_error(
        update_profile(admin, created.id, base_url=moved), Code.INVALID_ARGUMENT, "api_key"
    )
    await rpc_error(
        update_profile(admin, created.id, provider=OPENAI), Code.INVALID_ARGUMENT, "api_key"
    )
    assert server.server.store.get_llm_profile(created.id).base_url == created.base_url

    cleared = await update_profile(admin, created.id, base_url=moved, clear_api_key=True)
    assert (cleared.base_url, cleared.api_key_set) == (moved, False)
    rekeyed = await update_profile(admin, created.id, base_url=created.base_url, api_key="sk-new")
    assert rekeyed.api_key_set


@pytest.mark.parametrize(
    "base_url",
    [
        "http://gpu box:8000/v1",
        "http://gpu-box:8000/ v1",
        "http://gpu-box:8000/v1\n/other",
        "http://gpu-box\t:8000/v1",
        "http://gpu-box:8000/v1\x00",
        "http://gpu-box:8000/v1\x7f",
        "http://gpu\u00a0box:8000/v1",
    ],
    ids=["space-in-host", "space-in-path", "newline", "tab", "nul", "del", "no-break-space"],
)
async def test_base_url_with_whitespace_or_control_characters_is_invalid(
    admin, project, base_url
) -> None:
    await rpc_error(create_profile(admin, base_url=base_url), Code.INVALID_ARGUMENT, "base_url: ")
    created = await create_profile(admin)
    await rpc_error(
        update_profile(admin, created.id, base_url=base_url), Code.INVALID_ARGUMENT, "base_url: "
    )
    assert [p.base_url for p in await list_profiles(admin)] == [""]


async def test_tool_calls_in_text_is_off_unless_set_and_can_be_changed(admin, project) -> None:
    plain = await create_profile(admin)
    assert not plain.tool_calls_in_text
    qwen = await create_profile(admin, name="qwen", tool_calls_in_text=True)
    assert qwen.tool_calls_in_text

    renamed = await update_profile(admin, qwen.id, name="qwen2.5")
    assert renamed.tool_calls_in_text  # unset in the update: kept
    off = await update_profile(admin, qwen.id, tool_calls_in_text=False)
    assert not off.tool_calls_in_text
    listed = {p.name: p.tool_calls_in_text for p in await list_profiles(admin)}
    assert listed == {"main": False, "qwen2.5": False}
