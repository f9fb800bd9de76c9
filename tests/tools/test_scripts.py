"""run_script_tool with real processes: argv and environment, never a shell; bounded in
time and output; the whole process group killed."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from projectqa.server.models import CustomTool, utcnow
from projectqa.server.tools.base import Checkout, ToolResult
from projectqa.server.tools.scripts import expand_command, run_script_tool

# Prints what it received: argv after the program, the environment and the cwd.
SHOW_ARGS = f"""#!{sys.executable}
import json, os, sys
print(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}}))
"""
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "files": {"type": "array"},
        "label": {"type": "string"},
        "options": {"type": "object"},
        "count": {"type": "integer"},
        "flag": {"type": "boolean"},
    },
}


async def run_in(tool: CustomTool, arguments: dict[str, Any], folder: Path) -> ToolResult:
    """Run ``tool`` in ``folder``, as a checkout of that folder."""
    return await run_script_tool(tool, arguments, Checkout("con_t", "t", folder.resolve()))


def make_tool(command: list[str], **changes: Any) -> CustomTool:
    now = utcnow()
    tool = CustomTool(
        id="ctl_test", project_id="prj_1", name="t", description="test", command=command,
        arguments_schema=SCHEMA, timeout_seconds=30, max_output_bytes=65536,
        side_effects=False, connector="", enabled=True, created_at=now, updated_at=now,
    )  # fmt: skip
    return replace(tool, **changes)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    script = root / "show_args.py"
    script.write_text(SHOW_ARGS)
    script.chmod(0o755)
    return root


async def shown(checkout: Path, command: list[str], arguments: dict[str, Any]) -> dict[str, Any]:
    result = await run_in(make_tool(command), arguments, checkout)
    assert not result.is_error, result.error
    return json.loads(result.value["stdout"])


def is_gone(pid: int) -> bool:
    """Not running any more (exited, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


async def wait_gone(pid: int) -> bool:
    # SIGKILL is queued by kill(2) and acted on when the process next runs.
    for _ in range(500):
        if is_gone(pid):
            return True
        await asyncio.sleep(0.01)
    return False


# ----------------------------------------------------------------- argv


async def test_metacharacters_stay_literal(checkout: Path) -> None:
    (checkout / "x").write_text("keep me")
    nasty = ["; rm -rf x", "$(touch pwned)", "`touch pwned2`", "*", "a b", "> out", "| cat", "&&"]

    got = await shown(checkout, ["./show_args.py", "{files}", "--text={text}"], {
        "files": nasty,
        "text": "$(touch pwned3); rm -rf x",
    })  # fmt: skip

    assert got["argv"] == [*nasty, "--text=$(touch pwned3); rm -rf x"]
    assert sorted(p.name for p in checkout.iterdir()) == ["show_args.py", "x"]
    assert (checkout / "x").read_text() == "keep me"


async def test_argument_expansion(checkout: Path) -> None:
    command = [
        "./show_args.py", "{files}", "--label={label}", "{text}", "{count}", "{flag}",
        "{options}", "n={count}", "fixed",
    ]  # fmt: skip

    got = await shown(checkout, command, {
        "files": ["a.py", "b c.py", 3, {"k": 1}],
        "count": 2,
        "flag": True,
        "options": {"deep": [1, "x"]},
    })  # fmt: skip

    # Missing `label` drops "--label={label}"; missing `text` drops "{text}".
    assert got["argv"] == [
        "a.py", "b c.py", "3", '{"k":1}', "2", "true", '{"deep":[1,"x"]}', "n=2", "fixed",
    ]  # fmt: skip


def test_an_empty_array_drops_the_item() -> None:
    assert expand_command(["ls", "{files}", "-l"], {"files": []}) == ["ls", "-l"]


async def test_environment_is_minimal_plus_the_arguments(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECTQA_MONGODB_URI", "mongodb://admin:hunter2@db")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    arguments = {"text": "héllo $(x)", "files": ["a", "b"], "max-count": 3}

    got = await shown(checkout, ["./show_args.py"], arguments)

    env = got["env"]
    assert env["PROJECTQA_ARG_TEXT"] == "héllo $(x)"
    assert env["PROJECTQA_ARG_FILES"] == '["a","b"]'
    assert env["PROJECTQA_ARG_MAX_COUNT"] == "3"
    assert json.loads(env["PROJECTQA_ARGS"]) == arguments
    assert env["PATH"] == os.environ["PATH"]
    assert "hunter2" not in json.dumps(env) and "secret" not in json.dumps(env)
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME"}
    extra = {k for k in env if k not in allowed and not k.startswith("PROJECTQA_ARG")}
    assert extra <= {"PWD", "SHLVL", "_", "LC_CTYPE"}  # what an exec'd interpreter may add


async def test_runs_in_the_checkout_with_no_stdin(checkout: Path) -> None:
    got = await shown(checkout, ["./show_args.py"], {})
    assert got["cwd"] == str(checkout.resolve())

    # `cat` with no file reads stdin: /dev/null ends it at once.
    result = await run_in(make_tool(["cat"]), {}, checkout)
    assert (result.is_error, result.value["stdout"]) == (False, "")


# ------------------------------------------------------------- failures


async def test_a_command_that_does_not_exist(checkout: Path) -> None:
    result = await run_in(make_tool(["no-such-program-xyz", "{text}"]), {}, checkout)

    assert result.is_error
    assert result.error == "command 'no-such-program-xyz' not found in PATH"
    assert result.value is None


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("./missing.sh", "command './missing.sh' does not exist"),
        ("./data.txt", "command './data.txt' is not executable"),
        ("../outside.sh", "command '../outside.sh' leaves the working directory"),
        ("./escape.sh", "command './escape.sh' leaves the working directory"),
        ("./sub", "command './sub' is not a file"),
    ],
)
async def test_relative_programs_stay_in_the_checkout(
    checkout: Path, program: str, message: str
) -> None:
    (checkout / "data.txt").write_text("not a program")
    (checkout / "sub").mkdir()
    outside = checkout.parent / "outside.sh"
    outside.write_text("#!/bin/sh\necho escaped\n")
    outside.chmod(0o755)
    (checkout / "escape.sh").symlink_to(outside)

    result = await run_in(make_tool([program]), {}, checkout)

    assert (result.is_error, result.error) == (True, message)


async def test_a_non_zero_exit_is_an_error_with_the_output_tail(checkout: Path) -> None:
    command = ["sh", "-c", "echo partial; echo 'lint: 3 problems' >&2; exit 3"]

    result = await run_in(make_tool(command), {}, checkout)

    assert result.is_error
    assert result.error == "exited with code 3: lint: 3 problems"
    assert result.value == {
        "exit_code": 3,
        "stdout": "partial\n",
        "stderr": "lint: 3 problems\n",
        "truncated": False,
    }


async def test_flooding_output_is_cut_and_the_command_killed(checkout: Path) -> None:
    result = await run_in(make_tool(["yes"], max_output_bytes=1024), {}, checkout)

    assert result.is_error
    assert result.error == "output exceeded 1024 bytes; the command was killed"
    assert result.value["truncated"] is True
    assert result.value["stdout"] == "y\n" * 512
    assert result.value["exit_code"] == -9


async def test_the_cap_counts_stdout_and_stderr_together(checkout: Path) -> None:
    command = ["sh", "-c", "yes out & yes err >&2"]

    result = await run_in(make_tool(command, max_output_bytes=4096), {}, checkout)

    assert result.error.startswith("output exceeded 4096 bytes")
    value = result.value
    assert len(value["stdout"]) + len(value["stderr"]) == 4096


async def test_output_of_exactly_the_cap_is_not_truncated(checkout: Path) -> None:
    command = ["sh", "-c", "head -c 1024 /dev/zero | tr '\\0' a"]

    result = await run_in(make_tool(command, max_output_bytes=1024), {}, checkout)

    assert (result.is_error, result.value["truncated"]) == (False, False)
    assert result.value["stdout"] == "a" * 1024


async def test_a_hung_command_is_killed_with_its_whole_group(checkout: Path) -> None:
    # The shell starts a grandchild, records both pids, then hangs.
    script = "sleep 60 & echo $! > child.pid; echo $$ > shell.pid; sleep 60"
    tool = make_tool(["sh", "-c", script], timeout_seconds=1)

    result = await run_in(tool, {}, checkout)

    assert result.is_error
    assert result.error == "timed out after 1 s; the command was killed"
    for name in ("shell.pid", "child.pid"):
        pid = int((checkout / name).read_text())
        assert await wait_gone(pid), f"{name} {pid} still runs"


async def test_processes_left_behind_are_killed_when_the_program_exits(checkout: Path) -> None:
    tool = make_tool(["sh", "-c", "sleep 60 & echo $!"], timeout_seconds=30)

    result = await run_in(tool, {}, checkout)

    assert not result.is_error, result.error  # not a timeout: the run ends with its program
    assert await wait_gone(int(result.value["stdout"]))


async def test_a_cancelled_call_kills_the_group(checkout: Path) -> None:
    tool = make_tool(["sh", "-c", "echo $$ > shell.pid; sleep 60"], timeout_seconds=60)
    task = asyncio.create_task(run_in(tool, {}, checkout))
    pid_file = checkout / "shell.pid"
    for _ in range(1000):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.01)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await wait_gone(int(pid_file.read_text()))


async def test_a_nul_in_an_argument_is_an_error(checkout: Path) -> None:
    result = await run_in(make_tool(["echo", "{text}"]), {"text": "a\x00b"}, checkout)

    assert result.is_error
    assert result.error.startswith("cannot pass the arguments")


async def test_output_that_is_not_utf8_is_decoded_with_replacements(checkout: Path) -> None:
    command = ["sh", "-c", "printf 'ok \\377\\376 done'"]

    result = await run_in(make_tool(command), {}, checkout)

    assert result.value["stdout"] == "ok \ufffd\ufffd done"


async def test_a_missing_working_directory(tmp_path: Path) -> None:
    result = await run_in(make_tool(["true"]), {}, tmp_path / "gone")

    assert result.is_error
    assert "does not exist" in result.error


@pytest.mark.parametrize("value", ["--pre=/tmp/prog", "-c", ["ok", "-x"]])
async def test_a_whole_item_argument_cannot_become_an_option(checkout: Path, value) -> None:
    tool = make_tool(["./show_args.py", "{files}"])

    result = await run_in(tool, {"files": value}, checkout)

    assert result.is_error
    assert "must not start with '-'" in result.error


def test_inside_a_longer_item_a_dash_is_only_a_value() -> None:
    assert expand_command(["rg", "--glob={g}"], {"g": "-x"}) == ["rg", "--glob=-x"]
