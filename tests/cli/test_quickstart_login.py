"""``projectqa quickstart`` with a saved login: it starts a server only on this machine, and a
saved token a local server refuses gives way to the server's admin.token, as it says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from projectqa.client.cli import cli
from projectqa.client.login import SavedLogin, save_login

from .conftest import CLEAN_ENV, RunningServer

UNROUTABLE = "192.0.2.1:50051"  # TEST-NET-1: never answers


def quickstart(*args: str, data_dir: Path) -> Result:
    env = {**CLEAN_ENV, "PROJECTQA_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(cli, ["quickstart", *args], env=env)


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A current directory in no git work tree: quickstart has nothing to ingest."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


def test_a_saved_login_elsewhere_starts_no_server_here(outside_git: None, tmp_path: Path) -> None:
    save_login(SavedLogin(UNROUTABLE, "tok_1.secret", tls=True))
    result = quickstart(data_dir=tmp_path / "data")
    assert result.exit_code == 5, result.output
    assert "Starting a ProjectQA server" not in result.output
    assert f"the ProjectQA server at {UNROUTABLE} is not serving" in result.stderr
    assert "only starts a server on this machine" in result.stderr
    assert "--address 127.0.0.1:50051" in result.stderr


def test_a_refused_saved_token_gives_way_to_the_admin_token(
    outside_git: None, server: RunningServer, unique: Callable[[str], str]
) -> None:
    save_login(SavedLogin(server.address, "tok_0189f3a2c4d5e6f7a8b9.stale"))
    result = quickstart("-p", unique("qs"), data_dir=server.data_dir)
    assert "Starting a ProjectQA server" not in result.output
    said = result.stderr
    assert f"The token saved by `projectqa login` for {server.address} was refused" in said
    assert f"using the server's admin token from {server.data_dir / 'admin.token'}" in said
    assert f"Connected to {server.address} as admin" in result.stdout
    assert result.exit_code == 0, result.output


def test_a_refused_token_given_explicitly_is_not_replaced(
    outside_git: None, server: RunningServer
) -> None:
    save_login(SavedLogin(server.address, "tok_0189f3a2c4d5e6f7a8b9.stale"))
    wrong = ("--token", "tok_0189f3a2c4d5e6f7a8b9.wrong")
    env = {**CLEAN_ENV, "PROJECTQA_DATA_DIR": str(server.data_dir)}
    result = CliRunner().invoke(cli, [*wrong, "quickstart"], env=env)
    assert result.exit_code == 4
    assert "admin token" not in result.stderr
