"""TLS, ``serve``, and the client library used directly (sync and asyncio)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from projectqa.client import AsyncClient, Client, ClientError, health
from projectqa.client.cli import cli


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_cli_talks_tls_with_a_ca_file(start_server, tmp_path) -> None:
    cert, key = _self_signed_certificate(tmp_path)
    with start_server(tmp_path / "data", tls_cert_file=cert, tls_key_file=key) as server:
        base = ["--address", server.address, "--token", server.admin_token]
        secure = CliRunner().invoke(cli, [*base, "--tls-ca-file", str(cert), "admin", "whoami"])
        assert secure.exit_code == 0, secure.output
        plain = CliRunner().invoke(cli, [*base, "--timeout", "3", "admin", "whoami"])
        assert plain.exit_code == 5


def test_serve_runs_the_server_main_with_the_config_file(monkeypatch, tmp_path) -> None:
    import projectqa.server.app

    config_file = tmp_path / "projectqa.toml"
    config_file.write_text("")
    calls: list[Path | None] = []
    monkeypatch.setattr(projectqa.server.app, "main", lambda path: calls.append(path) or 7)
    result = CliRunner().invoke(cli, ["serve", "--config", str(config_file)])
    assert result.exit_code == 7
    assert calls == [config_file]


def test_library_lists_every_page_and_raises_client_error(server) -> None:
    with Client(server.address, server.admin_token) as client:
        assert health(server.address) == "SERVING"
        for index in range(3):
            client.create_project(f"library-{index}", f"Library {index}")
        slugs = [project.slug for project in client.list_projects(page_size=1)]
        assert {"library-0", "library-1", "library-2"} <= set(slugs)
        with pytest.raises(ClientError) as raised:
            client.get_project("library-missing")
    assert raised.value.code_name == "NOT_FOUND"
    assert "library-missing" in raised.value.details


async def test_async_client_health_whoami_and_errors(server) -> None:
    async with AsyncClient(server.address, server.admin_token) as client:
        assert await client.health() == "SERVING"
        me = await client.whoami()
        assert me.user.global_admin
    async with AsyncClient(server.address, "tok_wrong.secret") as client:
        with pytest.raises(ClientError) as raised:
            await client.whoami()
    assert raised.value.code_name == "UNAUTHENTICATED"
