"""``projectqa admin connector`` against a real server; secrets must never be printed."""

from __future__ import annotations

import json

SECRET_FIELD = "api_token"  # declared writeOnly by the test plugin (conftest)


def _create(cli, project: str, name: str, *args: str, **kwargs) -> dict:
    config = json.dumps({"url": "https://example.test/repo.git", "branch": "main"})
    return cli.json(
        "admin",
        "connector",
        "create",
        project,
        "--type",
        "clitest",
        "--name",
        name,
        "--config",
        config,
        *args,
        **kwargs,
    )


def test_connector_types_lists_plugin_types_with_secret_fields(admin_cli) -> None:
    types = {t["name"]: t for t in admin_cli.json("admin", "connector", "types")}
    assert types["clitest"]["secret_fields"] == [SECRET_FIELD]
    assert types["clitest"]["config_schema"]["type"] == "object"
    assert "clitest" in admin_cli.ok("admin", "connector", "types").stdout


def test_connector_create_list_update_delete(admin_cli, project) -> None:
    created = _create(admin_cli, project, "main-repo")
    assert created["id"].startswith("con_")
    assert created["config"] == {"url": "https://example.test/repo.git", "branch": "main"}
    assert created["secret_fields_set"] == []

    listed = admin_cli.json("admin", "connector", "list", project)
    assert [c["id"] for c in listed] == [created["id"]]
    assert "main-repo" in admin_cli.ok("admin", "connector", "list", project).stdout

    renamed = admin_cli.json("admin", "connector", "update", created["id"], "--name", "renamed")
    assert renamed["name"] == "renamed"
    assert renamed["config"] == created["config"]

    new_config = json.dumps({"url": "https://example.test/other.git"})
    changed = admin_cli.json("admin", "connector", "update", created["id"], "--config", new_config)
    assert changed["config"] == {"url": "https://example.test/other.git"}

    assert admin_cli.json("admin", "connector", "delete", created["id"]) == {}
    assert admin_cli.json("admin", "connector", "list", project) == []
    assert admin_cli("admin", "connector", "delete", created["id"]).exit_code == 3


def test_config_can_come_from_a_file(admin_cli, project, tmp_path) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"url": "https://example.test/file.git"}))
    created = admin_cli.json(
        "admin",
        "connector",
        "create",
        project,
        "--type",
        "clitest",
        "--name",
        "from-file",
        "--config",
        f"@{config_file}",
    )
    assert created["config"]["url"] == "https://example.test/file.git"


def test_secret_from_argument_is_stored_but_never_printed(admin_cli, project, server_log) -> None:
    secret = "s3cr3t-from-argument"
    args = ["--secret", f"{SECRET_FIELD}={secret}"]
    created = _create(admin_cli, project, "with-arg", *args)
    assert created["secret_fields_set"] == [SECRET_FIELD]
    assert SECRET_FIELD not in created["config"]
    for output_flag in ([], ["--json"]):
        listed = admin_cli.ok(*output_flag, "admin", "connector", "list", project)
        assert secret not in listed.output
    assert secret not in server_log()


def test_secret_from_stdin_and_env(admin_cli, project) -> None:
    stdin_secret = "s3cr3t-from-stdin"
    result = admin_cli.ok(
        "admin",
        "connector",
        "create",
        project,
        "--type",
        "clitest",
        "--name",
        "stdin",
        "--config",
        '{"url": "https://example.test/a.git"}',
        "--secret-stdin",
        SECRET_FIELD,
        input=stdin_secret + "\n",
    )
    assert stdin_secret not in result.output
    assert SECRET_FIELD in result.stdout  # listed among the secret fields set

    env_secret = "s3cr3t-from-env"
    created = _create(
        admin_cli,
        project,
        "env",
        "--secret-env",
        f"{SECRET_FIELD}=CLITEST_SECRET",
        env={"CLITEST_SECRET": env_secret},
    )
    assert created["secret_fields_set"] == [SECRET_FIELD]


def test_secret_update_keeps_config_and_clear_erases(admin_cli, project) -> None:
    created = _create(admin_cli, project, "rotate")
    secret = "rotated-s3cr3t"
    result = admin_cli.ok(
        "--json",
        "admin",
        "connector",
        "update",
        created["id"],
        "--secret",
        f"{SECRET_FIELD}={secret}",
    )
    assert secret not in result.output
    updated = json.loads(result.stdout)
    assert updated["secret_fields_set"] == [SECRET_FIELD]
    assert updated["config"] == created["config"]

    cleared = admin_cli.json(
        "admin", "connector", "update", created["id"], "--clear-secret", SECRET_FIELD
    )
    assert cleared["secret_fields_set"] == []
    assert cleared["config"] == created["config"]


def test_config_failing_the_schema_exits_2(admin_cli, project) -> None:
    result = admin_cli(
        "admin",
        "connector",
        "create",
        project,
        "--type",
        "clitest",
        "--name",
        "bad",
        "--config",
        '{"branch": "main"}',
    )
    assert result.exit_code == 2
    assert "INVALID_ARGUMENT" in result.stderr


def test_bad_config_json_is_a_usage_error(admin_cli, project) -> None:
    result = admin_cli(
        "admin",
        "connector",
        "create",
        project,
        "--type",
        "clitest",
        "--name",
        "x",
        "--config",
        "{not json",
    )
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_duplicate_connector_name_exits_6(admin_cli, project) -> None:
    _create(admin_cli, project, "twice")
    config = '{"url": "https://example.test/b.git"}'
    result = admin_cli(
        "admin",
        "connector",
        "create",
        project,
        "--type",
        "clitest",
        "--name",
        "twice",
        "--config",
        config,
    )
    assert result.exit_code == 6


def test_a_url_with_credentials_is_a_secret_never_printed(admin_cli, project, server_log) -> None:
    password = "pa55-in-a-cli-url-31b7"
    bare = "https://example.test/private.git"
    result = admin_cli.ok(
        "--json",
        *("admin", "connector", "create", project, "--type", "clitest", "--name", "in-url"),
        *("--config", '{"branch": "main"}', "--secret-stdin", "url"),
        input=f"https://alice:{password}@example.test/private.git\n",
    )
    created = json.loads(result.stdout)
    assert created["config"] == {"url": bare, "branch": "main"}
    assert created["secret_fields_set"] == ["url"]

    # Sending the URL back without its credentials keeps them.
    same = json.dumps(created["config"])
    kept = admin_cli.json("admin", "connector", "update", created["id"], "--config", same)
    assert kept["secret_fields_set"] == ["url"]
    for output_flag in ([], ["--json"]):
        for command in (["list", project], ["get", created["id"]]):
            shown = admin_cli.ok(*output_flag, "admin", "connector", *command)
            assert password not in shown.output and "alice" not in shown.output
    assert password not in result.output and password not in server_log()

    cleared = admin_cli.json("admin", "connector", "update", created["id"], "--clear-secret", "url")
    assert (cleared["config"]["url"], cleared["secret_fields_set"]) == (bare, [])
