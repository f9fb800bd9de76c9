"""Projects: CreateProject, GetProject, ListProjects, UpdateProject, DeleteProject."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import projectqa.server.models as models
from projectqa.v1 import admin_pb2, common_pb2

from .helpers import Code, all_pages, flatten, rpc_error, struct


async def test_create_project_returns_what_was_stored(admin) -> None:
    created = (
        await admin.CreateProject(
            admin_pb2.CreateProjectRequest(slug="my-service", name="My service", description="d")
        )
    ).project

    assert created.id.startswith("prj_")
    assert (created.slug, created.name, created.description) == ("my-service", "My service", "d")
    assert created.create_time.seconds > 0
    assert created.update_time == created.create_time


async def test_get_project_by_id_or_slug_returns_the_same_project(admin, project) -> None:
    by_slug = await admin.GetProject(admin_pb2.GetProjectRequest(project="alpha"))
    by_id = await admin.GetProject(admin_pb2.GetProjectRequest(project=project.id))

    assert by_slug.project == project
    assert by_id.project == project


async def test_get_missing_project_is_not_found(admin) -> None:
    await rpc_error(
        admin.GetProject(admin_pb2.GetProjectRequest(project="nope")),
        Code.NOT_FOUND,
        "project 'nope' not found",
    )


@pytest.mark.parametrize(
    "request_message",
    [
        admin_pb2.GetProjectRequest(),
        admin_pb2.UpdateProjectRequest(name="x"),
        admin_pb2.DeleteProjectRequest(),
        admin_pb2.AddMemberRequest(user="admin", role=common_pb2.PROJECT_ROLE_MEMBER),
        admin_pb2.RemoveMemberRequest(user="admin"),
        admin_pb2.ListMembersRequest(),
        admin_pb2.CreateConnectorRequest(type="fake-git", name="c"),
        admin_pb2.ListConnectorsRequest(),
        admin_pb2.ListProjectToolsRequest(),
        admin_pb2.SetProjectToolEnabledRequest(tool="echo"),
    ],
    ids=lambda message: type(message).__name__.removesuffix("Request"),
)
async def test_project_scoped_rpcs_need_a_project_reference(admin, request_message) -> None:
    rpc = getattr(admin, type(request_message).__name__.removesuffix("Request"))

    await rpc_error(rpc(request_message), Code.INVALID_ARGUMENT, "project: must not be empty")


@pytest.mark.parametrize(("count", "page_sizes"), [(7, [3, 3, 1]), (6, [3, 3])])
async def test_list_projects_follows_pages_without_gaps_or_repeats(
    admin, new_project, count, page_sizes
) -> None:
    created = [await new_project(f"p{i}") for i in range(count)]

    pages = await all_pages(admin.ListProjects, admin_pb2.ListProjectsRequest(), "projects")

    assert [len(page) for page in pages] == page_sizes
    listed = flatten(pages)
    assert sorted(p.id for p in listed) == sorted(p.id for p in created)
    assert [p.id for p in listed] == sorted(p.id for p in listed)  # keyset order, no repeats


async def test_list_projects_without_page_size_returns_one_page(admin, new_project) -> None:
    created = [await new_project(f"p{i}") for i in range(4)]

    response = await admin.ListProjects(admin_pb2.ListProjectsRequest())

    assert {p.slug for p in response.projects} == {p.slug for p in created}
    assert response.next_page_token == ""


async def test_list_projects_is_in_creation_order_within_one_millisecond(
    admin, new_project, monkeypatch
) -> None:
    # A machine creating projects faster than one per millisecond (a script, a
    # busy server) gets the same timestamp prefix for several ids.
    frozen = time.time_ns()
    monkeypatch.setattr(models, "time", SimpleNamespace(time_ns=lambda: frozen))
    slugs = [f"p{i}" for i in range(10)]
    for slug in slugs:
        await new_project(slug)

    listed = (await admin.ListProjects(admin_pb2.ListProjectsRequest())).projects

    assert [p.slug for p in listed] == slugs


async def test_update_project_changes_only_the_fields_given(admin, project) -> None:
    renamed = (
        await admin.UpdateProject(admin_pb2.UpdateProjectRequest(project="alpha", name="Renamed"))
    ).project

    assert renamed.name == "Renamed"
    assert renamed.description == project.description
    assert (renamed.id, renamed.slug, renamed.create_time) == (
        project.id,
        project.slug,
        project.create_time,
    )
    assert renamed.update_time.ToDatetime() >= project.update_time.ToDatetime()
    fetched = await admin.GetProject(admin_pb2.GetProjectRequest(project=project.id))
    assert fetched.project == renamed


async def test_update_project_without_changes_leaves_it_untouched(admin, project) -> None:
    response = await admin.UpdateProject(admin_pb2.UpdateProjectRequest(project="alpha"))

    assert response.project == project
    fetched = await admin.GetProject(admin_pb2.GetProjectRequest(project="alpha"))
    assert fetched.project == project


async def test_update_project_can_clear_the_description(admin, project) -> None:
    cleared = (
        await admin.UpdateProject(
            admin_pb2.UpdateProjectRequest(project=project.id, description="")
        )
    ).project

    assert cleared.description == ""
    assert cleared.name == project.name


async def test_update_missing_project_is_not_found(admin) -> None:
    await rpc_error(
        admin.UpdateProject(admin_pb2.UpdateProjectRequest(project="ghost", name="x")),
        Code.NOT_FOUND,
        "project 'ghost' not found",
    )


async def test_delete_project_removes_it_with_everything_scoped_to_it(
    admin, server, project
) -> None:
    connector = (
        await admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="alpha", type="fake-git", name="repo", config=struct({"url": "u"})
            )
        )
    ).connector
    profile = (
        await admin.CreateLlmProfile(
            admin_pb2.CreateLlmProfileRequest(
                project="alpha", name="p", provider=admin_pb2.LLM_PROVIDER_OLLAMA, model="m"
            )
        )
    ).profile
    await admin.SetFeatureFlag(admin_pb2.SetFeatureFlagRequest(project="alpha", key="f"))

    await admin.DeleteProject(admin_pb2.DeleteProjectRequest(project="alpha"))

    await rpc_error(
        admin.GetProject(admin_pb2.GetProjectRequest(project=project.id)), Code.NOT_FOUND
    )
    assert server.server.store.get_connector(connector.id) is None
    assert server.server.store.get_llm_profile(profile.id) is None
    await rpc_error(
        admin.DeleteConnector(admin_pb2.DeleteConnectorRequest(connector_id=connector.id)),
        Code.NOT_FOUND,
    )
    # A new project under the old slug starts empty.
    await admin.CreateProject(admin_pb2.CreateProjectRequest(slug="alpha", name="Alpha again"))
    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors) == []
    flags = await admin.GetFeatureFlags(admin_pb2.GetFeatureFlagsRequest(project="alpha"))
    assert list(flags.flags) == []


async def test_deleting_a_project_twice_is_not_found_the_second_time(admin, project) -> None:
    await admin.DeleteProject(admin_pb2.DeleteProjectRequest(project=project.id))

    await rpc_error(
        admin.DeleteProject(admin_pb2.DeleteProjectRequest(project=project.id)),
        Code.NOT_FOUND,
        f"project {project.id!r} not found",
    )


async def test_create_project_with_a_taken_slug_already_exists(admin, project) -> None:
    await rpc_error(
        admin.CreateProject(admin_pb2.CreateProjectRequest(slug="alpha", name="Other")),
        Code.ALREADY_EXISTS,
        "alpha",
    )


@pytest.mark.parametrize(
    ("slug", "name", "description", "field"),
    [
        ("", "Name", "", "slug"),
        ("x" * 64, "Name", "", "slug"),
        ("Upper", "Name", "", "slug"),
        ("under_score", "Name", "", "slug"),
        ("-dash-first", "Name", "", "slug"),
        ("has space", "Name", "", "slug"),
        ("ok", "", "", "name"),
        ("ok", "   ", "", "name"),
        ("ok", "n" * 129, "", "name"),
        ("ok", "two\nlines", "", "name"),
        ("ok", "Name", "d" * 4097, "description"),
        ("ok", "Name", "nul\x00byte", "description"),
    ],
    ids=[
        "empty-slug",
        "slug-64",
        "slug-uppercase",
        "slug-underscore",
        "slug-leading-dash",
        "slug-space",
        "empty-name",
        "blank-name",
        "name-129",
        "name-newline",
        "description-4097",
        "description-nul",
    ],
)
async def test_create_project_rejects_bad_fields_naming_the_field(
    admin, slug, name, description, field
) -> None:
    request = admin_pb2.CreateProjectRequest(slug=slug, name=name, description=description)

    details = await rpc_error(admin.CreateProject(request), Code.INVALID_ARGUMENT)

    assert details.startswith(f"{field}: ")
    listed = await admin.ListProjects(admin_pb2.ListProjectsRequest())
    assert list(listed.projects) == []


async def test_create_project_accepts_the_longest_allowed_fields(admin) -> None:
    request = admin_pb2.CreateProjectRequest(slug="s" * 63, name="n" * 128, description="d" * 4096)

    created = (await admin.CreateProject(request)).project

    assert (len(created.slug), len(created.name), len(created.description)) == (63, 128, 4096)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 129}, "name"),
        ({"description": "d" * 4097}, "description"),
    ],
    ids=["empty-name", "name-129", "description-4097"],
)
async def test_update_project_rejects_bad_fields(admin, project, changes, field) -> None:
    request = admin_pb2.UpdateProjectRequest(project="alpha", **changes)

    await rpc_error(admin.UpdateProject(request), Code.INVALID_ARGUMENT, f"{field}: ")

    unchanged = await admin.GetProject(admin_pb2.GetProjectRequest(project="alpha"))
    assert unchanged.project == project
