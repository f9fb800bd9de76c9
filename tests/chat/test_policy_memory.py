"""Tool policy defaults and changes; memory folding; how history fits the budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from projectqa.server.chat.memory import condensed, fold, turns_to_fold
from projectqa.server.chat.policy import changed_policy, effective_policy
from projectqa.server.chat.prompt import estimate_tokens, exchange, fitted_history
from projectqa.server.chat.records import Message, MessageRole, Usage
from projectqa.server.errors import InvalidArgument
from projectqa.server.models import ChatTurn, ToolPermission, TurnStatus
from projectqa.server.tools.ops import ToolEntry, ToolOrigin

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def entry(name: str, side_effects: bool = False) -> ToolEntry:
    return ToolEntry(name, name, {"type": "object"}, side_effects, ToolOrigin.BUILTIN, "builtin")


CATALOG = [entry("grep"), entry("open_file"), entry("deploy", side_effects=True)]


def turn(seq: int, question: str, answer: str, status=TurnStatus.COMPLETE, questions=()):
    messages = [Message(f"m{seq}u", MessageRole.USER, question, NOW)]
    messages.append(Message(f"m{seq}t", MessageRole.TOOL, "12 matches in 4 files", NOW))
    if answer:
        messages.append(Message(f"m{seq}a", MessageRole.ASSISTANT, answer, NOW))
    return ChatTurn(
        id=f"turn_{seq}",
        chat_id="chat_1",
        project_id="prj_1",
        seq=seq,
        status=status,
        messages=[m.to_json() for m in messages],
        pending_calls=[],
        questions=list(questions),
        state={},
        error="",
        lease_until=None,
        created_at=NOW,
        updated_at=NOW,
    )


def test_tools_without_side_effects_run_and_the_others_ask_by_default():
    assert effective_policy(CATALOG, {}) == {
        "grep": ToolPermission.AUTO,
        "open_file": ToolPermission.AUTO,
        "deploy": ToolPermission.ASK,
    }
    explicit = {"grep": "deny", "deploy": "auto"}
    assert effective_policy(CATALOG, explicit)["grep"] is ToolPermission.DENY
    assert effective_policy(CATALOG, explicit)["deploy"] is ToolPermission.AUTO


def test_policy_changes_set_restore_and_refuse_unknown_tools():
    explicit = changed_policy(
        {"grep": "deny"}, {"grep": None, "deploy": ToolPermission.AUTO}, CATALOG
    )
    assert explicit == {"deploy": "auto"}
    with pytest.raises(InvalidArgument) as raised:
        changed_policy({}, {"rm": ToolPermission.AUTO}, CATALOG)
    assert raised.value.field == "tools.rm" and "grep" in str(raised.value)


def test_an_exchange_is_the_question_and_the_reply_not_the_tool_traffic():
    assert exchange(turn(1, "Where is X?", "In x.py [1].")) == [
        {"role": "user", "content": "Where is X?"},
        {"role": "assistant", "content": "In x.py [1]."},
    ]
    asked = turn(2, "How?", "", TurnStatus.CLARIFYING, ["Which one?"])
    assert exchange(asked)[1] == {"role": "assistant", "content": "Which one?"}


def test_history_keeps_the_most_recent_exchanges_that_fit():
    turns = [turn(n, f"question {n} " + "x" * 400, "answer " + "y" * 400) for n in range(1, 6)]
    history = fitted_history(turns, budget_tokens=500)
    assert [m["content"].split()[1] for m in history if m["role"] == "user"] == ["4", "5"]
    assert fitted_history(turns, budget_tokens=10) == []


def test_folding_starts_past_half_the_budget_and_keeps_the_newest_turns():
    small = [turn(n, "short?", "short.") for n in range(1, 4)]
    assert turns_to_fold(small, context_tokens=1000) == []
    big = [turn(n, "q" * 800, "a" * 800) for n in range(1, 6)]  # ~400 tokens each
    folding = turns_to_fold(big, context_tokens=1000)
    assert [t.seq for t in folding] == [1, 2, 3, 4, 5][: len(folding)]
    kept = big[len(folding) :]
    assert sum(estimate_tokens(m["content"]) for t in kept for m in exchange(t)) <= 300
    assert folding  # something had to go


async def test_without_an_llm_the_summary_is_condensed_extractively():
    turns = [
        turn(1, "Where is the cart total computed?", "In `Cart.total_price` [1]. More."),
        turn(2, "And discounts?", "See `apply_discount`."),
    ]
    folded = await fold("- Q: earlier → A: before", turns, context_tokens=8000, client=None)
    assert folded.through == 2
    lines = folded.summary.splitlines()
    assert lines[0] == "- Q: earlier → A: before"
    assert lines[1].startswith("- Q: Where is the cart total computed? → A: In `Cart.total_price`")
    assert len(lines) == 3


def test_a_condensed_summary_drops_its_oldest_lines_to_stay_in_budget():
    turns = [turn(n, f"question {n} " + "q" * 200, "a" * 200) for n in range(1, 30)]
    summary = condensed("", turns, limit_tokens=300)
    assert estimate_tokens(summary) <= 300
    assert "question 29" in summary and "question 1 " not in summary


def test_only_markers_the_model_was_shown_verify():
    from projectqa.server.chat.evidence import Evidence, EvidenceLedger
    from projectqa.server.retrieval.citations import Citation

    def seen(marker: int, path: str) -> Evidence:
        return Evidence(marker, Citation("con_1", path, "file", path, 1, 9, "", path, ""), "x")

    ledger = EvidenceLedger([seen(1, "a.py"), seen(2, "b.py")])
    assert [c.marker for c in ledger.verify("[1] and [2]")] == [1, 2]  # nothing rendered yet
    ledger.mark_shown(ledger.items()[:1])
    assert [c.marker for c in ledger.verify("[1] and [2]")] == [1]
    assert [c.marker for c in EvidenceLedger.from_json(ledger.to_json()).verify("[2][1]")] == [1]


async def test_text_waiting_behind_a_slow_client_goes_out_as_one_event():
    import asyncio

    from projectqa.server.chat import events as ev
    from projectqa.server.chat.ops import _merged_text

    queue: asyncio.Queue = asyncio.Queue()
    for item in (
        ev.AnswerDelta("b"),
        ev.AnswerDelta("c"),
        ev.UsageReport(Usage()),
        ev.AnswerDelta("d"),
    ):
        queue.put_nowait(item)
    merged, held = _merged_text(ev.AnswerDelta("a"), queue)
    assert merged == ev.AnswerDelta("abc") and isinstance(held, ev.UsageReport)
    assert _merged_text(held, queue) == (held, None)  # only text is merged
    assert _merged_text(ev.AnswerDelta("x"), asyncio.Queue()) == (ev.AnswerDelta("x"), None)


def test_a_long_previous_summary_is_kept_and_the_new_lines_go_first():
    previous = "The user is porting the cart to Rust; " + "fact, " * 190  # one line, ~290 tokens
    turns = [turn(n, f"question {n}", "a" * 200) for n in range(1, 4)]
    summary = condensed(previous, turns, limit_tokens=300)
    assert estimate_tokens(summary) <= 300
    assert summary.startswith("The user is porting the cart to Rust; fact,")


def test_a_previous_summary_over_the_limit_is_shortened_from_its_end():
    previous = "The user is porting the cart to Rust. " + "fact, " * 400  # ~610 tokens
    summary = condensed(previous, [turn(1, "question 1", "an answer")], limit_tokens=300)
    assert estimate_tokens(summary) <= 300
    assert summary.startswith("The user is porting the cart to Rust.")
    assert "[memory cut to fit]" in summary
