"""The chat part of the Store contract: chats and their turns.

Mixed into the per-backend test classes next to ``StoreContract``; they
provide the ``store`` fixture.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from projectqa.server.errors import AlreadyExists
from projectqa.server.models import (
    Chat,
    ChatTurn,
    PageRequest,
    ToolPermission,
    TurnStatus,
    new_id,
    utcnow,
)
from projectqa.server.store import Store

from .contract import MOMENT, all_pages, assert_utc, make_project


# ------------------------------------------------------------------ records
def make_chat(project_id: str, user_id: str, **changes: Any) -> Chat:
    now = utcnow()
    chat = Chat(
        id=new_id("cht"),
        project_id=project_id,
        user_id=user_id,
        title="",
        llm_profile_id="",
        tool_policy={},
        memory_summary="",
        memory_through=0,
        turn_count=0,
        created_at=now,
        updated_at=now,
    )
    return replace(chat, **changes)


def make_turn(chat: Chat, seq: int, **changes: Any) -> ChatTurn:
    now = utcnow()
    turn = ChatTurn(
        id=new_id("trn"),
        chat_id=chat.id,
        project_id=chat.project_id,
        seq=seq,
        status=TurnStatus.RUNNING,
        messages=[{"role": "user", "content": f"question {seq}"}],
        pending_calls=[],
        questions=[],
        state={},
        error="",
        lease_until=now + timedelta(minutes=1),
        created_at=now,
        updated_at=now,
    )
    return replace(turn, **changes)


# Nested, unicode, and keys MongoDB would refuse as field names.
NESTED_MESSAGES = [
    {"role": "user", "content": "Wo wird `ß` gezählt? 🤔"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "name": "grep", "arguments": {"pattern": "a.b", "$x": [1]}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "src/a.py:3: ok\n"},
]
NESTED_STATE = {
    "transcript": NESTED_MESSAGES,
    "evidence": [{"label": "src/ü.py:1-9", "score": 0.5}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    "flags": {"done": False, "none": None},
}


def ids(records: list[Any]) -> list[str]:
    return [record.id for record in records]


class ChatStoreContract:
    # ------------------------------------------------------------- chats
    def test_chat_round_trips(self, store: Store) -> None:
        chat = make_chat(
            "prj_1",
            "usr_1",
            title="Wie geht's — Indizierung? 🤔",
            llm_profile_id="llm_1",
            tool_policy={"grep": ToolPermission.ASK.value, "run.tests": "deny"},
            memory_summary="Earlier: the user asked about ingestion.",
            memory_through=2,
            turn_count=3,
            created_at=MOMENT,
            updated_at=MOMENT,
        )
        store.create_chat(chat)
        found = store.get_chat(chat.id)
        assert found == chat
        assert found is not None
        assert_utc(found.created_at, MOMENT)

    def test_missing_chat_is_none(self, store: Store) -> None:
        assert store.get_chat("cht_missing") is None

    def test_duplicate_chat_id_raises(self, store: Store) -> None:
        chat = make_chat("prj_1", "usr_1")
        store.create_chat(chat)
        with pytest.raises(AlreadyExists):
            store.create_chat(replace(chat, title="other"))
        assert store.get_chat(chat.id) == chat

    def test_update_chat_replaces_mutable_fields_only(self, store: Store) -> None:
        chat = make_chat("prj_1", "usr_1")
        store.create_chat(chat)
        later = chat.updated_at + timedelta(minutes=5)
        changed = replace(
            chat,
            title="Renamed",
            llm_profile_id="llm_2",
            tool_policy={"grep": "auto"},
            memory_summary="summary",
            memory_through=4,
            turn_count=5,
            updated_at=later,
        )
        # Identity and creation time are not the update's to change.
        assert store.update_chat(replace(changed, project_id="prj_x", user_id="usr_x")) is True
        assert store.get_chat(chat.id) == changed

    def test_update_chat_fields_leaves_the_others_alone(self, store: Store) -> None:
        chat = make_chat("prj_1", "usr_1")
        store.create_chat(chat)
        # Two writers that read the same chat: one sets the policy, one ends a turn.
        assert store.update_chat(replace(chat, tool_policy={"grep": "deny"}), ("tool_policy",))
        assert store.update_chat(replace(chat, turn_count=3, title="T"), ("turn_count", "title"))
        stored = store.get_chat(chat.id)
        assert stored == replace(chat, tool_policy={"grep": "deny"}, turn_count=3, title="T")
        with pytest.raises(ValueError):
            store.update_chat(replace(chat, user_id="usr_2"), ("user_id",))

    def test_update_missing_chat_is_false(self, store: Store) -> None:
        assert store.update_chat(make_chat("prj_1", "usr_1")) is False
        assert store.list_chats("usr_1", None, PageRequest(limit=10)) == []

    def test_list_chats_newest_first_in_pages(self, store: Store) -> None:
        chats = [make_chat("prj_1", "usr_1") for _ in range(5)]
        for chat in chats:
            store.create_chat(chat)
        newest_first = list(reversed(ids(chats)))
        assert ids(store.list_chats("usr_1", None, PageRequest(limit=10))) == newest_first
        pages = all_pages(lambda page: store.list_chats("usr_1", "prj_1", page), 2)
        assert [ids(page) for page in pages] == [
            newest_first[0:2],
            newest_first[2:4],
            newest_first[4:5],
        ]
        after_oldest = PageRequest(limit=10, after=chats[0].id)
        assert store.list_chats("usr_1", None, after_oldest) == []
        assert store.list_chats("usr_1", None, PageRequest(limit=0)) == []

    def test_list_chats_is_per_user_and_per_project(self, store: Store) -> None:
        mine_1 = make_chat("prj_1", "usr_1")
        theirs = make_chat("prj_1", "usr_2")
        mine_2 = make_chat("prj_2", "usr_1")
        for chat in (mine_1, theirs, mine_2):
            store.create_chat(chat)
        page = PageRequest(limit=10)
        assert store.list_chats("usr_1", None, page) == [mine_2, mine_1]
        assert store.list_chats("usr_1", "prj_1", page) == [mine_1]
        assert store.list_chats("usr_1", "prj_2", page) == [mine_2]
        assert store.list_chats("usr_2", None, page) == [theirs]
        assert store.list_chats("usr_2", "prj_2", page) == []
        assert store.list_chats("usr_3", None, page) == []

    def test_delete_chat_removes_its_turns(self, store: Store) -> None:
        doomed, kept = make_chat("prj_1", "usr_1"), make_chat("prj_1", "usr_1")
        turns = {}
        for chat in (doomed, kept):
            store.create_chat(chat)
            turns[chat.id] = [make_turn(chat, seq) for seq in (1, 2)]
            for turn in turns[chat.id]:
                store.create_turn(turn)

        assert store.delete_chat(doomed.id) is True
        assert store.get_chat(doomed.id) is None
        assert store.list_turns(doomed.id) == []
        assert store.last_turn(doomed.id) is None
        assert all(store.get_turn(turn.id) is None for turn in turns[doomed.id])
        assert store.delete_chat(doomed.id) is False

        assert store.get_chat(kept.id) == kept
        assert store.list_turns(kept.id) == turns[kept.id]
        # The seq numbers of a deleted chat are free again (its turns are gone).
        store.create_turn(make_turn(doomed, 1))

    def test_delete_missing_chat_is_false(self, store: Store) -> None:
        assert store.delete_chat("cht_missing") is False

    # ------------------------------------------------------------- turns
    def test_turn_round_trips_nested_unicode_json(self, store: Store) -> None:
        chat = make_chat("prj_1", "usr_1")
        turn = make_turn(
            chat,
            1,
            status=TurnStatus.PAUSED,
            messages=NESTED_MESSAGES,
            pending_calls=[{"id": "c2", "name": "run_tests", "arguments": {"k": "ü"}}],
            questions=["Which branch — main or dev?"],
            state=NESTED_STATE,
            error="",
            lease_until=MOMENT,
            created_at=MOMENT,
            updated_at=MOMENT,
        )
        store.create_turn(turn)
        found = store.get_turn(turn.id)
        assert found == turn
        assert found is not None
        assert_utc(found.lease_until, MOMENT)
        assert_utc(found.updated_at, MOMENT)

    def test_turn_without_lease_round_trips(self, store: Store) -> None:
        turn = make_turn(make_chat("prj_1", "usr_1"), 1, status=TurnStatus.COMPLETE)
        turn = replace(turn, lease_until=None)
        store.create_turn(turn)
        found = store.get_turn(turn.id)
        assert found == turn
        assert found is not None and found.lease_until is None

    def test_missing_turn_is_none(self, store: Store) -> None:
        assert store.get_turn("trn_missing") is None
        assert store.list_turns("cht_missing") == []
        assert store.last_turn("cht_missing") is None

    def test_taken_seq_raises_and_writes_nothing(self, store: Store) -> None:
        chat = make_chat("prj_1", "usr_1")
        first = make_turn(chat, 1)
        store.create_turn(first)
        second = make_turn(chat, 1, messages=[{"role": "user", "content": "late"}])
        with pytest.raises(AlreadyExists):
            store.create_turn(second)
        assert store.get_turn(second.id) is None
        assert store.list_turns(chat.id) == [first]
        # The same seq in another chat is free.
        store.create_turn(make_turn(make_chat("prj_1", "usr_1"), 1))

    def test_turns_are_listed_by_seq_and_last_is_highest(self, store: Store) -> None:
        chat = make_chat("prj_1", "usr_1")
        other = make_chat("prj_1", "usr_1")
        turns = {seq: make_turn(chat, seq) for seq in (2, 10, 1, 3)}  # 10 after 3: numbers
        for turn in turns.values():
            store.create_turn(turn)
        store.create_turn(make_turn(other, 11))
        assert store.list_turns(chat.id) == [turns[seq] for seq in (1, 2, 3, 10)]
        assert store.list_turns(chat.id, after_seq=2) == [turns[3], turns[10]]
        assert store.last_turn(chat.id) == turns[10]

    def test_replace_turn_when_status_matches(self, store: Store) -> None:
        turn = make_turn(make_chat("prj_1", "usr_1"), 1)
        store.create_turn(turn)
        paused = replace(
            turn,
            status=TurnStatus.PAUSED,
            messages=NESTED_MESSAGES,
            pending_calls=[{"id": "c1", "name": "grep"}],
            questions=["?"],
            state=NESTED_STATE,
            error="",
            lease_until=None,
            updated_at=turn.updated_at + timedelta(seconds=2),
        )
        assert store.replace_turn(paused, TurnStatus.RUNNING) is True
        assert store.get_turn(turn.id) == paused

        failed = replace(paused, status=TurnStatus.FAILED, error="LLM timed out", state={})
        assert store.replace_turn(failed, TurnStatus.PAUSED) is True
        assert store.get_turn(turn.id) == failed

    def test_replace_turn_keeps_identity_and_creation_time(self, store: Store) -> None:
        turn = make_turn(make_chat("prj_1", "usr_1"), 1)
        store.create_turn(turn)
        moved = replace(
            turn,
            chat_id="cht_other",
            project_id="prj_other",
            seq=7,
            created_at=turn.created_at + timedelta(days=1),
            status=TurnStatus.COMPLETE,
        )
        assert store.replace_turn(moved, TurnStatus.RUNNING) is True
        assert store.get_turn(turn.id) == replace(turn, status=TurnStatus.COMPLETE)

    def test_replace_turn_with_stale_status_writes_nothing(self, store: Store) -> None:
        turn = make_turn(make_chat("prj_1", "usr_1"), 1)
        store.create_turn(turn)
        finished = replace(turn, status=TurnStatus.COMPLETE, lease_until=None)
        assert store.replace_turn(finished, TurnStatus.RUNNING) is True

        # A second server that still thinks the turn is running loses.
        expired = replace(turn, status=TurnStatus.INTERRUPTED, error="lease expired")
        assert store.replace_turn(expired, TurnStatus.RUNNING) is False
        assert store.replace_turn(expired, TurnStatus.PAUSED) is False
        assert store.get_turn(turn.id) == finished

    def test_replace_missing_turn_is_false(self, store: Store) -> None:
        turn = make_turn(make_chat("prj_1", "usr_1"), 1)
        assert store.replace_turn(turn, TurnStatus.RUNNING) is False
        assert store.get_turn(turn.id) is None

    # ----------------------------------------------------------- cascade
    def test_delete_project_removes_its_chats_and_turns(self, store: Store) -> None:
        doomed, kept = make_project("doomed"), make_project("kept")
        filled: dict[str, tuple[Chat, ChatTurn]] = {}
        for project in (doomed, kept):
            store.create_project(project)
            chat = make_chat(project.id, "usr_1")
            turn = make_turn(chat, 1)
            store.create_chat(chat)
            store.create_turn(turn)
            filled[project.id] = (chat, turn)

        assert store.delete_project(doomed.id) is True
        chat, turn = filled[doomed.id]
        assert store.get_chat(chat.id) is None
        assert store.get_turn(turn.id) is None
        assert store.list_turns(chat.id) == []
        assert store.list_chats("usr_1", doomed.id, PageRequest(limit=10)) == []

        chat, turn = filled[kept.id]
        assert store.list_chats("usr_1", None, PageRequest(limit=10)) == [chat]
        assert store.list_turns(chat.id) == [turn]
