"""``projectqa admin project`` against a real server."""

from __future__ import annotations


def test_project_create_get_list_update_delete(admin_cli, unique) -> None:
    slug = unique("lifecycle")
    created = admin_cli.json("admin", "project", "create", slug, "--name", "Lifecycle")
    assert created["slug"] == slug
    assert created["id"].startswith("prj_")

    shown = admin_cli.ok("admin", "project", "get", slug).stdout
    assert created["id"] in shown and "Lifecycle" in shown

    listed = admin_cli.json("admin", "project", "list")
    assert slug in [project["slug"] for project in listed]

    updated = admin_cli.json(
        "admin", "project", "update", created["id"], "--description", "Now described"
    )
    assert updated["description"] == "Now described"
    assert updated["name"] == "Lifecycle"

    assert admin_cli.json("admin", "project", "delete", slug, "--yes") == {}
    assert admin_cli("admin", "project", "get", slug).exit_code == 3


def test_project_name_defaults_to_slug(admin_cli, unique) -> None:
    slug = unique("unnamed")
    assert admin_cli.json("admin", "project", "create", slug)["name"] == slug


def test_project_list_follows_every_page(admin_cli, unique) -> None:
    slugs = {unique(f"paged{index}") for index in range(3)}
    for slug in slugs:
        admin_cli.ok("admin", "project", "create", slug)
    listed = admin_cli.json("admin", "project", "list", "--page-size", "1")
    assert slugs <= {project["slug"] for project in listed}
    table = admin_cli.ok("admin", "project", "list", "--page-size", "2").stdout
    assert all(slug in table for slug in slugs)


def test_duplicate_slug_exits_6_with_the_status_on_stderr(admin_cli, project) -> None:
    result = admin_cli("admin", "project", "create", project)
    assert result.exit_code == 6
    assert result.stderr.startswith("error: ALREADY_EXISTS: ")
    assert result.stdout == ""


def test_missing_project_exits_3(admin_cli) -> None:
    result = admin_cli("admin", "project", "get", "no-such-project")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: NOT_FOUND: ")


def test_invalid_slug_exits_2(admin_cli) -> None:
    result = admin_cli("admin", "project", "create", "Not A Slug!")
    assert result.exit_code == 2
    assert "INVALID_ARGUMENT" in result.stderr


def test_update_without_changes_is_a_usage_error(admin_cli, project) -> None:
    result = admin_cli("admin", "project", "update", project)
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_delete_asks_for_confirmation(admin_cli, project) -> None:
    declined = admin_cli("admin", "project", "delete", project, input="n\n")
    assert declined.exit_code == 1
    admin_cli.ok("admin", "project", "get", project)
    accepted = admin_cli.ok("admin", "project", "delete", project, input="y\n")
    assert f"Deleted project {project}." in accepted.stdout
