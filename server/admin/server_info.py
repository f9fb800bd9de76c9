"""What a server is running: its version, embedder, store backend, default LLM and start time.

``projectqa status`` shows it so a user can see at a glance which server answers, with
which model, before asking why an answer looks the way it does. Any authenticated caller
may read it: it names models and backends, never a URL, key or path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import metadata

from ..auth import Principal
from ..paging import every_page
from ..store import MongoStore, Store

DISTRIBUTION = "projectqa"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str  # the installed package's version, "unknown" outside an install
    embedder: str  # e.g. "all-MiniLM-L6-v2@onnx-int8"
    store_backend: str  # "sqlite" or "mongodb"
    default_llm_model: str  # "" when answers are extractive unless a profile is named
    started_at: datetime


def package_version(distribution: str = DISTRIBUTION) -> str:
    """The installed version of ``distribution``; "unknown" when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def store_backend(store: Store) -> str:
    """The backend's name as users configure it."""
    return "mongodb" if isinstance(store, MongoStore) else "sqlite"


class ServerFacts:
    """Answers GetServerInfo; the fixed facts are given at start, the default LLM is read
    from the Store on each call (a global admin may change it at any time)."""

    def __init__(
        self,
        store: Store,
        *,
        embedder: str,
        started_at: datetime,
        environment_model: str = "",
        version: str | None = None,
    ) -> None:
        """``environment_model`` is the model the environment names (OPENAI_API_KEY,
        OLLAMA_HOST, …), which answers when no global default profile exists."""
        self._store = store
        self._embedder = embedder
        self._started_at = started_at
        self._environment_model = environment_model
        self._version = version if version is not None else package_version()

    def get(self, principal: Principal) -> ServerInfo:
        """The server's facts; ``principal`` is authenticated already, which is all it needs."""
        return ServerInfo(
            version=self._version,
            embedder=self._embedder,
            store_backend=store_backend(self._store),
            default_llm_model=self._default_llm_model(),
            started_at=self._started_at,
        )

    def _default_llm_model(self) -> str:
        profiles = every_page(
            lambda page: self._store.list_llm_profiles(None, page), key=lambda p: p.id
        )
        default = next((profile for profile in profiles if profile.is_default), None)
        return default.model if default is not None else self._environment_model
