"""``projectqa admin member`` against a real server."""

from __future__ import annotations


def test_member_add_list_change_remove(admin_cli, project, member_cli) -> None:
    name = member_cli.json("admin", "whoami")["user"]["name"]
    added = admin_cli.json("admin", "member", "add", project, name)
    assert added["role"] == "PROJECT_ROLE_MEMBER"
    assert added["project_slug"] == project

    listed = admin_cli.json("admin", "member", "list", project)
    assert [(m["user_name"], m["role"]) for m in listed] == [(name, "PROJECT_ROLE_MEMBER")]
    assert "member" in admin_cli.ok("admin", "member", "list", project).stdout

    promoted = admin_cli.json("admin", "member", "add", project, name, "--role", "admin")
    assert promoted["role"] == "PROJECT_ROLE_ADMIN"
    memberships = member_cli.json("admin", "whoami")["memberships"]
    assert [m["project_slug"] for m in memberships] == [project]

    assert admin_cli.json("admin", "member", "remove", project, name) == {}
    assert admin_cli.json("admin", "member", "list", project) == []


def test_unknown_user_exits_3(admin_cli, project) -> None:
    assert admin_cli("admin", "member", "add", project, "nobody-at-all").exit_code == 3


def test_bad_role_is_a_usage_error(admin_cli, project) -> None:
    assert admin_cli("admin", "member", "add", project, "x", "--role", "owner").exit_code == 2


def test_project_member_cannot_administer_it(admin_cli, project, member_cli) -> None:
    name = member_cli.json("admin", "whoami")["user"]["name"]
    admin_cli.ok("admin", "member", "add", project, name)
    assert name in member_cli.ok("admin", "member", "list", project).stdout
    result = member_cli("admin", "member", "add", project, name, "--role", "admin")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: PERMISSION_DENIED: ")


def test_outsider_sees_projects_as_missing(project, member_cli) -> None:
    result = member_cli("admin", "member", "list", project)
    assert result.exit_code == 3
    assert member_cli.json("admin", "project", "list") == []
