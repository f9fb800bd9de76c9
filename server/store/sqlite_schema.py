"""Opening a SQLite store file: connection settings and schema migrations.

Migrations are ``migrations/NNNN_name.sql``, applied in order, each in one
transaction that also sets ``PRAGMA user_version`` to its number, so a
database is always at exactly one known version.
"""

from __future__ import annotations

import os
import sqlite3
from importlib import resources
from pathlib import Path

from ..errors import StoreError

_PRAGMAS = (
    # First, so the statements below wait for another process's lock.
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    # Safe with WAL: a power loss may lose the last commits, never corrupt.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


def connect(path: Path) -> sqlite3.Connection:
    """Open, configure and migrate the database; ``StoreError`` on any failure."""
    _prepare_directory(path)
    try:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE … COMMIT).
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite database at {path}: {exc}") from exc
    try:
        _configure(conn, path)
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


def _prepare_directory(path: Path) -> None:
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise StoreError(f"cannot open SQLite database at {path}: {parent} is not a directory")
    try:
        # The database holds connector secrets and API keys: private to the owner.
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():  # SQLite gives -wal and -shm the main file's mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StoreError(
            f"cannot open SQLite database at {path}: cannot create {parent}: {reason}"
        ) from exc


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    try:
        for pragma in _PRAGMAS:
            conn.execute(pragma)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite database at {path}: {exc}") from exc


def known_migrations() -> list[tuple[int, str]]:
    """``(version, sql)`` of every bundled migration, in order."""
    folder = resources.files(__package__) / "migrations"
    found = sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    versions = [version for version, _ in found]
    # A gap or duplicate would make user_version ambiguous.
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"SQLite migrations are not numbered 1..n: {versions}")
    return found


def user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    migrations = known_migrations()
    latest = len(migrations)
    try:
        current = user_version(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read SQLite database at {path}: {exc}") from exc
    if current > latest:
        raise StoreError(
            f"SQLite database at {path} has schema version {current}, but this version of "
            f"ProjectQA knows only up to {latest}; upgrade ProjectQA or use another data directory"
        )
    for version, sql in migrations[current:]:
        _apply(conn, path, version, sql)


def _apply(conn: sqlite3.Connection, path: Path, version: int, sql: str) -> None:
    script = f"BEGIN IMMEDIATE;\n{sql}\n;\nPRAGMA user_version = {version};\nCOMMIT;"
    try:
        conn.executescript(script)
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.rollback()
        # Another process opening the same file may have applied it meanwhile.
        if user_version(conn) >= version:
            return
        raise StoreError(f"cannot apply SQLite migration {version:04d} to {path}: {exc}") from exc
