"""Address, token and data-directory resolution, and CLI parameter parsing (no server)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from projectqa.client import (
    DEFAULT_ADDRESS,
    admin_token_path,
    default_data_dir,
    resolve_address,
    resolve_token,
)
from projectqa.client.cli.enums import enum_label, enum_number
from projectqa.client.cli.failures import exit_code_for
from projectqa.client.cli.params import Duration
from projectqa.v1 import admin_pb2, common_pb2


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PROJECTQA_ADDRESS", "PROJECTQA_TOKEN", "PROJECTQA_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_address_comes_from_argument_then_env_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resolve_address(None) == DEFAULT_ADDRESS == "127.0.0.1:50051"
    monkeypatch.setenv("PROJECTQA_ADDRESS", "env:1")
    assert resolve_address(None) == "env:1"
    assert resolve_address("arg:2") == "arg:2"


def test_data_dir_follows_projectqa_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "projectqa"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "projectqa"
    monkeypatch.setenv("PROJECTQA_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    assert admin_token_path() == tmp_path / "data" / "admin.token"


def test_relative_xdg_data_home_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "projectqa"


def test_token_comes_from_argument_then_env_then_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROJECTQA_DATA_DIR", str(tmp_path))
    assert resolve_token(None) is None
    (tmp_path / "admin.token").write_text("file-token\n")
    assert resolve_token(None) == "file-token"
    monkeypatch.setenv("PROJECTQA_TOKEN", "env-token")
    assert resolve_token(None) == "env-token"
    assert resolve_token("arg-token") == "arg-token"


@pytest.mark.parametrize(
    ("address", "sent"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:1", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("10.0.0.5:50051", False),
        ("qa.example.com:443", False),
    ],
)
def test_the_local_admin_token_file_only_goes_to_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, address: str, sent: bool
) -> None:
    monkeypatch.setenv("PROJECTQA_DATA_DIR", str(tmp_path))
    (tmp_path / "admin.token").write_text("file-token\n")
    assert resolve_token(None, address) == ("file-token" if sent else None)
    assert resolve_token("explicit", address) == "explicit"


def test_unreadable_token_file_counts_as_no_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROJECTQA_DATA_DIR", str(tmp_path))
    (tmp_path / "admin.token").mkdir()  # reading it fails like a foreign 0600 file would
    assert resolve_token(None) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("45s", 45),
        ("90m", 5400),
        ("12h", 43_200),
        ("30d", 2_592_000),
        ("2w", 1_209_600),
    ],
)
def test_duration_accepts_seconds_and_units(text: str, seconds: int) -> None:
    assert Duration().convert(text, None, None) == seconds


def test_duration_rejects_other_text() -> None:
    with pytest.raises(click.BadParameter):
        Duration().convert("3 days", None, None)


def test_enum_labels_round_trip() -> None:
    provider = admin_pb2.LlmProvider.DESCRIPTOR
    compatible = admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE
    assert enum_label(provider, compatible) == "openai-compatible"
    assert enum_number(provider, "openai-compatible") == compatible
    role = common_pb2.ProjectRole.DESCRIPTOR
    assert enum_label(role, common_pb2.PROJECT_ROLE_ADMIN) == "admin"


@pytest.mark.parametrize(
    ("code_name", "exit_code"),
    [
        ("INVALID_ARGUMENT", 2),
        ("NOT_FOUND", 3),
        ("UNAUTHENTICATED", 4),
        ("PERMISSION_DENIED", 4),
        ("UNAVAILABLE", 5),
        ("DEADLINE_EXCEEDED", 5),
        ("ALREADY_EXISTS", 6),
        ("FAILED_PRECONDITION", 6),
        ("INTERNAL", 1),
    ],
)
def test_each_status_class_has_its_exit_code(code_name: str, exit_code: int) -> None:
    assert exit_code_for(code_name) == exit_code
