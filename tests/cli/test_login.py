"""``projectqa login``/``logout`` and the saved login: file mode, resolution order, refusals."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from projectqa.client.cli.failures import show_library_warnings
from projectqa.client.connection import resolve_address, resolve_token
from projectqa.client.login import (
    LoginFileError,
    SavedLogin,
    load_login,
    login_path,
    save_login,
)

from .conftest import RunningServer, run

ELSEWHERE = "127.0.0.1:1"


@pytest.fixture
def no_admin_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty data folder: only the saved login can give a token."""
    monkeypatch.setenv("PROJECTQA_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def private_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would be world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------ the file


def test_saved_login_is_private_even_under_umask_0(private_umask: None) -> None:
    path = save_login(SavedLogin("qa.example.com:443", "tok_1.secret", "/etc/ca.pem"))
    assert path == login_path() and path.parent.name == "projectqa"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert load_login() == SavedLogin("qa.example.com:443", "tok_1.secret", "/etc/ca.pem")
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary left


def test_the_file_is_never_readable_by_others_while_it_is_written(private_umask: None) -> None:
    # A reader races the writer: every file it ever sees in the folder is already 0600.
    folder = login_path().parent
    folder.mkdir(parents=True)
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for entry in os.scandir(folder):
                with contextlib.suppress(FileNotFoundError):  # renamed away meanwhile
                    seen.add(stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for attempt in range(300):
            save_login(SavedLogin("127.0.0.1:50051", f"tok_{attempt}.secret"))
    finally:
        done.set()
        watcher.join(timeout=30)
    assert seen == {0o600}


@pytest.mark.parametrize("unsafe_mode", [0o640, 0o604, 0o620])
def test_a_file_others_can_read_or_write_is_refused(unsafe_mode: int) -> None:
    path = save_login(SavedLogin("127.0.0.1:50051", "tok_1.secret"))
    path.chmod(unsafe_mode)
    with pytest.raises(LoginFileError, match=f"mode {unsafe_mode:04o}.*chmod 600 {path}"):
        load_login()


def test_a_file_that_is_not_a_login_is_refused() -> None:
    path = login_path()
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'address = "127.0.0.1:50051"\n')
    os.close(fd)
    with pytest.raises(LoginFileError, match="lacks address or token"):
        load_login()


# ------------------------------------------------------ resolution order


def test_resolution_order_is_flag_env_saved_then_token_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROJECTQA_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin.token").write_text("file-token\n")
    monkeypatch.delenv("PROJECTQA_ADDRESS", raising=False)
    monkeypatch.delenv("PROJECTQA_TOKEN", raising=False)
    saved = "127.0.0.1:7777"
    save_login(SavedLogin(saved, "saved-token"))

    assert resolve_address(None) == saved
    assert resolve_token(None, saved) == "saved-token"
    assert resolve_token(None, "127.0.0.1:8888") == "file-token"  # not the saved address
    monkeypatch.setenv("PROJECTQA_ADDRESS", "127.0.0.1:9999")
    monkeypatch.setenv("PROJECTQA_TOKEN", "env-token")
    assert resolve_address(None) == "127.0.0.1:9999"
    assert resolve_token(None, saved) == "env-token"
    assert resolve_address("127.0.0.1:1") == "127.0.0.1:1"
    assert resolve_token("flag-token", saved) == "flag-token"


def test_the_saved_token_never_goes_to_another_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROJECTQA_TOKEN", raising=False)
    save_login(SavedLogin("qa.example.com:443", "saved-token"))
    assert resolve_token(None, "evil.example.com:443") is None


def test_the_library_skips_an_unsafe_file_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROJECTQA_TOKEN", raising=False)
    save_login(SavedLogin("qa.example.com:443", "saved-token")).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="projectqa.client"):
        assert resolve_token(None, "qa.example.com:443") is None
    assert "readable or writable by others (mode 0644)" in caplog.text


# ------------------------------------------------------------- commands


def test_login_checks_the_token_saves_it_and_later_commands_use_it(
    server: RunningServer, no_admin_token: None
) -> None:
    result = run("login", server.address, "--token", server.admin_token)
    assert result.exit_code == 0, result.output
    assert f"Logged in to {server.address} as admin (global admin)" in result.stdout
    assert mode(login_path()) == 0o600
    whoami = run("--json", "admin", "whoami")  # neither --address nor --token
    assert whoami.exit_code == 0, whoami.output
    assert '"global_admin": true' in whoami.stdout


def test_login_reads_the_token_from_stdin(server: RunningServer, no_admin_token: None) -> None:
    result = run("--json", "login", server.address, input=f"{server.admin_token}\n")
    assert result.exit_code == 0, result.output
    assert load_login() == SavedLogin(server.address, server.admin_token)


def test_a_refused_token_is_not_saved(server: RunningServer) -> None:
    result = run("login", server.address, "--token", "tok_0189f3a2c4d5e6f7a8b9.wrong")
    assert result.exit_code == 4
    assert f"the server at {server.address} refused the token" in result.stderr
    assert "nothing was saved" in result.stderr
    assert not login_path().exists()


def test_login_to_an_unreachable_server_saves_nothing() -> None:
    result = run("login", ELSEWHERE, "--token", "tok_1.secret")
    assert result.exit_code == 5
    assert f"server at {ELSEWHERE} is not reachable" in result.stderr
    assert not login_path().exists()


def test_flags_still_win_over_the_saved_login(server: RunningServer, no_admin_token: None) -> None:
    save_login(SavedLogin(server.address, server.admin_token))
    elsewhere = run("--address", ELSEWHERE, "admin", "whoami")
    assert elsewhere.exit_code == 4  # the saved token is not sent to another address
    assert "no token" in elsewhere.stderr
    wrong = run("--token", "tok_0189f3a2c4d5e6f7a8b9.wrong", "admin", "whoami")
    assert wrong.exit_code == 4 and "invalid token" in wrong.stderr


def test_the_cli_refuses_a_saved_login_others_can_read(server: RunningServer) -> None:
    save_login(SavedLogin(server.address, server.admin_token)).chmod(0o644)
    result = run("admin", "whoami")
    assert result.exit_code == 4
    assert "readable or writable by others (mode 0644)" in result.stderr
    assert f"chmod 600 {login_path()}" in result.stderr


def test_logout_removes_the_saved_login() -> None:
    save_login(SavedLogin("127.0.0.1:50051", "tok_1.secret"))
    assert run("logout").stdout == f"Logged out: removed {login_path()}.\n"
    assert not login_path().exists()
    again = run("logout")
    assert again.exit_code == 0 and again.stdout == "Not logged in: nothing to remove.\n"


def test_an_empty_token_is_a_usage_error(server: RunningServer) -> None:
    result = run("login", server.address, input="\n")
    assert result.exit_code == 2
    assert "--token: no token was given or read from standard input" in result.stderr
    assert not login_path().exists()


def test_status_and_health_refuse_an_unsafe_login_once_and_clearly(
    server: RunningServer,
) -> None:
    save_login(SavedLogin(server.address, server.admin_token)).chmod(0o604)
    for command in ("status", "health"):
        result = run(command)
        assert result.exit_code == 4, command
        assert result.stderr.count("readable or writable by others (mode 0604)") == 1


def test_health_with_an_address_does_not_read_the_saved_login(server: RunningServer) -> None:
    save_login(SavedLogin(server.address, server.admin_token)).chmod(0o604)
    result = run("--address", server.address, "health")
    assert result.exit_code == 0, result.output
    assert result.stdout == "SERVING\n" and result.stderr == ""


def library_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("projectqa.client")]


def test_explicit_address_and_token_log_no_warning_about_the_saved_login(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    save_login(SavedLogin(server.address, server.admin_token)).chmod(0o604)
    base = ("--address", server.address, "--token", server.admin_token)
    with caplog.at_level(logging.WARNING, logger="projectqa.client"):
        result = run(*base, "--json", "admin", "whoami")
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and library_warnings(caplog) == []


def test_login_over_an_unsafe_file_warns_nothing_and_replaces_it(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    save_login(SavedLogin(server.address, "tok_old.secret")).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="projectqa.client"):
        result = run("login", server.address, "--token", server.admin_token)
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and library_warnings(caplog) == []  # was twice, unprefixed
    assert mode(login_path()) == 0o600
    assert load_login() == SavedLogin(server.address, server.admin_token)


def test_a_library_warning_shows_with_a_warning_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the library logs about a login it skips reads as the CLI's own warning.
    monkeypatch.delenv("PROJECTQA_TOKEN", raising=False)
    save_login(SavedLogin("qa.example.com:443", "tok_1.secret", tls=True)).chmod(0o604)

    @click.command()
    def lookup() -> None:
        show_library_warnings()
        assert resolve_token(None, "qa.example.com:443") is None

    result = CliRunner().invoke(lookup, [])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: ") and result.stderr.count("mode 0604") == 1


@pytest.mark.parametrize("loose_mode", [0o755, 0o777])
def test_an_existing_config_folder_others_can_enter_is_made_private(
    private_umask: None, loose_mode: int
) -> None:
    folder = login_path().parent
    folder.mkdir(parents=True)
    folder.chmod(loose_mode)
    save_login(SavedLogin("127.0.0.1:50051", "tok_1.secret"))
    assert mode(folder) == 0o700


def test_a_config_folder_of_another_user_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    login_path().parent.mkdir(parents=True)
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)  # as if the folder were not ours
    with pytest.raises(LoginFileError, match="belongs to another user"):
        save_login(SavedLogin("127.0.0.1:50051", "tok_1.secret"))
    assert not login_path().exists()
