"""Chats and their turns in ``MongoStore``: collections ``chats`` and ``chat_turns``.

A mixin on the collections and error mapping ``MongoStore`` provides. Each
write is one single-document operation, so the unique ``(chat_id, seq)``
index and the status filter of ``replace_turn`` make them atomic without
transactions.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pymongo import ASCENDING, DESCENDING

from ..models import Chat, ChatTurn, PageRequest, TurnStatus
from .codec import MONGO
from .plumbing import MongoPlumbing, turn_taken

# collection -> indexes as (keys, unique).
CHAT_INDEXES: dict[str, list[tuple[list[str], bool]]] = {
    # A user's chats newest first, across projects or within one; by project to delete.
    "chats": [
        (["user_id", "_id"], False),
        (["user_id", "project_id", "_id"], False),
        (["project_id"], False),
    ],
    # Two turns of a chat cannot start at once; also the listing order.
    "chat_turns": [(["chat_id", "seq"], True), (["project_id"], False)],
}
# (collection, field) deleted with the project.
CHAT_PROJECT_COLLECTIONS = (("chats", "project_id"), ("chat_turns", "project_id"))

_CHAT_FIXED = ("_id", "project_id", "user_id", "created_at")
_TURN_FIXED = ("_id", "chat_id", "project_id", "seq", "created_at")


def _changes(fields: dict[str, Any], fixed: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key not in fixed}


class MongoChats(MongoPlumbing):
    """Chat methods of ``MongoStore`` (see ``Store`` for the contracts)."""

    # ------------------------------------------------------------ chats
    def create_chat(self, chat: Chat) -> None:
        self._insert("chats", MONGO.fields(chat), f"chat id {chat.id!r} already exists")

    def get_chat(self, chat_id: str) -> Chat | None:
        return self._find_one("chats", {"_id": chat_id}, MONGO.reader(Chat))

    def update_chat(self, chat: Chat, fields: Collection[str] | None = None) -> bool:
        changes = _changes(MONGO.fields(chat), _CHAT_FIXED)
        if fields is not None:
            unknown = set(fields) - set(changes)
            if unknown:
                raise ValueError(f"not mutable chat fields: {sorted(unknown)}")
            changes = {key: value for key, value in changes.items() if key in fields}
        with self._errors():
            found = self._cols["chats"].update_one({"_id": chat.id}, {"$set": changes})
        return found.matched_count > 0

    def delete_chat(self, chat_id: str) -> bool:
        # The chat goes first: if the turns' delete fails, they are unreachable
        # leftovers a repeated call removes.
        deleted = self._delete("chats", {"_id": chat_id})
        with self._errors():
            self._cols["chat_turns"].delete_many({"chat_id": chat_id})
        return deleted

    def list_chats(self, user_id: str, project_id: str | None, page: PageRequest) -> list[Chat]:
        if page.limit <= 0:  # limit(0) means "no limit" to MongoDB
            return []
        query: dict[str, Any] = {"user_id": user_id}
        if project_id is not None:
            query["project_id"] = project_id
        if page.after:
            query["_id"] = {"$lt": page.after}
        with self._errors():
            cursor = self._cols["chats"].find(query).sort("_id", DESCENDING)
            found = list(cursor.limit(page.limit))
        return [MONGO.record(Chat, doc) for doc in found]

    # ------------------------------------------------------------ turns
    def create_turn(self, turn: ChatTurn) -> None:
        self._insert("chat_turns", MONGO.fields(turn), turn_taken(turn))

    def replace_turn(self, turn: ChatTurn, expected: TurnStatus) -> bool:
        changes = _changes(MONGO.fields(turn), _TURN_FIXED)
        # The status in the filter makes check and write one atomic operation.
        where = {"_id": turn.id, "status": expected.value}
        with self._errors():
            found = self._cols["chat_turns"].update_one(where, {"$set": changes})
        return found.matched_count > 0

    def get_turn(self, turn_id: str) -> ChatTurn | None:
        return self._find_one("chat_turns", {"_id": turn_id}, MONGO.reader(ChatTurn))

    def list_turns(self, chat_id: str, after_seq: int = 0) -> list[ChatTurn]:
        query = {"chat_id": chat_id, "seq": {"$gt": after_seq}}
        with self._errors():
            found = list(self._cols["chat_turns"].find(query).sort("seq", ASCENDING))
        return [MONGO.record(ChatTurn, doc) for doc in found]

    def last_turn(self, chat_id: str) -> ChatTurn | None:
        with self._errors():
            doc = self._cols["chat_turns"].find_one(
                {"chat_id": chat_id}, sort=[("seq", DESCENDING)]
            )
        return None if doc is None else MONGO.record(ChatTurn, doc)
