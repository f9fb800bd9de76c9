"""SQLite backend: the embedded default Store (stdlib ``sqlite3``, WAL).

One connection guarded by a lock serves every thread: the store is called
from ``asyncio.to_thread`` workers, SQLite serialises writers anyway, and a
single connection never waits on a lock held by itself.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import AlreadyExists, StoreError, StoreUnavailable
from ..models import (
    Connector,
    FeatureFlagValue,
    LlmProfile,
    Membership,
    PageRequest,
    Project,
    Token,
    ToolSetting,
    User,
)
from . import codec
from .base import Store
from .codec import SQLITE
from .sqlite_chat import CHAT_PROJECT_TABLES, SqliteChats
from .sqlite_ingest import (
    CONNECTOR_TABLES,
    DELETE_PROJECT_DELIVERIES,
    PROJECT_TABLES,
    SqliteIngestion,
)
from .sqlite_schema import connect
from .sqlite_tools import TOOL_PROJECT_TABLES, SqliteCustomTools

T = TypeVar("T")

# Primary result codes meaning "cannot use the file right now", not a bug.
_UNAVAILABLE_CODES = {
    5,  # SQLITE_BUSY: "database is locked" after busy_timeout
    6,  # SQLITE_LOCKED
    8,  # SQLITE_READONLY
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}
_UNIQUE_VIOLATIONS = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}

# (table, column) of everything scoped to a project, deleted with it.
_PROJECT_SCOPED = (
    ("memberships", "project_id"),
    ("connectors", "project_id"),
    ("llm_profiles", "scope"),
    ("flags", "scope"),
    ("tool_settings", "project_id"),
    *TOOL_PROJECT_TABLES,
    *PROJECT_TABLES,
    *CHAT_PROJECT_TABLES,
)


def _insert(conn: sqlite3.Connection, table: str, params: codec.Fields) -> None:
    columns = ", ".join(params)
    values = ", ".join(f":{name}" for name in params)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})", params)


def _page_args(page: PageRequest) -> tuple[str, int]:
    # LIMIT -1 means "no limit" to SQLite; a page never does.
    return page.after or "", max(page.limit, 0)


def _profile_taken(profile: LlmProfile) -> str:
    scope = "global" if profile.project_id is None else f"project {profile.project_id!r}"
    return f"LLM profile name {profile.name!r} already exists in {scope}"


class SqliteStore(SqliteIngestion, SqliteCustomTools, SqliteChats, Store):
    """Store in one SQLite file; call ``open()`` before use."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def open(self) -> SqliteStore:
        """Create the file if needed and migrate it; ``StoreError`` on failure."""
        with self._lock:
            if self._conn is None:
                self._conn = connect(self._path)
                self._closed = False
        return self

    # ----------------------------------------------------------- plumbing
    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if self._closed:
            raise StoreUnavailable(f"SQLite store at {self._path} is closed")
        raise StoreError(f"SQLite store at {self._path} is not open; call open() first")

    @contextmanager
    def _errors(self, taken: str | None = None) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            if taken is not None and exc.sqlite_errorname in _UNIQUE_VIOLATIONS:
                raise AlreadyExists(taken) from exc
            raise
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", None) or 0
            if code & 0xFF in _UNAVAILABLE_CODES:
                raise StoreUnavailable(f"SQLite database unavailable: {exc}") from exc
            raise

    @contextmanager
    def _write(self, taken: str | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``taken`` is the message for a unique clash."""
        with self._lock, self._errors(taken):
            conn = self._connection()
            try:
                # IMMEDIATE takes the write lock up front, so busy_timeout applies
                # instead of a deadlock error on a read-to-write upgrade.
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.rollback()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        with self._lock, self._errors():
            return self._connection().execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any], convert: Callable[[Any], T]) -> T | None:
        found = self._rows(sql, params)
        return convert(found[0]) if found else None

    def _many(self, sql: str, params: Sequence[Any], convert: Callable[[Any], T]) -> list[T]:
        return [convert(row) for row in self._rows(sql, params)]

    def _execute(
        self, sql: str, params: Sequence[Any] | codec.Fields, taken: str | None = None
    ) -> int:
        with self._write(taken) as conn:
            return conn.execute(sql, params).rowcount

    # ---------------------------------------------------------- lifecycle
    def ping(self) -> None:
        self._rows("SELECT 1", ())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._closed = True

    # -------------------------------------------------------------- users
    def create_user(self, user: User) -> None:
        with self._write(f"user name {user.name!r} already exists") as conn:
            _insert(conn, "users", SQLITE.fields(user))

    def get_user(self, user_id: str) -> User | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,), SQLITE.reader(User))

    def get_user_by_name(self, name: str) -> User | None:
        return self._one("SELECT * FROM users WHERE name = ?", (name,), SQLITE.reader(User))

    def list_users(self, page: PageRequest) -> list[User]:
        sql = "SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?"
        return self._many(sql, _page_args(page), SQLITE.reader(User))

    def count_users(self) -> int:
        return self._rows("SELECT COUNT(*) FROM users", ())[0][0]

    # ------------------------------------------------------------- tokens
    def create_token(self, token: Token) -> None:
        with self._write(f"token id {token.id!r} already exists") as conn:
            _insert(conn, "tokens", SQLITE.fields(token))

    def get_token(self, token_id: str) -> Token | None:
        return self._one("SELECT * FROM tokens WHERE id = ?", (token_id,), SQLITE.reader(Token))

    def list_tokens(self, user_id: str, page: PageRequest) -> list[Token]:
        sql = "SELECT * FROM tokens WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?"
        return self._many(sql, (user_id, *_page_args(page)), SQLITE.reader(Token))

    def revoke_token(self, token_id: str, at: datetime) -> Token | None:
        with self._write() as conn:
            conn.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (codec.time_to_text(at), token_id),
            )
            row = conn.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return None if row is None else SQLITE.record(Token, row)

    # ----------------------------------------------------------- projects
    def create_project(self, project: Project) -> None:
        with self._write(f"project slug {project.slug!r} already exists") as conn:
            _insert(conn, "projects", SQLITE.fields(project))

    def get_project(self, project_id: str) -> Project | None:
        sql = "SELECT * FROM projects WHERE id = ?"
        return self._one(sql, (project_id,), SQLITE.reader(Project))

    def get_project_by_slug(self, slug: str) -> Project | None:
        return self._one("SELECT * FROM projects WHERE slug = ?", (slug,), SQLITE.reader(Project))

    def list_projects(self, page: PageRequest, member_id: str | None = None) -> list[Project]:
        if member_id is None:
            sql = "SELECT * FROM projects WHERE id > ? ORDER BY id LIMIT ?"
            return self._many(sql, _page_args(page), SQLITE.reader(Project))
        sql = (
            "SELECT p.* FROM projects p JOIN memberships m"
            " ON m.project_id = p.id AND m.user_id = ?"
            " WHERE p.id > ? ORDER BY p.id LIMIT ?"
        )
        return self._many(sql, (member_id, *_page_args(page)), SQLITE.reader(Project))

    def update_project(self, project: Project) -> None:
        sql = "UPDATE projects SET name = :name, description = :description,"
        sql += " updated_at = :updated_at WHERE id = :id"
        self._execute(sql, SQLITE.fields(project))

    def delete_project(self, project_id: str) -> bool:
        if project_id == codec.GLOBAL_SCOPE:  # would match the global flags and profiles
            return False
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM projects WHERE id = ?", (project_id,)).rowcount
            conn.execute(DELETE_PROJECT_DELIVERIES, (project_id,))  # before the connectors
            for table, column in _PROJECT_SCOPED:
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (project_id,))
        return deleted > 0

    # -------------------------------------------------------- memberships
    def put_membership(self, membership: Membership) -> None:
        sql = (
            "INSERT INTO memberships (project_id, user_id, role, updated_at)"
            " VALUES (:project_id, :user_id, :role, :updated_at)"
            " ON CONFLICT (project_id, user_id)"
            " DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at"
        )
        self._execute(sql, SQLITE.fields(membership))

    def get_membership(self, project_id: str, user_id: str) -> Membership | None:
        sql = "SELECT * FROM memberships WHERE project_id = ? AND user_id = ?"
        return self._one(sql, (project_id, user_id), SQLITE.reader(Membership))

    def delete_membership(self, project_id: str, user_id: str) -> bool:
        sql = "DELETE FROM memberships WHERE project_id = ? AND user_id = ?"
        return self._execute(sql, (project_id, user_id)) > 0

    def list_members(self, project_id: str, page: PageRequest) -> list[Membership]:
        sql = "SELECT * FROM memberships WHERE project_id = ? AND user_id > ?"
        sql += " ORDER BY user_id LIMIT ?"
        return self._many(sql, (project_id, *_page_args(page)), SQLITE.reader(Membership))

    def list_memberships_of_user(self, user_id: str) -> list[Membership]:
        sql = "SELECT * FROM memberships WHERE user_id = ? ORDER BY project_id"
        return self._many(sql, (user_id,), SQLITE.reader(Membership))

    # --------------------------------------------------------- connectors
    def create_connector(self, connector: Connector) -> None:
        with self._write(_connector_taken(connector)) as conn:
            _insert(conn, "connectors", SQLITE.fields(connector))

    def get_connector(self, connector_id: str) -> Connector | None:
        sql = "SELECT * FROM connectors WHERE id = ?"
        return self._one(sql, (connector_id,), SQLITE.reader(Connector))

    def update_connector(self, connector: Connector) -> None:
        sql = "UPDATE connectors SET name = :name, config = :config, secrets = :secrets,"
        sql += " updated_at = :updated_at WHERE id = :id"
        self._execute(sql, SQLITE.fields(connector), _connector_taken(connector))

    def delete_connector(self, connector_id: str) -> bool:
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM connectors WHERE id = ?", (connector_id,)).rowcount
            for table in CONNECTOR_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE connector_id = ?", (connector_id,))
        return deleted > 0

    def list_connectors(self, project_id: str, page: PageRequest) -> list[Connector]:
        sql = "SELECT * FROM connectors WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
        return self._many(sql, (project_id, *_page_args(page)), SQLITE.reader(Connector))

    # ------------------------------------------------------- LLM profiles
    def create_llm_profile(self, profile: LlmProfile) -> None:
        with self._write(_profile_taken(profile)) as conn:
            if profile.is_default:
                _clear_other_defaults(conn, codec.scope_of(profile.project_id), profile.id)
            _insert(conn, "llm_profiles", SQLITE.fields(profile))

    def get_llm_profile(self, profile_id: str) -> LlmProfile | None:
        sql = "SELECT * FROM llm_profiles WHERE id = ?"
        return self._one(sql, (profile_id,), SQLITE.reader(LlmProfile))

    def update_llm_profile(self, profile: LlmProfile) -> None:
        with self._write(_profile_taken(profile)) as conn:
            found = conn.execute("SELECT scope FROM llm_profiles WHERE id = ?", (profile.id,))
            row = found.fetchone()
            if row is None:
                return
            # The stored scope counts: a profile never moves between scopes.
            if profile.is_default:
                _clear_other_defaults(conn, row["scope"], profile.id)
            conn.execute(_UPDATE_PROFILE, SQLITE.fields(profile))

    def delete_llm_profile(self, profile_id: str) -> bool:
        return self._execute("DELETE FROM llm_profiles WHERE id = ?", (profile_id,)) > 0

    def list_llm_profiles(self, project_id: str | None, page: PageRequest) -> list[LlmProfile]:
        sql = "SELECT * FROM llm_profiles WHERE scope = ? AND id > ? ORDER BY id LIMIT ?"
        args = (codec.scope_of(project_id), *_page_args(page))
        return self._many(sql, args, SQLITE.reader(LlmProfile))

    # ------------------------------------------------------ feature flags
    def set_flag(self, flag: FeatureFlagValue) -> None:
        sql = (
            "INSERT INTO flags (scope, key, enabled, updated_at)"
            " VALUES (:scope, :key, :enabled, :updated_at) ON CONFLICT (scope, key)"
            " DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at"
        )
        self._execute(sql, SQLITE.fields(flag))

    def delete_flag(self, project_id: str | None, key: str) -> bool:
        sql = "DELETE FROM flags WHERE scope = ? AND key = ?"
        return self._execute(sql, (codec.scope_of(project_id), key)) > 0

    def list_flags(self, project_id: str | None) -> list[FeatureFlagValue]:
        sql = "SELECT * FROM flags WHERE scope = ? ORDER BY key"
        return self._many(sql, (codec.scope_of(project_id),), SQLITE.reader(FeatureFlagValue))

    # -------------------------------------------------------------- tools
    def set_tool_setting(self, setting: ToolSetting) -> None:
        sql = (
            "INSERT INTO tool_settings (project_id, tool, enabled, updated_at)"
            " VALUES (:project_id, :tool, :enabled, :updated_at) ON CONFLICT (project_id, tool)"
            " DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at"
        )
        self._execute(sql, SQLITE.fields(setting))

    def list_tool_settings(self, project_id: str) -> list[ToolSetting]:
        sql = "SELECT * FROM tool_settings WHERE project_id = ? ORDER BY tool"
        return self._many(sql, (project_id,), SQLITE.reader(ToolSetting))


_UPDATE_PROFILE = (
    "UPDATE llm_profiles SET name = :name, provider = :provider, base_url = :base_url,"
    " model = :model, api_key = :api_key, temperature = :temperature,"
    " max_output_tokens = :max_output_tokens, timeout_seconds = :timeout_seconds,"
    " is_default = :is_default, tool_calls_in_text = :tool_calls_in_text,"
    " updated_at = :updated_at WHERE id = :id"
)


def _clear_other_defaults(conn: sqlite3.Connection, scope: str, keep_id: str) -> None:
    # Runs before the insert/update in the same transaction, so the partial
    # unique index (one default per scope) never sees two.
    conn.execute(
        "UPDATE llm_profiles SET is_default = 0 WHERE scope = ? AND id <> ? AND is_default",
        (scope, keep_id),
    )


def _connector_taken(connector: Connector) -> str:
    return f"connector name {connector.name!r} already exists in project {connector.project_id!r}"
