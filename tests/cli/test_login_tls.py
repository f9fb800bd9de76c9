"""TLS for saved logins and every command: the system's roots (``--tls``) or a CA file,
and no token sent in cleartext to another machine unless ``--insecure`` says so (issue 18).

The TLS server is real (grpc.aio on 127.0.0.1 with a certificate made here). The system's
roots are made to trust it through ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``, which gRPC reads
once per process: those runs are subprocesses of the ``projectqa`` console script.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from projectqa.client import Client
from projectqa.client.connection import PLAINTEXT, Transport, resolve_transport
from projectqa.client.login import LoginFileError, SavedLogin, load_login, login_path, save_login
from tests.e2e.deployment import PROJECTQA

from .conftest import Cli, RunningServer, run

REMOTE = "qa.example.com:443"
UNROUTABLE = "192.0.2.1:443"  # TEST-NET-1: never answers
SUBPROCESS_TIMEOUT_S = 120  # a bound for a stuck run, not a measurement


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, key_file = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


@pytest.fixture
def tls_server(
    tmp_path: Path, start_server: Callable[..., AbstractContextManager[RunningServer]]
) -> Iterator[tuple[RunningServer, Path]]:
    """A server that only speaks TLS, and the certificate that verifies it."""
    cert, key = self_signed(tmp_path)
    with start_server(tmp_path / "data", tls_cert_file=cert, tls_key_file=key) as server:
        yield server, cert


def projectqa(
    *args: str, env: Mapping[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script in a fresh process (its own gRPC roots), nothing inherited but PATH."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run(
        [PROJECTQA, *args],
        env={**base, **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


# ------------------------------------------------------ plaintext refused


def test_login_refuses_plaintext_to_another_machine_before_reading_a_token() -> None:
    result = run("login", REMOTE, input="tok_1.secret\n")
    assert result.exit_code == 2
    assert f"refusing to send a token to {REMOTE} unencrypted" in result.stderr
    assert "--tls" in result.stderr and "--tls-ca-file" in result.stderr
    assert "--insecure" in result.stderr
    assert not login_path().exists()


def test_insecure_login_goes_ahead_and_names_what_to_check() -> None:
    # Past the refusal: it dials (nothing answers there), and the hint is not "serve one".
    result = run("--timeout", "1", "login", "--insecure", UNROUTABLE, "--token", "tok_1.x")
    assert result.exit_code == 5, result.output
    assert f"server at {UNROUTABLE} is not reachable" in result.stderr
    assert "projectqa serve" not in result.stderr
    assert "Check the address" in result.stderr
    assert not login_path().exists()


def test_a_plaintext_login_to_another_machine_is_only_kept_when_insecure_was_asked() -> None:
    save_login(SavedLogin(REMOTE, "tok_1.secret", insecure=True))
    assert load_login() == SavedLogin(REMOTE, "tok_1.secret", insecure=True)
    save_login(SavedLogin(REMOTE, "tok_1.secret"))  # as the CLI saved it before this rule
    with pytest.raises(LoginFileError, match=f"send its token to {REMOTE} unencrypted"):
        load_login()
    result = run("admin", "whoami")
    assert result.exit_code == 4
    assert f"projectqa login --tls {REMOTE}" in result.stderr


def test_plaintext_to_this_machine_needs_no_flag(server: RunningServer) -> None:
    result = run("login", server.address, "--token", server.admin_token)
    assert result.exit_code == 0, result.output
    assert "over plaintext" in result.stdout
    assert load_login() == SavedLogin(server.address, server.admin_token)


# ------------------------------------------------------------------ TLS


def test_the_system_roots_are_asked_for_by_flag_env_or_saved_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROJECTQA_TLS", raising=False)
    monkeypatch.delenv("PROJECTQA_TLS_CA_FILE", raising=False)
    assert resolve_transport(REMOTE) == PLAINTEXT
    assert resolve_transport(REMOTE, tls=True) == Transport(True, None)
    assert resolve_transport(REMOTE, tls=True, tls_ca_file="ca.pem") == Transport(True, "ca.pem")
    monkeypatch.setenv("PROJECTQA_TLS", "1")
    assert resolve_transport(REMOTE) == Transport(True, None)
    monkeypatch.setenv("PROJECTQA_TLS", "maybe")
    with pytest.raises(ValueError, match="PROJECTQA_TLS must be 1 or 0"):
        resolve_transport(REMOTE)
    monkeypatch.delenv("PROJECTQA_TLS")
    save_login(SavedLogin(REMOTE, "tok_1.secret", tls=True))
    assert resolve_transport(REMOTE) == Transport(True, None)
    assert resolve_transport("other.example.com:443") == PLAINTEXT  # only for its address


def test_system_roots_build_ssl_credentials_without_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    real = grpc.ssl_channel_credentials

    def spy(*args: object, **kwargs: object) -> grpc.ChannelCredentials:
        calls.append(dict(kwargs, args=args))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(grpc, "ssl_channel_credentials", spy)
    assert isinstance(Transport(True).credentials(), grpc.ChannelCredentials)
    assert calls == [{"args": ()}]  # no roots given: gRPC uses the system's
    assert PLAINTEXT.credentials() is None
    with Client(REMOTE, "tok_1.secret", tls=True) as client:
        assert client.transport == Transport(True, None)
    assert len(calls) == 2  # the client's channel was built with them too


def test_login_with_a_ca_file_saves_tls_and_later_commands_use_it(
    tls_server: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    server, cert = tls_server
    empty = {"PROJECTQA_DATA_DIR": str(tmp_path / "no-data")}
    result = run("--tls-ca-file", str(cert), "login", server.address, "--token", server.admin_token)
    assert result.exit_code == 0, result.output
    assert "over TLS" in result.stdout
    assert load_login() == SavedLogin(
        server.address, server.admin_token, str(cert.resolve()), tls=True
    )
    assert "tls = true" in login_path().read_text()
    whoami = run("--json", "admin", "whoami", env=empty)  # no flags: TLS from the login
    assert whoami.exit_code == 0, whoami.output
    assert '"global_admin": true' in whoami.stdout


def test_tls_with_the_system_roots_end_to_end(
    tls_server: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    server, cert = tls_server
    env = {
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(cert),  # the "system" trusts our certificate
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PROJECTQA_DATA_DIR": str(tmp_path / "no-data"),
        "HF_HUB_OFFLINE": "1",
    }
    flagged = projectqa("--tls", "--address", server.address, "--token", server.admin_token,
                        "--json", "admin", "whoami", env=env)  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    plain = projectqa("--address", server.address, "--timeout", "3", "health", env=env)
    assert plain.returncode == 5  # without TLS the server cannot be spoken to
    by_env = projectqa("--address", server.address, "health", env={**env, "PROJECTQA_TLS": "1"})
    assert by_env.returncode == 0 and by_env.stdout == "SERVING\n", by_env.stderr
    logged_in = projectqa("login", "--tls", server.address, env=env, input=server.admin_token)
    assert logged_in.returncode == 0, logged_in.stderr
    assert "over TLS" in logged_in.stdout
    later = projectqa("--json", "admin", "whoami", env=env)  # TLS as the login saved it
    assert later.returncode == 0, later.stderr
    assert '"global_admin": true' in later.stdout
    health = projectqa("--address", server.address, "health", env=env)  # the saved choice
    assert health.returncode == 0 and health.stdout == "SERVING\n", health.stderr


@pytest.mark.parametrize("off", ["0", "false", "n", "off"])
def test_every_word_click_takes_for_no_tls_means_plaintext(admin_cli: Cli, off: str) -> None:
    # The CLI's flag and the library read the same variable: they must agree on its words.
    assert admin_cli.json("admin", "whoami", env={"PROJECTQA_TLS": off})["user"]["global_admin"]
