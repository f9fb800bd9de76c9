"""Which LLM answers a chat: chat → project → global → environment → none (extractive).

A chat names a profile; if that profile was deleted (or is another project's),
the project's default profile answers, then the global default, then an
endpoint found in the server's environment. With none of these the chat
answers extractively, without an LLM.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..models import LlmProfile, LlmProvider
from ..paging import every_page
from ..store import Store
from .client import LlmEndpoint

ENVIRONMENT = "environment"
OPENAI_MODEL = "gpt-4o-mini"
OLLAMA_MODEL = "llama3.1"
OLLAMA_KEY = "ollama"  # Ollama ignores the key; its docs use this placeholder
OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"
OLLAMA_PORT = 11434
ENVIRONMENT_TEMPERATURE = 0.2  # as a new profile's default: steady answers about code


def environment_endpoint(
    environ: Mapping[str, str], model: str | None, timeout_s: float, context_tokens: int
) -> LlmEndpoint | None:
    """The LLM the environment names: OPENAI_API_KEY, else OLLAMA_HOST, else OPENAI_BASE_URL.

    OPENAI_BASE_URL alone (a keyless OpenAI-compatible server) needs ``model``.
    """
    key = environ.get("OPENAI_API_KEY", "").strip()
    base_url = environ.get("OPENAI_BASE_URL", "").strip().rstrip("/") or None
    ollama_host = environ.get("OLLAMA_HOST", "").strip()
    if key:
        found = (base_url, key, model or OPENAI_MODEL)
    elif ollama_host:
        found = (ollama_base_url(ollama_host), OLLAMA_KEY, model or OLLAMA_MODEL)
    elif base_url and model:
        found = (base_url, "", model)
    else:
        return None
    url, api_key, chosen = found
    return LlmEndpoint(
        name=ENVIRONMENT,
        profile_id="",
        base_url=url,
        api_key=api_key,
        model=chosen,
        temperature=ENVIRONMENT_TEMPERATURE,
        max_output_tokens=0,
        timeout_s=timeout_s,
        context_tokens=context_tokens,
    )


def ollama_base_url(host: str) -> str:
    """OLLAMA_HOST read as Ollama's CLI reads it, plus "/v1".

    "host" or "host:port" is plain HTTP on 11434 by default; with an explicit
    scheme the scheme's own port is the default.
    """
    scheme, found, rest = host.partition("://")
    if not found:
        scheme, rest = "http", host
    url = urlsplit(f"{scheme}://{rest.rstrip('/')}")
    hostname = url.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":  # the server's bind-all address; reach it locally
        hostname = "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    port = url.port or (None if found else OLLAMA_PORT)
    netloc = f"{hostname}:{port}" if port else hostname
    return f"{url.scheme}://{netloc}{url.path.removesuffix('/v1')}/v1"


def endpoint_of(profile: LlmProfile, context_tokens: int, retries: int = 2) -> LlmEndpoint:
    base_url = profile.base_url.strip().rstrip("/") or None
    if base_url is None and profile.provider is LlmProvider.OLLAMA:
        base_url = OLLAMA_BASE_URL
    return LlmEndpoint(
        name=profile.name,
        profile_id=profile.id,
        base_url=base_url,
        api_key=profile.api_key,
        model=profile.model,
        temperature=profile.temperature,
        max_output_tokens=profile.max_output_tokens,
        timeout_s=float(profile.timeout_seconds),
        retries=retries,
        context_tokens=context_tokens,
        tool_calls_in_text=profile.tool_calls_in_text,
    )


class ProfileResolver:
    """Finds the endpoint of a chat's turn (reads the store: call it off the event loop)."""

    def __init__(
        self,
        store: Store,
        environment: LlmEndpoint | None,
        context_tokens: int,
        *,
        retries: int = 2,
    ) -> None:
        self._store = store
        self._environment = environment
        self._context_tokens = context_tokens
        self._retries = retries

    def resolve(self, project_id: str, profile_id: str = "") -> LlmEndpoint | None:
        """The chat's profile, else the project's default, the global one, the environment's."""
        profile = self._chosen(project_id, profile_id) if profile_id else None
        profile = profile or self._default(project_id) or self._default(None)
        if profile is not None:
            return endpoint_of(profile, self._context_tokens, self._retries)
        return self._environment

    def global_model(self) -> str:
        """The model a chat with no profile of its own nor of its project gets: the global
        default profile's, else the environment's; "" when answers are extractive."""
        profile = self._default(None)
        if profile is not None:
            return profile.model
        return self._environment.model if self._environment is not None else ""

    def _chosen(self, project_id: str, profile_id: str) -> LlmProfile | None:
        profile = self._store.get_llm_profile(profile_id)
        if profile is None or profile.project_id not in (None, project_id):
            return None  # deleted, or another project's: never borrow its key
        return profile

    def _default(self, project_id: str | None) -> LlmProfile | None:
        profiles = every_page(
            lambda page: self._store.list_llm_profiles(project_id, page), key=lambda p: p.id
        )
        return next((profile for profile in profiles if profile.is_default), None)
