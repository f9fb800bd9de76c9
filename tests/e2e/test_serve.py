"""`projectqa serve` as a user runs it: a subprocess, real signals, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from .deployment import PROJECTQA

pytestmark = pytest.mark.e2e


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    return {
        **env,
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        **extra,
    }


def _start(data_dir: Path, **extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [PROJECTQA, "serve"],
        env=_env(data_dir, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, line.split("listening on ")[1].split()[0]


def _cli(address: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROJECTQA, "--address", address, *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_bootstraps_admin_and_the_cli_administers_it(tmp_path: Path) -> None:
    proc, address = _start(tmp_path)
    try:
        token_line = proc.stdout.readline()
        assert str(tmp_path / "admin.token") in token_line
        assert (tmp_path / "admin.token").stat().st_mode & 0o777 == 0o600
        assert _cli(address, tmp_path, "health").returncode == 0
        created = _cli(address, tmp_path, "admin", "project", "create", "demo", "--name", "Demo")
        assert created.returncode == 0, created.stderr
        listed = _cli(address, tmp_path, "--json", "admin", "project", "list")
        assert [p["slug"] for p in json.loads(listed.stdout)] == ["demo"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    log_lines = [
        json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")
    ]
    assert any(e.get("rpc", "").endswith("/CreateProject") for e in log_lines)
    assert any(e["msg"] == "shutting down" for e in log_lines)


def test_sigint_also_shuts_down_cleanly(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_unwritable_sqlite_location_fails_with_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    result = subprocess.run(
        [PROJECTQA, "serve"], env=_env(blocker / "data"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "error:" in result.stderr and str(blocker) in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_settings_name_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [PROJECTQA, "serve"],
        env=_env(tmp_path, PROJECTQA_MAX_MESSAGE_BYTES="12", PROJECTQA_LOG_LEVEL="LOUD"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PROJECTQA_MAX_MESSAGE_BYTES" in result.stderr
    assert "PROJECTQA_LOG_LEVEL" in result.stderr


def test_toml_config_file_is_read(tmp_path: Path) -> None:
    config = tmp_path / "projectqa.toml"
    config.write_text('log_format = "text"\nreflection = true\n')
    proc = subprocess.Popen(
        [PROJECTQA, "serve", "--config", str(config)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "listening on" in proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "I projectqa.server: shutting down" in proc.stderr.read()


def git_repository(root: Path) -> Path:
    """A one-commit git repository of two files (the quickstart tests ingest it)."""
    root.mkdir()
    (root / "README.md").write_text("# Widgets\n\nA tiny repository to ingest.\n")
    (root / "widgets.py").write_text("def make_widget(size: int) -> str:\n    return 'w' * size\n")
    config = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q"], ["add", "."], [*config, "commit", "-q", "-m", "widgets"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return root


@pytest.mark.model
def test_quickstart_starts_a_server_ingests_a_repository_and_administers_it(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = git_repository(tmp_path / "widgets")
    env = {**_env(tmp_path / "data"), "PROJECTQA_ADDRESS": f"127.0.0.1:{port}"}
    # From inside a work tree, that repository is the one ingested.
    result = subprocess.run(
        [PROJECTQA, "quickstart", "--stop", "--question", "How is a widget made?"],
        env=env,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,  # two model loads (server, worker) on a busy machine
    )
    assert result.returncode == 0, result.stderr
    assert "Created project 'demo'" in result.stdout
    assert "as admin (global admin: True)" in result.stdout
    assert f"Created git connector 'repo' for {repo}" in result.stdout
    assert "repo: ✔ succeeded" in result.stdout
    assert "3 seen, 3 changed" in result.stdout  # two files and the record of the commit
    assert "Asking 'demo': How is a widget made?" in result.stdout
    # An extractive answer (no LLM configured) quoting the passage, cited by path and lines.
    assert "Based on the indexed sources" in result.stdout
    assert "return 'w' * size" in result.stdout
    assert "Sources:" in result.stdout and "widgets.py:1-2" in result.stdout
    assert "projectqa runs demo" in result.stdout
    again = subprocess.run(
        [PROJECTQA, "quickstart", "--stop", "--repo", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # two model loads (server, worker) on a busy machine
    )
    assert again.returncode == 0, again.stderr
    assert "Project 'demo' already exists" in again.stdout
    assert f"Git connector 'repo' already reads {repo}" in again.stdout
    assert "incremental run" in again.stdout
    assert "none changed since the last successful run" in again.stdout
    # The project is searchable while the new server's worker still loads its model: the
    # question is answered first, then the run is followed to its end.
    early = again.stdout.index("The project is searchable already; run ")
    asked = again.stdout.index("Asking 'demo'", early)
    assert asked < again.stdout.index("Following the rest of run ", asked)
    assert again.stdout.count("Asking 'demo'") == 1  # complete already: not asked again
