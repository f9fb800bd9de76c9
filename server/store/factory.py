"""Pick and open the configured store backend."""

from __future__ import annotations

from ..config import Settings
from .base import Store


def open_store(settings: Settings) -> Store:
    """MongoDB when ``mongodb_uri`` is set, else SQLite in the data directory.

    Opening MongoDB never blocks on the network (the driver connects lazily),
    so an unreachable server shows up later as ``StoreUnavailable``; SQLite
    problems (unwritable directory, corrupt file) raise ``StoreError`` here.
    """
    if settings.mongodb_uri is not None:
        from .mongo import MongoStore

        return MongoStore.from_uri(
            settings.mongodb_uri.get_secret_value(),
            settings.mongodb_database,
            settings.mongodb_timeout_ms,
        )
    from .sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path).open()
