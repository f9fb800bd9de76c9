"""``projectqa status`` against a real server: the server's facts, the caller, each project."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from projectqa.client.login import SavedLogin, save_login

from .conftest import Cli, RunningServer
from .test_access_health import NOTHING_LISTENS, UNREACHABLE, run


def test_status_json_names_the_server_the_caller_and_each_project(
    admin_cli: Cli, server: RunningServer, project: str
) -> None:
    status = admin_cli.json("status")
    assert status["address"] == server.address and status["address_source"] == "--address"
    assert status["health"] == "SERVING"
    info = status["server"]
    assert info["version"] == metadata.version("projectqa")
    assert info["store_backend"] == "sqlite"
    assert "MiniLM" in info["embedder"]
    assert "default_llm_model" in info
    assert info["started_at"].endswith("Z")
    assert status["user"] == {"name": "admin", "global_admin": True}
    [mine] = [p for p in status["projects"] if p["slug"] == project]
    assert mine["state"] == "nothing indexed yet"
    assert mine["last_run"] is None and mine["index_status"]["generation"] == "0"  # int64


def test_status_shows_it_at_a_glance(admin_cli: Cli, server: RunningServer, project: str) -> None:
    out = admin_cli.ok("status").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["server", server.address, "(--address)"]
    assert lines[1].split() == ["health", "SERVING"]
    assert any(line.split()[:2] == ["store", "sqlite"] for line in lines)
    assert any(line.startswith("default LLM") for line in lines)
    assert any(line.startswith("started") and "(up " in line for line in lines)
    assert any(line.split()[:3] == ["you", "admin", "(global"] for line in lines)
    row = next(line for line in lines if project in line)
    assert "never" in row and "nothing indexed yet" in row


def test_a_member_sees_only_their_projects(member_cli: Cli, project: str) -> None:
    status = member_cli.json("status")
    assert status["user"]["global_admin"] is False
    assert project not in {p["slug"] for p in status["projects"]}


def test_status_names_where_the_address_came_from(server: RunningServer) -> None:
    save_login(SavedLogin(server.address, server.admin_token))
    status = run("--json", "status")
    assert status.exit_code == 0, status.output
    assert '"address_source": "saved login"' in status.stdout
    from_env = run("--json", "status", env={"PROJECTQA_ADDRESS": NOTHING_LISTENS})
    assert from_env.exit_code == 5


def test_status_of_an_unreachable_server_says_how_to_start_one() -> None:
    result = run("--address", NOTHING_LISTENS, "--timeout", "5", "status")
    assert result.exit_code == 5
    assert result.stdout.split() == ["server", NOTHING_LISTENS, "(--address)"]
    assert result.stderr == UNREACHABLE


def test_the_default_llm_is_the_global_default_profile(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):  # read at start
        monkeypatch.delenv(name, raising=False)
    with start_server(tmp_path / "data") as own:
        cli = Cli(own.address, own.admin_token)
        before = cli.ok("status").stdout
        assert "none: answers are extractive unless a project or chat names an LLM profile" in (
            before
        )
        cli.ok("admin", "llm", "create", "main", "--provider", "ollama", "--model",
               "qwen2.5-coder:7b", "--default")  # fmt: skip
        after = cli.json("status")
    assert after["server"]["default_llm_model"] == "qwen2.5-coder:7b"


def test_status_lines_end_without_padding(admin_cli: Cli, project: str) -> None:
    lines = admin_cli.ok("status").stdout.splitlines()
    assert lines[0].startswith("server ") and "projects" in lines
    assert [line for line in lines if line != line.rstrip()] == []
