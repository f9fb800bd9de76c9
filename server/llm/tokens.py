"""Token counts estimated from text, for budgeting prompts and usage a server did not report.

About four characters per token for English and code: all the budgeting needs
(it decides what to fold or cut, with room to spare). The endpoint reports the
real usage when it can.
"""

from __future__ import annotations

import json
from typing import Any

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def messages_tokens(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        total += 4 + estimate_tokens(str(message.get("content") or ""))
        for call in message.get("tool_calls") or ():
            total += estimate_tokens(call["function"]["name"] + call["function"]["arguments"])
    return total


def tools_tokens(tools: list[dict[str, Any]] | None) -> int:
    """What the tool specs add to a prompt (servers render them into it)."""
    return estimate_tokens(json.dumps(tools, ensure_ascii=False)) if tools else 0
