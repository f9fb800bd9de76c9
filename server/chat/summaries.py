"""One-line summaries of tool results, shown to the user as the agent works."""

from __future__ import annotations

from typing import Any

from ..tools import builtins
from ..tools.base import ToolResult
from .prompt import one_line

MAX_SUMMARY = 300
MAX_LISTED = 3


def summarize_result(tool: str, result: ToolResult) -> str:
    if result.is_error:
        return one_line(f"error: {result.error}", MAX_SUMMARY)
    value = result.value
    try:
        summary = _SUMMARIES[tool](value) if tool in _SUMMARIES else _generic(value)
    except (KeyError, TypeError, AttributeError):  # a shape we did not expect: say little
        summary = _generic(value)
    return one_line(summary, MAX_SUMMARY)


def _hits(value: dict[str, Any]) -> str:
    hits = value["hits"]
    if not hits:
        return "no passages found"
    listed = ", ".join(h["citation"] for h in hits[:MAX_LISTED])
    more = f" and {len(hits) - MAX_LISTED} more" if len(hits) > MAX_LISTED else ""
    return f"{_count(len(hits), 'passage')}: {listed}{more}"


def _grep(value: dict[str, Any]) -> str:
    matches = value["matches"]
    files = {(m["connector_id"], m["path"]) for m in matches}
    text = f"{_count(len(matches), 'match', 'matches')} in {_count(len(files), 'file')}"
    if value.get("truncated"):
        text += f" (stopped: {value.get('truncated_reason') or 'limit'})"
    return text


def _open_file(value: dict[str, Any]) -> str:
    if value["end_line"] < value["start_line"]:
        return f"{value['path']}: no lines in that range ({value['total_lines']} lines)"
    return f"{value['path']}:{value['start_line']}-{value['end_line']} of {value['total_lines']}"


def _symbols(value: dict[str, Any]) -> str:
    found = value["symbols"]
    if not found:
        return "no definitions found"
    listed = ", ".join(f"{s['name']} ({s['path']}:{s['start_line']})" for s in found[:MAX_LISTED])
    return f"{_count(len(found), 'definition')}: {listed}"


def _metadata(value: dict[str, Any]) -> str:
    languages = ", ".join(str(lang["language"]) for lang in value.get("languages", [])[:4])
    return f"project metadata ({languages or 'no languages'})"


def _generic(value: Any) -> str:
    if isinstance(value, dict):
        return "result with " + (", ".join(list(value)[:5]) or "no fields")
    if isinstance(value, list):
        return f"{_count(len(value), 'item')}"
    return str(value)


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


_SUMMARIES = {
    builtins.SEARCH: _hits,
    builtins.KEYWORD_SEARCH: _hits,
    builtins.GREP: _grep,
    builtins.OPEN_FILE: _open_file,
    builtins.FIND_SYMBOL: _symbols,
    builtins.PROJECT_METADATA: _metadata,
}
