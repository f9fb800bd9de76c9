"""Chats and their turns in ``SqliteStore`` (schema: ``migrations/0005_chats.sql``).

A mixin on the connection plumbing ``SqliteStore`` provides (``_write``,
``_one``, ``_many``, ``_execute``). A turn is written whole: inserted when it
starts, then replaced by compare-and-set on its status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from ..models import Chat, ChatTurn, PageRequest, TurnStatus
from .codec import SQLITE
from .plumbing import SqlitePlumbing, turn_taken

# (table, column) deleted with the project.
CHAT_PROJECT_TABLES = (("chats", "project_id"), ("chat_turns", "project_id"))

_CHAT_COLUMNS = [f.name for f in dataclasses.fields(Chat)]
_TURN_COLUMNS = [f.name for f in dataclasses.fields(ChatTurn)]


def _chat_fields(fields: Collection[str]) -> list[str]:
    """The named mutable fields of a chat (never the identity or creation time)."""
    mutable = [c for c in _CHAT_COLUMNS if c not in ("id", "project_id", "user_id", "created_at")]
    unknown = set(fields) - set(mutable)
    if unknown:
        raise ValueError(f"not mutable chat fields: {sorted(unknown)}")
    return [c for c in mutable if c in fields]


def _insert_sql(table: str, columns: list[str]) -> str:
    values = ", ".join(f":{name}" for name in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def _assignments(columns: list[str], fixed: tuple[str, ...]) -> str:
    return ", ".join(f"{name} = :{name}" for name in columns if name not in fixed)


_INSERT_CHAT = _insert_sql("chats", _CHAT_COLUMNS)
_INSERT_TURN = _insert_sql("chat_turns", _TURN_COLUMNS)
# Everything but the identity and the creation time.
_UPDATE_CHAT = (
    "UPDATE chats SET "
    + _assignments(_CHAT_COLUMNS, ("id", "project_id", "user_id", "created_at"))
    + " WHERE id = :id"
)
# One statement, so the status check and the write cannot be split by another writer.
_REPLACE_TURN = (
    "UPDATE chat_turns SET "
    + _assignments(_TURN_COLUMNS, ("id", "chat_id", "project_id", "seq", "created_at"))
    + " WHERE id = :id AND status = :expected"
)


class SqliteChats(SqlitePlumbing):
    """Chat methods of ``SqliteStore`` (see ``Store`` for the contracts)."""

    # ------------------------------------------------------------ chats
    def create_chat(self, chat: Chat) -> None:
        with self._write(f"chat id {chat.id!r} already exists") as conn:
            conn.execute(_INSERT_CHAT, SQLITE.fields(chat))

    def get_chat(self, chat_id: str) -> Chat | None:
        return self._one("SELECT * FROM chats WHERE id = ?", (chat_id,), SQLITE.reader(Chat))

    def update_chat(self, chat: Chat, fields: Collection[str] | None = None) -> bool:
        if fields is None:
            return self._execute(_UPDATE_CHAT, SQLITE.fields(chat)) > 0
        names = _chat_fields(fields)
        sql = f"UPDATE chats SET {', '.join(f'{n} = :{n}' for n in names)} WHERE id = :id"
        return self._execute(sql, SQLITE.fields(chat)) > 0

    def delete_chat(self, chat_id: str) -> bool:
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,)).rowcount
            conn.execute("DELETE FROM chat_turns WHERE chat_id = ?", (chat_id,))
        return deleted > 0

    def list_chats(self, user_id: str, project_id: str | None, page: PageRequest) -> list[Chat]:
        sql, args = "SELECT * FROM chats WHERE user_id = ?", [user_id]
        if project_id is not None:
            sql, args = sql + " AND project_id = ?", [*args, project_id]
        if page.after:
            sql, args = sql + " AND id < ?", [*args, page.after]
        sql += " ORDER BY id DESC LIMIT ?"
        return self._many(sql, [*args, max(page.limit, 0)], SQLITE.reader(Chat))

    # ------------------------------------------------------------ turns
    def create_turn(self, turn: ChatTurn) -> None:
        with self._write(turn_taken(turn)) as conn:
            conn.execute(_INSERT_TURN, SQLITE.fields(turn))

    def replace_turn(self, turn: ChatTurn, expected: TurnStatus) -> bool:
        params = {**SQLITE.fields(turn), "expected": expected.value}
        return self._execute(_REPLACE_TURN, params) > 0

    def get_turn(self, turn_id: str) -> ChatTurn | None:
        sql = "SELECT * FROM chat_turns WHERE id = ?"
        return self._one(sql, (turn_id,), SQLITE.reader(ChatTurn))

    def list_turns(self, chat_id: str, after_seq: int = 0) -> list[ChatTurn]:
        sql = "SELECT * FROM chat_turns WHERE chat_id = ? AND seq > ? ORDER BY seq"
        return self._many(sql, (chat_id, after_seq), SQLITE.reader(ChatTurn))

    def last_turn(self, chat_id: str) -> ChatTurn | None:
        sql = "SELECT * FROM chat_turns WHERE chat_id = ? ORDER BY seq DESC LIMIT 1"
        return self._one(sql, (chat_id,), SQLITE.reader(ChatTurn))
