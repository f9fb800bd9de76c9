"""``projectqa admin llm`` against a real server; API keys must never be printed."""

from __future__ import annotations

import re

API_KEY = "sk-test-never-printed-0123456789"


def test_llm_profile_create_list_update_delete(admin_cli, project) -> None:
    created = admin_cli.json(
        "admin",
        "llm",
        "create",
        "local",
        "--project",
        project,
        "--provider",
        "ollama",
        "--model",
        "llama3.1:8b",
        "--base-url",
        "http://127.0.0.1:11434/v1",
        "--temperature",
        "0.5",
        "--max-output-tokens",
        "512",
        "--timeout",
        "90",
        "--default",
    )
    assert created["id"].startswith("llm_")
    assert created["provider"] == "LLM_PROVIDER_OLLAMA"
    assert created["temperature"] == 0.5
    assert created["max_output_tokens"] == 512
    assert created["timeout_seconds"] == 90
    assert created["is_default"] is True
    assert created["api_key_set"] is False

    listed = admin_cli.json("admin", "llm", "list", "--project", project)
    assert [profile["id"] for profile in listed] == [created["id"]]
    table = admin_cli.ok("admin", "llm", "list", "--project", project).stdout
    assert "llama3.1:8b" in table and "ollama" in table

    updated = admin_cli.json(
        "admin", "llm", "update", created["id"], "--model", "qwen2.5:7b", "--no-default"
    )
    assert updated["model"] == "qwen2.5:7b"
    assert updated["is_default"] is False
    assert updated["temperature"] == 0.5

    assert admin_cli.json("admin", "llm", "delete", created["id"]) == {}
    assert admin_cli.json("admin", "llm", "list", "--project", project) == []
    assert admin_cli("admin", "llm", "delete", created["id"]).exit_code == 3


def test_global_profile_needs_no_project(admin_cli, unique) -> None:
    name = unique("global")
    created = admin_cli.json(
        "admin", "llm", "create", name, "--provider", "openai", "--model", "gpt-4o-mini"
    )
    assert created["project_id"] == ""
    assert name in [profile["name"] for profile in admin_cli.json("admin", "llm", "list")]
    admin_cli.ok("admin", "llm", "delete", created["id"])


def test_api_key_from_env_is_stored_never_printed(admin_cli, project, server_log) -> None:
    env = {"CLITEST_LLM_KEY": API_KEY}
    result = admin_cli.ok(
        "admin",
        "llm",
        "create",
        "hosted",
        "--project",
        project,
        "--provider",
        "openai",
        "--model",
        "gpt-4o-mini",
        "--api-key-env",
        "CLITEST_LLM_KEY",
        env=env,
    )
    assert API_KEY not in result.output
    profile = admin_cli.json("admin", "llm", "list", "--project", project)[0]
    assert profile["api_key_set"] is True
    for output_flag in ([], ["--json"]):
        listed = admin_cli.ok(*output_flag, "admin", "llm", "list", "--project", project)
        assert API_KEY not in listed.output

    cleared = admin_cli.json("admin", "llm", "update", profile["id"], "--clear-api-key")
    assert cleared["api_key_set"] is False
    again = admin_cli.ok(
        "admin", "llm", "update", profile["id"], "--api-key-stdin", input=API_KEY + "\n"
    )
    assert API_KEY not in again.output
    assert re.search(r"api key set +yes", again.stdout)
    assert API_KEY not in server_log()


def test_api_key_is_never_accepted_as_an_argument(admin_cli, project) -> None:
    result = admin_cli(
        "admin",
        "llm",
        "create",
        "x",
        "--project",
        project,
        "--provider",
        "openai",
        "--model",
        "m",
        "--api-key",
        API_KEY,
    )
    assert result.exit_code == 2


def test_missing_api_key_variable_is_a_usage_error(admin_cli, project) -> None:
    result = admin_cli(
        "admin",
        "llm",
        "create",
        "x",
        "--project",
        project,
        "--provider",
        "openai",
        "--model",
        "m",
        "--api-key-env",
        "CLITEST_UNSET_VARIABLE",
        env={"CLITEST_UNSET_VARIABLE": None},
    )
    assert result.exit_code == 2
    assert "CLITEST_UNSET_VARIABLE" in result.stderr


def test_openai_compatible_needs_a_base_url(admin_cli, project) -> None:
    result = admin_cli(
        "admin",
        "llm",
        "create",
        "vllm",
        "--project",
        project,
        "--provider",
        "openai-compatible",
        "--model",
        "m",
    )
    assert result.exit_code == 2
    assert "INVALID_ARGUMENT" in result.stderr


def test_tool_calls_in_text_flag(admin_cli, project) -> None:
    created = admin_cli.json(
        "admin", "llm", "create", "qwen", "--project", project, "--provider", "openai-compatible",
        "--model", "qwen2.5", "--base-url", "http://127.0.0.1:8080/v1", "--tool-calls-in-text",
    )  # fmt: skip
    assert created["tool_calls_in_text"] is True
    renamed = admin_cli.json("admin", "llm", "update", created["id"], "--name", "qwen2.5")
    assert renamed["tool_calls_in_text"] is True
    off = admin_cli.json("admin", "llm", "update", created["id"], "--no-tool-calls-in-text")
    assert off.get("tool_calls_in_text", False) is False
