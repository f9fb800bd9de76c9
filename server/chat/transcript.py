"""The turn's transcript as the LLM gets it: message shapes, and fitting the context.

What goes to the LLM is shaped for the strictest OpenAI-compatible servers
(llama.cpp's llama-server and llama-cpp-python, vLLM, Ollama, OpenAI): the
assistant message recording tool calls has ``"content": ""`` (null is refused
by llama-cpp-python and Ollama), its calls' arguments are always a JSON object
(vLLM, Ollama and llama-server parse them again), ids are unique in the turn,
and each tool result follows its call in the calls' order (templates that show
no ids pair them by position). Each request is fitted to the endpoint's
``context_tokens`` (estimated tokens): instructions, memory, the question with
its sources and the tool specs are counted first; this turn's tool results may
take up to ``TOOL_SHARE`` of the context from the history (oldest exchanges
first); then older results are elided and the newest is cut, saying so.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..llm.client import ToolCallDone
from ..models import new_id
from .prompt import CHARS_PER_TOKEN, estimate_tokens, messages_tokens, tools_tokens
from .records import ToolCallRequest

# What one tool result may hold before the context is considered (it is stored with a
# paused turn); each LLM call then fits this turn's results into the context left.
TOOL_RESULT_CHARS = 48_000
MAX_SAFE_INT = 2**53
TOOL_SHARE = 0.4  # of the context, what this turn's tool results may take from the history
ELIDED = "[elided to fit the context; call the tool again if you need it]"
CUT = (
    "… [cut to fit the context: {shown} of {total} characters shown; call the tool again "
    "with narrower arguments (a more specific pattern, a path, a line range) for the rest]"
)


def tool_requests(
    calls: list[ToolCallDone], transcript: list[dict[str, Any]]
) -> list[ToolCallRequest]:
    """The calls with their arguments parsed and ids unique in the turn: results are paired
    with calls by id, and a server may send none, or the same one twice."""
    seen = {c["id"] for m in transcript for c in m.get("tool_calls", ())}
    requests = []
    for call in calls:
        request = _request(call)
        if request.id in seen:
            request = dataclasses.replace(request, id=new_id("call"))
        seen.add(request.id)
        requests.append(request)
    return requests


def _request(call: ToolCallDone) -> ToolCallRequest:
    """The call with its arguments parsed. Arguments that are not a JSON object of plain
    values (integers beyond 2**53, NaN, Infinity, broken JSON) are kept for the record
    under ``_unparseable`` and the call is refused, asking the model to send them again."""
    arguments = _parsed(call.arguments)
    if arguments is None:
        arguments = {"_unparseable": call.arguments[:200]}
    return ToolCallRequest(call.id or new_id("call"), call.name, arguments)


def _parsed(arguments: str) -> dict[str, Any] | None:
    """``arguments`` as a JSON object of plain values; None when they are not one."""
    try:
        parsed = json.loads(arguments or "{}", parse_int=_safe_int, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def replayable(message: dict[str, Any]) -> dict[str, Any]:
    """A message of a turn paused before this release, as every server takes it back: its
    content a string (it was null), its calls' arguments a JSON object written again (they
    were the model's own text, which vLLM, Ollama and llama-server may refuse to parse)."""
    repaired = {**message, "content": message.get("content") or ""}
    if message.get("tool_calls"):
        repaired["tool_calls"] = [_replayable_call(c) for c in message["tool_calls"]]
    return repaired


def _replayable_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function", {})
    arguments = _parsed(str(function.get("arguments") or "{}")) or {}
    return {
        **call,
        "function": {**function, "arguments": json.dumps(arguments, ensure_ascii=False)},
    }


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INT:  # protobuf Struct numbers are doubles
        raise ValueError("integer out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def assistant_calls(text: str, requests: list[ToolCallRequest]) -> dict[str, Any]:
    """The assistant's step that called tools, as every server takes it back: content a
    string, arguments the parsed object written again (the model's text may not parse)."""
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"id": r.id, "type": "function",
             "function": {"name": r.name, "arguments": json.dumps(r.arguments, ensure_ascii=False)}}
            for r in requests
        ],
    }  # fmt: skip


def add_result(transcript: list[dict[str, Any]], call_id: str, content: str) -> None:
    """Add a tool result after the results of the calls made before it in the same step
    (a call approved later is answered last, but goes back in its place)."""
    step = next(i for i in range(len(transcript) - 1, -1, -1) if transcript[i].get("tool_calls"))
    order = {c["id"]: n for n, c in enumerate(transcript[step]["tool_calls"])}
    at = len(transcript)
    while at > step + 1 and order.get(transcript[at - 1]["tool_call_id"], 0) > order[call_id]:
        at -= 1
    transcript.insert(at, {"role": "tool", "tool_call_id": call_id, "content": content})


def _results_tokens(messages: list[dict[str, Any]]) -> int:
    """What this turn's tool results among ``messages`` take (estimated tokens)."""
    return sum(estimate_tokens(m["content"]) for m in messages if m.get("role") == "tool")


def _fixed_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    """What a request costs besides this turn's tool results: instructions, memory,
    history, the question with its sources, the assistant's calls, the tool specs."""
    return messages_tokens(messages) + tools_tokens(tools) - _results_tokens(messages)


def fitted_head(
    system: dict[str, Any],
    history: list[dict[str, Any]],
    transcript: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    context_tokens: int,
) -> tuple[list[dict[str, Any]], int]:
    """The system message and the recent history that fit, and the room left for this
    turn's tool results: they may take up to ``TOOL_SHARE`` of the context from the
    history (its oldest exchanges go first); whatever else is left stays the history's."""
    fixed = _fixed_tokens([system, *transcript], tools)
    reserve = min(_results_tokens(transcript), int(context_tokens * TOOL_SHARE))
    kept = list(history)
    while kept and fixed + messages_tokens(kept) + reserve > context_tokens:
        kept.pop(0)
        while kept and kept[0]["role"] != "user":  # an exchange goes whole
            kept.pop(0)
    return [system, *kept], context_tokens - fixed - messages_tokens(kept)


def fit_tool_results(transcript: list[dict[str, Any]], budget_tokens: int) -> None:
    """Fit this turn's tool results into ``budget_tokens``: results the model has already
    read are elided first, oldest first (it can call the tool again); then the results of
    the last step share what is left, the biggest cut first, each saying how much is
    missing."""
    results = [m for m in transcript if m.get("role") == "tool"]
    total = _results_tokens(results)
    latest = _latest_results(transcript)
    unread = {id(m) for m in latest}
    for message in results:
        if total <= budget_tokens or id(message) in unread:
            break
        if not message["content"].startswith(ELIDED):
            before = estimate_tokens(message["content"])
            message["content"] = f"{ELIDED} ({len(message['content'])} characters)"
            total += estimate_tokens(message["content"]) - before
    if total > budget_tokens:
        read = total - _results_tokens(latest)
        _share(latest, budget_tokens - read)


def _latest_results(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results of the last step's calls (the model has not read them yet)."""
    step = max((i for i, m in enumerate(transcript) if m.get("tool_calls")), default=-1)
    return [m for m in transcript[step + 1 :] if m.get("role") == "tool"]


def _share(results: list[dict[str, Any]], room_tokens: int) -> None:
    """Cut ``results`` to fit ``room_tokens`` together: each gets an equal share of the
    room, and what a small one leaves goes to the bigger ones."""
    by_size = sorted(results, key=lambda m: len(m["content"]))
    for index, message in enumerate(by_size):
        share = max(0, room_tokens) // (len(by_size) - index)
        if estimate_tokens(message["content"]) > share:
            message["content"] = cut(message["content"], share * CHARS_PER_TOKEN)
        room_tokens -= estimate_tokens(message["content"])


def cut(text: str, chars: int) -> str:
    """``text`` within ``chars`` characters, its end replaced by a note saying how much of
    it is shown and how to get the rest."""
    if len(text) <= chars:
        return text
    note = CUT.format(shown=0, total=len(text))
    shown = max(0, chars - len(note) - 8)  # the count may take a few more digits
    return text[:shown] + CUT.format(shown=shown, total=len(text))
