"""Settings from the environment and TOML, validated with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.server.config import (
    Settings,
    SettingsError,
    load_settings,
    settings_as_json,
    settings_from_json,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("PROJECTQA_")]:
        monkeypatch.delenv(name)


def test_defaults_need_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "projectqa"
    assert settings.mongodb_uri is None and settings.reflection is False
    assert settings.listen_address == "127.0.0.1:50051"


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('log_level = "DEBUG"\nmax_concurrent_rpcs = 7\nplugins = ["git"]\n')
    monkeypatch.setenv("PROJECTQA_MAX_CONCURRENT_RPCS", "9")
    monkeypatch.setenv("PROJECTQA_PLUGINS", "git, jira")
    settings = load_settings(config)
    assert settings.log_level == "DEBUG"
    assert settings.max_concurrent_rpcs == 9
    assert settings.plugins == ["git", "jira"]


def test_mongodb_uri_is_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECTQA_MONGODB_URI", "mongodb://u:hunter2@db:27017")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.mongodb_uri.get_secret_value().endswith("@db:27017")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PROJECTQA_LISTEN_ADDRESS", "no-port", "must be host:port"),
        ("PROJECTQA_MAX_MESSAGE_BYTES", "1", "greater than or equal to 65536"),
        ("PROJECTQA_SHUTDOWN_GRACE_S", "-1", "greater than or equal to 0"),
        ("PROJECTQA_LOG_FORMAT", "xml", "'json' or 'text'"),
        ("PROJECTQA_TLS_KEY_FILE", "/k.pem", "must be set together"),
        ("PROJECTQA_INDEX_PUBLICATION", "gridfs", "needs the MongoDB store"),
        ("PROJECTQA_EMBEDDED_WORKER", "fork", "'process', 'thread' or 'off'"),
        ("PROJECTQA_RUN_LEASE_S", "1", "greater than or equal to 2"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch, variable, value, message) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert variable in str(err.value) and message in str(err.value)


def test_unknown_toml_key_and_missing_file_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("lsiten_address = '1'\n")
    with pytest.raises(SettingsError, match="LSITEN_ADDRESS"):
        load_settings(config)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    config.write_text("not toml [\n")
    with pytest.raises(SettingsError, match="cannot read configuration"):
        load_settings(config)


def test_a_worker_child_gets_every_setting_secrets_included() -> None:
    settings = Settings(mongodb_uri="mongodb://u:hunter2@db:27017", local_roots=["/srv"])
    assert settings_from_json(settings_as_json(settings)) == settings
    with pytest.raises(SettingsError, match="parent process"):
        settings_from_json('{"max_streams": 0}')
