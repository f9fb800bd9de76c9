"""Which endpoint answers: the environment's variables, profiles in a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.server.llm.client import LlmEndpoint
from projectqa.server.llm.resolve import (
    ProfileResolver,
    endpoint_of,
    environment_endpoint,
    ollama_base_url,
)
from projectqa.server.models import LlmProvider
from projectqa.server.store import SqliteStore
from tests.store.contract import make_profile

CONTEXT = 6000


def from_env(environ: dict[str, str], model: str | None = None) -> LlmEndpoint | None:
    return environment_endpoint(environ, model, 30.0, CONTEXT)


# ---------------------------------------------------------------- environment
def test_an_openai_key_selects_openai() -> None:
    endpoint = from_env({"OPENAI_API_KEY": " sk-env "})
    assert endpoint is not None
    assert (endpoint.name, endpoint.profile_id) == ("environment", "")
    assert (endpoint.base_url, endpoint.api_key, endpoint.model) == (None, "sk-env", "gpt-4o-mini")
    assert (endpoint.timeout_s, endpoint.context_tokens, endpoint.max_output_tokens) == (
        30.0,
        CONTEXT,
        0,
    )


def test_an_openai_key_with_a_base_url_and_a_model() -> None:
    environ = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "https://llm.example.com/v1/"}
    endpoint = from_env(environ, model="mixtral")
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.model) == ("https://llm.example.com/v1", "mixtral")


def test_the_openai_key_wins_over_ollama() -> None:
    endpoint = from_env({"OPENAI_API_KEY": "sk-env", "OLLAMA_HOST": "127.0.0.1:11434"})
    assert endpoint is not None and endpoint.base_url is None


def test_ollama_host_selects_ollama() -> None:
    endpoint = from_env({"OLLAMA_HOST": "127.0.0.1:11434"})
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.api_key, endpoint.model) == (
        "http://127.0.0.1:11434/v1",
        "ollama",
        "llama3.1",
    )
    assert from_env({"OLLAMA_HOST": "gpu-box"}, model="qwen2.5-coder").model == "qwen2.5-coder"


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
        ("http://localhost:11434/", "http://localhost:11434/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),
        ("[::1]:8080", "http://[::1]:8080/v1"),
        ("https://ollama.example.com", "https://ollama.example.com/v1"),
        ("https://example.com/ollama/v1/", "https://example.com/ollama/v1"),
    ],
)
def test_ollama_host_forms(host: str, base_url: str) -> None:
    assert ollama_base_url(host) == base_url


def test_a_keyless_base_url_needs_a_model() -> None:
    environ = {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}
    assert from_env(environ) is None
    endpoint = from_env(environ, model="qwen")
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.api_key, endpoint.model) == (
        "http://127.0.0.1:8000/v1",
        "",
        "qwen",
    )


def test_an_empty_environment_names_no_llm() -> None:
    assert from_env({}) is None
    assert from_env({"OPENAI_API_KEY": "  ", "OLLAMA_HOST": ""}) is None


# ---------------------------------------------------------------- profiles
def test_endpoint_of_a_profile() -> None:
    profile = make_profile(
        "prj_1", "fast", provider=LlmProvider.OPENAI, base_url="", api_key="sk-p",
        model="gpt-4o", temperature=0.7, max_output_tokens=900, timeout_seconds=45,
    )  # fmt: skip
    endpoint = endpoint_of(profile, CONTEXT, retries=4)
    assert endpoint == LlmEndpoint(
        name="fast", profile_id=profile.id, base_url=None, api_key="sk-p", model="gpt-4o",
        temperature=0.7, max_output_tokens=900, timeout_s=45.0, retries=4, context_tokens=CONTEXT,
    )  # fmt: skip


def test_endpoint_of_a_profile_carries_tool_calls_in_text() -> None:
    profile = make_profile("prj_1", "qwen", tool_calls_in_text=True)
    assert endpoint_of(profile, CONTEXT).tool_calls_in_text
    assert not endpoint_of(make_profile("prj_1", "plain"), CONTEXT).tool_calls_in_text


def test_an_ollama_profile_without_url_reaches_the_local_ollama() -> None:
    profile = make_profile(None, "local", provider=LlmProvider.OLLAMA, base_url="")
    assert endpoint_of(profile, CONTEXT).base_url == "http://127.0.0.1:11434/v1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


ENVIRONMENT = environment_endpoint({"OPENAI_API_KEY": "sk-env"}, None, 30.0, CONTEXT)


def names(resolver: ProfileResolver, project_id: str, profile_id: str = "") -> str | None:
    endpoint = resolver.resolve(project_id, profile_id)
    return endpoint.name if endpoint else None


def test_without_profiles_the_environment_then_nothing(store: SqliteStore) -> None:
    assert names(ProfileResolver(store, ENVIRONMENT, CONTEXT), "prj_1") == "environment"
    assert names(ProfileResolver(store, None, CONTEXT), "prj_1") is None  # extractive


def test_resolution_order(store: SqliteStore) -> None:
    resolver = ProfileResolver(store, ENVIRONMENT, CONTEXT, retries=3)
    for name in ("a", "b", "c"):  # non-default profiles never answer unasked
        store.create_llm_profile(make_profile("prj_1", f"project-{name}"))
    store.create_llm_profile(make_profile(None, "global-other"))
    assert names(resolver, "prj_1") == "environment"

    store.create_llm_profile(make_profile(None, "global", is_default=True))
    assert names(resolver, "prj_1") == "global"

    chosen = make_profile("prj_1", "project", is_default=True)
    store.create_llm_profile(chosen)
    assert names(resolver, "prj_1") == "project"
    assert names(resolver, "prj_2") == "global"  # another project's default is not ours

    fast = make_profile("prj_1", "fast")
    store.create_llm_profile(fast)
    endpoint = resolver.resolve("prj_1", fast.id)
    assert endpoint is not None
    assert (endpoint.name, endpoint.profile_id, endpoint.retries) == ("fast", fast.id, 3)
    assert endpoint.context_tokens == CONTEXT


def test_a_chat_may_name_a_global_profile(store: SqliteStore) -> None:
    shared = make_profile(None, "shared")
    store.create_llm_profile(shared)
    store.create_llm_profile(make_profile("prj_1", "project", is_default=True))
    assert names(ProfileResolver(store, None, CONTEXT), "prj_1", shared.id) == "shared"


def test_a_deleted_or_foreign_profile_falls_through(store: SqliteStore) -> None:
    resolver = ProfileResolver(store, ENVIRONMENT, CONTEXT)
    foreign = make_profile("prj_2", "theirs", api_key="sk-theirs")
    gone = make_profile("prj_1", "gone")
    store.create_llm_profile(foreign)
    store.create_llm_profile(gone)
    store.delete_llm_profile(gone.id)

    assert names(resolver, "prj_1", gone.id) == "environment"
    assert names(resolver, "prj_1", foreign.id) == "environment"  # never borrow its key
    store.create_llm_profile(make_profile("prj_1", "project", is_default=True))
    assert names(resolver, "prj_1", gone.id) == "project"
