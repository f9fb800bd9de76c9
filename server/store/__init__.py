"""The Store interface and its two backends."""

from .base import Store
from .mongo import MongoStore
from .sqlite import SqliteStore

__all__ = ["MongoStore", "SqliteStore", "Store"]
