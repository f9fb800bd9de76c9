"""Rough edges a new user hit (issue 18): PROJECT positional or -p everywhere, ranges checked
before any call, errors of an unreachable server, and shell completion that generates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from projectqa.client.errors import ClientError
from tests.e2e.deployment import PROJECTQA

from .conftest import Cli

LLM_CREATE = ("admin", "llm", "create", "n", "--provider", "ollama", "--model", "m")


# ------------------------------------------------------- PROJECT or -p/--project


def test_every_project_command_takes_the_project_either_way(admin_cli: Cli, project: str) -> None:
    connector = ["--type", "clitest", "--name", "src", "--config", '{"url": "file:///src"}']
    admin_cli.ok("admin", "connector", "create", "-p", project, *connector)
    for command in (
        ("admin", "project", "get"),
        ("admin", "connector", "list"),
        ("admin", "member", "list"),
        ("admin", "tool", "list"),
        ("runs", "list"),
        ("tools", "list"),
        ("custom-tools", "list"),
    ):
        positional = admin_cli.json(*command, project)
        assert admin_cli.json(*command, "-p", project) == positional, command
        assert admin_cli.json(*command, "--project", project) == positional, command
        assert admin_cli.json(*command, project, "-p", project) == positional, command
    [listed] = admin_cli.json("admin", "connector", "list", "--project", project)
    assert listed["name"] == "src"


def test_the_project_flag_makes_room_for_the_next_argument(admin_cli: Cli, project: str) -> None:
    # `tool enable P TOOL` and `tool enable -p P TOOL`: TOOL is bound either way.
    enabled = admin_cli.json("admin", "tool", "enable", "-p", project, "count_lines")
    assert enabled["name"] == "count_lines" and enabled["enabled"] is True
    disabled = admin_cli.json("admin", "tool", "disable", project, "count_lines")
    assert disabled["enabled"] is False
    runs = admin_cli.json("runs", "-p", project)  # the group's default subcommand, too
    assert runs == []


def test_a_project_given_twice_differently_is_a_usage_error(admin_cli: Cli, project: str) -> None:
    result = admin_cli("admin", "project", "get", "other-project", "-p", project)
    assert result.exit_code == 2
    assert "the project is given twice, differently" in result.stderr
    assert f"P 'other-project' and --project '{project}'" in result.stderr


def test_no_project_at_all_says_how_to_give_one(admin_cli: Cli) -> None:
    for command in (("admin", "project", "get"), ("runs", "list"), ("ingest",)):
        result = admin_cli(*command)
        assert result.exit_code == 2, command
        assert "which project? Give PROJECT (id or slug)" in result.stderr or (
            "which project? Give P (id or slug)" in result.stderr
        )
        assert "-p/--project" in result.stderr


def test_a_missing_second_argument_is_still_named(admin_cli: Cli, project: str) -> None:
    result = admin_cli("search", "-p", project)
    assert result.exit_code == 2
    assert "Missing argument 'QUERY'" in result.stderr


def test_help_needs_no_project(admin_cli: Cli) -> None:
    out = admin_cli.ok("search", "--help").stdout
    assert "Usage: cli search [OPTIONS] [PROJECT] QUERY" in out
    assert "-p, --project PROJECT" in out


# --------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("search", "P", "q", "-k", "0"), "'-k' / '--top-k'"),
        (("search", "P", "q", "--per-document", "0"), "'--per-document'"),
        (("search", "P", "q", "--lines", "-1"), "'--lines'"),
        (("symbols", "P", "name", "--limit", "201"), "'--limit'"),
        (("grep", "P", "x", "-C", "11"), "'-C' / '--context'"),
        (("grep", "P", "x", "-m", "0"), "'-m' / '--max-count'"),
        ((*LLM_CREATE, "--temperature", "3"), "'--temperature'"),
        ((*LLM_CREATE, "--timeout", "0"), "'--timeout'"),
    ],
)
def test_documented_ranges_are_checked_before_any_call(
    admin_cli: Cli, args: tuple[str, ...], option: str
) -> None:
    unreachable = Cli("127.0.0.1:1", "some-token")  # nothing is dialled for a usage error
    result = unreachable(*args)
    assert result.exit_code == 2
    assert f"Invalid value for {option}" in result.stderr


# ---------------------------------------------------- unreachable server


@pytest.mark.parametrize(
    "details",
    [
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
        "Failed to connect to remote host: Connection refused",
        "DNS resolution failed for nowhere.invalid:1: C-ares status is not ARES_SUCCESS",
    ],
)
def test_the_runtime_s_connection_failures_are_recognised(details: str) -> None:
    assert ClientError(grpc.StatusCode.UNAVAILABLE, details).connection_failure


def test_a_server_s_own_unavailable_is_not_a_connection_failure() -> None:
    # The server was reached; its store was not (pymongo's words, quoted by the server).
    store_down = "store unavailable: localhost:27017: [Errno 111] Connection refused"
    assert ClientError(grpc.StatusCode.UNAVAILABLE, store_down).connection_failure is None
    refused = "failed to connect to all addresses; Connection refused"
    assert ClientError(grpc.StatusCode.INTERNAL, refused).connection_failure is None


# ------------------------------------------------------------ completion


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "_projectqa_completion"),
        ("zsh", "#compdef projectqa"),
        ("fish", "complete --no-files --command projectqa"),
    ],
)
def test_the_completion_script_generates(shell: str, marker: str) -> None:
    script = subprocess.run(
        [PROJECTQA],
        env={"_PROJECTQA_COMPLETE": f"{shell}_source", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert marker in script


def test_bash_completes_commands_and_options_with_the_generated_script() -> None:
    # The script is sourced in a real bash and its function called as bash would.
    program = f"""
        eval "$(_PROJECTQA_COMPLETE=bash_source {PROJECTQA})"
        complete -p projectqa >/dev/null
        COMP_WORDS=(projectqa sta); COMP_CWORD=1; _projectqa_completion projectqa
        echo "commands: ${{COMPREPLY[*]}}"
        COMPREPLY=(); COMP_WORDS=(projectqa search --to); COMP_CWORD=2
        _projectqa_completion projectqa
        echo "options: ${{COMPREPLY[*]}}"
    """
    out = subprocess.run(
        ["bash", "--norc", "-c", program],
        env={"PATH": f"{Path(PROJECTQA).parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "commands: status" in out.splitlines()
    assert "options: --top-k" in out.splitlines()


# ----------------------------------------------------------------- JSON


def test_ingest_no_wait_json_names_the_runs(admin_cli: Cli, project: str) -> None:
    # The connector's source is empty (conftest): the run still gets a real id.
    for name in ("one", "two"):  # one run in progress per connector
        admin_cli.ok("admin", "connector", "create", project, "--type", "clitest", "--name",
                     name, "--config", '{"url": "file:///src"}')  # fmt: skip
    [run] = admin_cli.json("ingest", "--no-wait", "-p", project, "--connector", "one")
    assert run["id"].startswith("run_")
    text = admin_cli.ok("ingest", project, "--no-wait", "--connector", "two").stdout
    run_id = text.split("run ", 1)[1].split(")", 1)[0]
    assert f"Follow it with `projectqa runs watch {run_id}`" in text
    assert "RUN_ID" not in text


def test_a_variadic_command_takes_the_project_either_way(admin_cli: Cli, project: str) -> None:
    options = ("--description", "Echo a word")
    by_flag = admin_cli.json("custom-tools", "create", "-p", project, "one", *options, "--",
                             "echo", "one")  # fmt: skip
    assert by_flag["name"] == "one" and by_flag["command"] == ["echo", "one"]
    both = admin_cli.json("custom-tools", "create", project, "two", "-p", project, *options,
                          "--", "echo", "two")  # fmt: skip
    assert both["name"] == "two" and both["command"] == ["echo", "two"]
    listed = admin_cli.json("custom-tools", "list", "--project", project)
    assert sorted(tool["name"] for tool in listed) == ["one", "two"]


def test_a_forgotten_second_argument_is_named_not_taken_for_the_project(admin_cli: Cli) -> None:
    # `search shop`: shop is the project, QUERY is what is missing ("which project?" misled).
    for command, missing in (
        (("search", "shop"), "QUERY"),
        (("grep", "shop"), "PATTERN"),
        (("open", "shop"), "PATH[:START[-END]]"),
        (("admin", "member", "add", "shop"), "USER"),
    ):
        result = admin_cli(*command)
        assert result.exit_code == 2, command
        assert f"Missing argument '{missing}'" in result.stderr, (command, result.stderr)
        assert "which project" not in result.stderr


def test_the_project_flag_twice_must_name_one_project(admin_cli: Cli, project: str) -> None:
    result = admin_cli("search", "-p", project, "-p", "other", "retry")
    assert result.exit_code == 2
    assert f"-p/--project is given more than once, differently ('{project}' and 'other')" in (
        result.stderr
    )
    assert admin_cli.json("admin", "project", "get", "-p", project, "--project", project)
