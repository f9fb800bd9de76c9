"""What a turn sends the LLM: message shapes every server takes, and fitting the context."""

from __future__ import annotations

import json
from typing import Any

from projectqa.server.chat.agent import TurnState
from projectqa.server.chat.prompt import estimate_tokens
from projectqa.server.chat.records import ToolCallRequest
from projectqa.server.chat.transcript import (
    ELIDED,
    add_result,
    assistant_calls,
    cut,
    fit_tool_results,
    fitted_head,
    tool_requests,
)
from projectqa.server.llm.client import ToolCallDone


def step(*ids: str) -> dict[str, Any]:
    return assistant_calls("", [ToolCallRequest(i, "grep", {"pattern": i}) for i in ids])


def result(call_id: str, chars: int) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "x" * chars}


def results_tokens(transcript: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m["content"]) for m in transcript if m["role"] == "tool")


def test_a_step_calling_tools_has_string_content_and_object_arguments():
    calls = [ToolCallDone("call_a", "grep", '{"pattern": "x"}'),
             ToolCallDone("call_a", "grep", "{not json")]  # fmt: skip
    requests = tool_requests(calls, [step("call_b")])
    assert requests[0].id == "call_a" and requests[1].id not in ("call_a", "call_b")
    message = assistant_calls("", requests)
    assert message["content"] == ""
    arguments = [json.loads(c["function"]["arguments"]) for c in message["tool_calls"]]
    assert arguments == [{"pattern": "x"}, {"_unparseable": "{not json"}]
    assert tool_requests([ToolCallDone("", "grep", "{}")], [])[0].id  # never empty


def test_a_result_goes_back_in_the_order_of_its_call():
    transcript = [step("a", "b", "c")]
    for call_id in ("b", "c", "a"):  # "a" was approved later
        add_result(transcript, call_id, call_id)
    assert [m["tool_call_id"] for m in transcript[1:]] == ["a", "b", "c"]


def test_results_already_read_are_elided_before_new_ones_are_cut():
    transcript = [step("old"), result("old", 4000), step("new1", "new2"),
                  result("new1", 400), result("new2", 8000)]  # fmt: skip
    fit_tool_results(transcript, budget_tokens=1000)
    assert transcript[1]["content"].startswith(ELIDED)
    assert transcript[3]["content"] == "x" * 400  # small enough to keep whole
    assert "cut to fit the context" in transcript[4]["content"]
    assert results_tokens(transcript) <= 1000


def test_new_results_share_the_room_when_nothing_else_can_go():
    transcript = [step("a", "b"), result("a", 8000), result("b", 8000)]
    fit_tool_results(transcript, budget_tokens=1000)
    sizes = [len(m["content"]) for m in transcript[1:]]
    assert abs(sizes[0] - sizes[1]) <= 4 and results_tokens(transcript) <= 1000


def test_tool_results_take_their_share_from_the_oldest_history():
    system = {"role": "system", "content": "s" * 400}
    history = [{"role": "user", "content": f"q{n}" + "q" * 400} for n in range(3)]
    history = [m for q in history for m in (q, {"role": "assistant", "content": "a" * 400})]
    transcript = [{"role": "user", "content": "question"}, step("a"), result("a", 40_000)]
    head, room = fitted_head(system, history, transcript, None, context_tokens=1000)
    assert head[0] is system and head[1]["content"].startswith("q1")  # the oldest went
    assert len(head) == 5
    assert room >= 400  # the tool results' share of the context


def test_a_cut_says_how_much_is_shown_and_how_to_get_the_rest():
    text = cut("y" * 10_000, 1000)
    assert len(text) <= 1000 and text.startswith("y")
    assert "of 10000 characters shown" in text and "narrower arguments" in text
    assert cut("short", 1000) == "short"


def test_a_turn_paused_with_a_null_content_resumes_with_a_string():
    state = TurnState(transcript=[{"role": "assistant", "content": None, "tool_calls": []}])
    resumed = TurnState.from_json(json.loads(json.dumps(state.to_json())))
    assert resumed.transcript[0]["content"] == ""


def test_a_turn_paused_with_raw_arguments_resumes_with_json_objects():
    """Before this release the model's own text was stored as the arguments."""
    calls = [
        {"id": f"c{n}", "type": "function", "function": {"name": "grep", "arguments": text}}
        for n, text in enumerate(("{'pattern': x", ' {"pattern" : "a"}'))
    ]
    state = TurnState(transcript=[{"role": "assistant", "content": "", "tool_calls": calls}])
    resumed = TurnState.from_json(json.loads(json.dumps(state.to_json())))
    arguments = [c["function"]["arguments"] for c in resumed.transcript[0]["tool_calls"]]
    assert arguments == ["{}", '{"pattern": "a"}']
