"""Health, authentication and unreachable servers: messages and exit codes."""

from __future__ import annotations

from click.testing import CliRunner

from projectqa.client.cli import cli

NOTHING_LISTENS = "127.0.0.1:1"


def run(*args: str, env: dict[str, str | None] | None = None):
    base_env = {"PROJECTQA_ADDRESS": None, "PROJECTQA_TOKEN": None}
    return CliRunner().invoke(cli, list(args), env={**base_env, **(env or {})})


def test_health_reports_serving_without_a_token(server) -> None:
    result = run("--address", server.address, "health")
    assert result.exit_code == 0
    assert result.stdout.strip() == "SERVING"
    assert run("--address", server.address, "--json", "health").stdout.strip().startswith("{")


def test_health_needs_no_readable_token_file(server, tmp_path) -> None:
    (tmp_path / "admin.token").mkdir()
    env = {"PROJECTQA_DATA_DIR": str(tmp_path)}
    assert run("--address", server.address, "health", env=env).exit_code == 0
    denied = run("--address", server.address, "admin", "whoami", env=env)
    assert denied.exit_code == 4
    assert f"cannot read {tmp_path / 'admin.token'}" in denied.stderr


UNREACHABLE = (
    f"error: the ProjectQA server at {NOTHING_LISTENS} is not reachable "
    "(connection refused: nothing listens there).\n"
    "Start one with `projectqa serve`, or point to yours with --address ADDRESS or "
    "PROJECTQA_ADDRESS (`projectqa login ADDRESS` saves it).\n"
)


def test_health_of_an_unreachable_server_exits_5() -> None:
    result = run("--address", NOTHING_LISTENS, "--timeout", "5", "health")
    assert result.exit_code == 5
    assert result.stderr == UNREACHABLE


def test_unreachable_server_exits_5(admin_cli) -> None:
    unreachable = admin_cli.__class__(NOTHING_LISTENS, "some-token")
    result = unreachable("--timeout", "5", "admin", "project", "list")
    assert result.exit_code == 5
    assert result.stderr == UNREACHABLE


def test_the_address_from_the_environment_is_the_one_named() -> None:
    result = run("health", env={"PROJECTQA_ADDRESS": "127.0.0.1:1"})
    assert result.exit_code == 5
    assert "server at 127.0.0.1:1 is not reachable" in result.stderr
    assert "UNAVAILABLE" not in result.stderr and "ipv4:" not in result.stderr


def test_an_unknown_host_says_its_name_does_not_resolve() -> None:
    result = run("--address", "no-such-host.invalid:50051", "--timeout", "5", "health")
    assert result.exit_code == 5
    assert "no-such-host.invalid:50051 is not reachable (the host name does not resolve)" in (
        result.stderr
    )
    # Another machine: no server can be started from here, so the hint is to check the way.
    assert "projectqa serve" not in result.stderr
    assert "Check the address, that this machine can reach it" in result.stderr


def test_missing_token_gives_a_hint_and_exits_4(server, tmp_path) -> None:
    env = {"PROJECTQA_DATA_DIR": str(tmp_path)}
    result = run("--address", server.address, "admin", "whoami", env=env)
    assert result.exit_code == 4
    expected = (
        "error: no token: pass --token, set PROJECTQA_TOKEN or start the server once "
        f"to create {tmp_path / 'admin.token'}"
    )
    assert result.stderr.strip() == expected


def test_token_file_in_the_data_dir_is_used_by_default(server) -> None:
    env = {"PROJECTQA_DATA_DIR": str(server.data_dir)}
    result = run("--address", server.address, "--json", "admin", "whoami", env=env)
    assert result.exit_code == 0, result.output
    assert '"global_admin": true' in result.stdout


def test_address_and_token_come_from_the_environment(server) -> None:
    env = {"PROJECTQA_ADDRESS": server.address, "PROJECTQA_TOKEN": server.admin_token}
    assert run("admin", "whoami", env=env).exit_code == 0


def test_wrong_token_exits_4(server) -> None:
    result = run("--address", server.address, "--token", "tok_bogus.secret", "admin", "whoami")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: UNAUTHENTICATED: ")


def test_non_admin_cannot_create_projects_or_users(member_cli, unique) -> None:
    result = member_cli("admin", "project", "create", unique("denied"))
    assert result.exit_code == 4
    assert result.stderr.startswith("error: PERMISSION_DENIED: ")
    assert member_cli("admin", "user", "create", unique("denied")).exit_code == 4
    assert member_cli("admin", "user", "list").exit_code == 4
