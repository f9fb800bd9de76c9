"""What a server is running: its version, embedder, store backend, default LLM and start time.

``projectqa status`` shows it so a user can see at a glance which server answers, with
which model, before asking why an answer looks the way it does. Any authenticated caller
may read it: it names models and backends, never a URL, key or path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata

from ..auth import Principal
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
        default_llm_model: Callable[[], str] = str,
        version: str | None = None,
    ) -> None:
        """``default_llm_model`` reads the model answers use by default (the global
        default profile's, else the environment's, ``ProfileResolver.global_model``)."""
        self._store = store
        self._embedder = embedder
        self._started_at = started_at
        self._default_llm_model = default_llm_model
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
