"""``projectqa mcp`` refuses to start without a token, or on the network without a flag."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from .conftest import PROJECTQA, START_TIMEOUT_S


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        PROJECTQA, "mcp", *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    return {**env, "PROJECTQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **extra}


async def test_stdio_without_any_token_says_how_to_give_one(tmp_path: Path) -> None:
    code, stderr = await _run(env=_env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1"))
    assert code == 4
    assert "no token" in stderr and "--token" in stderr


async def test_a_non_loopback_bind_needs_a_flag(tmp_path: Path) -> None:
    env = _env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1", PROJECTQA_TOKEN="t")
    code, stderr = await _run("--http", "0.0.0.0:0", env=env)
    assert code == 2
    assert "--allow-remote" in stderr


async def test_a_malformed_bind_names_the_option(tmp_path: Path) -> None:
    env = _env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1", PROJECTQA_TOKEN="t")
    code, stderr = await _run("--http", "localhost", env=env)
    assert code == 2
    assert "--http" in stderr and "HOST:PORT" in stderr


async def test_anonymous_http_requests_need_an_explicit_token(tmp_path: Path) -> None:
    """The admin token file never serves requests without a bearer token."""
    (tmp_path / "admin.token").write_text("the-admins-token\n")
    env = _env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1")
    code, stderr = await _run("--http", "127.0.0.1:0", "--default-token-for-anonymous", env=env)
    assert code == 2
    assert "explicit --token or PROJECTQA_TOKEN" in stderr


async def test_stdio_ends_quietly_when_stdin_closes(tmp_path: Path) -> None:
    """The agent quitting closes the pipe: the server exits 0, without touching gRPC."""
    code, stderr = await _run(env=_env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1",
                                       PROJECTQA_TOKEN="t"))  # fmt: skip
    assert code == 0, stderr


async def test_an_allowed_host_must_be_a_host(tmp_path: Path) -> None:
    env = _env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1")
    code, stderr = await _run("--http", "127.0.0.1:0", "--allowed-host", "http://x/", env=env)
    assert code == 2
    assert "--allowed-host" in stderr and "http://x/" in stderr


async def test_the_http_options_need_http(tmp_path: Path) -> None:
    env = _env(tmp_path, PROJECTQA_ADDRESS="127.0.0.1:1", PROJECTQA_TOKEN="t")
    code, stderr = await _run("--default-token-for-anonymous", env=env)
    assert code == 2 and "need --http" in stderr
