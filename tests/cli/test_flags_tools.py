"""``projectqa admin flag`` and ``tool`` against a real server."""

from __future__ import annotations


def _flags(cli, *args: str) -> dict[str, tuple[bool, str]]:
    listed = cli.json("admin", "flag", "list", *args)
    return {flag["key"]: (flag["enabled"], flag["scope"]) for flag in listed}


def test_flag_set_list_reset_globally_and_per_project(admin_cli, project, unique) -> None:
    key = unique("beta").replace("-", "_")
    set_globally = admin_cli.json("admin", "flag", "set", key, "on")
    assert set_globally == {"key": key, "enabled": True, "scope": "FEATURE_FLAG_SCOPE_GLOBAL"}
    assert _flags(admin_cli)[key] == (True, "FEATURE_FLAG_SCOPE_GLOBAL")
    assert _flags(admin_cli, "--project", project)[key] == (True, "FEATURE_FLAG_SCOPE_GLOBAL")

    admin_cli.ok("admin", "flag", "set", key, "off", "--project", project)
    assert _flags(admin_cli, "--project", project)[key] == (False, "FEATURE_FLAG_SCOPE_PROJECT")
    assert key in admin_cli.ok("admin", "flag", "list", "--project", project).stdout

    fallen_back = admin_cli.json("admin", "flag", "reset", key, "--project", project)
    assert fallen_back["enabled"] is True
    assert fallen_back["scope"] == "FEATURE_FLAG_SCOPE_GLOBAL"

    assert admin_cli.json("admin", "flag", "reset", key) == {}
    assert key not in _flags(admin_cli)
    assert "has no value now" in admin_cli.ok("admin", "flag", "reset", key).stdout


def test_bad_flag_value_is_a_usage_error(admin_cli) -> None:
    assert admin_cli("admin", "flag", "set", "beta", "maybe").exit_code == 2


def test_tool_list_enable_disable(admin_cli, project) -> None:
    tools = {tool["name"]: tool for tool in admin_cli.json("admin", "tool", "list", project)}
    assert tools["run_checks"]["enabled"] is False
    assert tools["run_checks"]["side_effects"] is True

    enabled = admin_cli.json("admin", "tool", "enable", project, "run_checks")
    assert enabled["enabled"] is True
    tools = {tool["name"]: tool for tool in admin_cli.json("admin", "tool", "list", project)}
    assert tools["run_checks"]["enabled"] is True
    assert tools["count_lines"]["enabled"] is False
    assert "run_checks" in admin_cli.ok("admin", "tool", "list", project).stdout

    disabled = admin_cli.ok("admin", "tool", "disable", project, "run_checks").stdout
    assert "enabled" in disabled and "no" in disabled


def test_unknown_tool_exits_3(admin_cli, project) -> None:
    assert admin_cli("admin", "tool", "enable", project, "no_such_tool").exit_code == 3
