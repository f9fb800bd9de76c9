"""Atlassian Document Format (Jira Cloud descriptions and comments) as plain text.

ADF is a JSON tree: block nodes (paragraph, heading, lists, codeBlock, table,
panel, …) hold inline nodes (text with marks, mention, emoji, hardBreak, …).
Blocks become lines separated by a blank line; headings get markdown ``#``
prefixes, lists ``-``/``1.``, code blocks keep their text inside fences, so
the result chunks and reads like markdown. Unknown nodes fall back to their
children, so new node types degrade to their text rather than vanish.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Node = dict[str, Any]


def adf_to_text(document: Any) -> str:
    """The text of an ADF document (or of a plain string, returned as is)."""
    if isinstance(document, str):
        return document.strip()
    if not isinstance(document, dict):
        return ""
    return "\n".join(_blocks(_children(document))).strip()


def _children(node: Node) -> list[Node]:
    return [child for child in node.get("content") or [] if isinstance(child, dict)]


def _blocks(nodes: list[Node]) -> list[str]:
    """Lines for a sequence of block nodes, a blank line between blocks."""
    lines: list[str] = []
    for node in nodes:
        block = _block(node)
        if block:
            if lines:
                lines.append("")
            lines.extend(block)
    return lines


def _block(node: Node) -> list[str]:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "paragraph":
        return _inline(_children(node)).strip().splitlines()
    if kind == "heading":
        return ["#" * int(attrs.get("level") or 1) + " " + _inline(_children(node)).strip()]
    if kind in ("bulletList", "orderedList"):
        return _list(node, ordered=kind == "orderedList")
    if kind in ("taskList", "decisionList"):
        return [line for item in _children(node) for line in _task(item)]
    if kind == "codeBlock":
        body = "".join(child.get("text", "") for child in _children(node))
        return [f"```{attrs.get('language') or ''}", *body.splitlines(), "```"]
    if kind == "blockquote":
        return ["> " + line if line else ">" for line in _blocks(_children(node))]
    if kind == "rule":
        return ["---"]
    if kind == "table":
        return [_row(row) for row in _children(node)]
    if kind in ("mediaSingle", "mediaGroup", "media"):
        return []  # attachments carry no text
    if kind in ("expand", "nestedExpand") and attrs.get("title"):
        return [attrs["title"], *_blocks(_children(node))]
    if "text" in node or kind in _INLINE:
        return _inline([node]).strip().splitlines()
    return _blocks(_children(node))  # panel, layouts, extensions: their content


def _list(node: Node, *, ordered: bool) -> list[str]:
    lines: list[str] = []
    number = int((node.get("attrs") or {}).get("order") or 1)
    for item in _children(node):
        marker = f"{number}. " if ordered else "- "
        number += 1
        # Blocks of one item stay together: no blank lines inside a list.
        body = [line for line in _blocks(_children(item)) if line] or [""]
        lines.append(marker + body[0])
        lines.extend(" " * len(marker) + line for line in body[1:])
    return lines


def _task(item: Node) -> list[str]:
    state = (item.get("attrs") or {}).get("state")
    box = "[x]" if state in ("DONE", "DECIDED") else "[ ]"
    return [f"- {box} " + _inline(_children(item)).strip()]


def _row(row: Node) -> str:
    cells = [" ".join(_blocks(_children(cell))).strip() for cell in _children(row)]
    return " | ".join(cells)


def _inline(nodes: list[Node]) -> str:
    return "".join(_inline_node(node) for node in nodes)


def _inline_node(node: Node) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return _marked(node.get("text", ""), node.get("marks") or [])
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        text = attrs.get("text") or attrs.get("id") or "someone"
        return text if text.startswith("@") else "@" + text
    if kind == "emoji":
        return attrs.get("text") or attrs.get("shortName") or ""
    if kind in ("inlineCard", "blockCard"):
        return attrs.get("url") or ""
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "status":
        return f"[{attrs.get('text', '')}]"
    return _inline(_children(node))


_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard", "blockCard", "date", "status"}


def _marked(text: str, marks: list[Node]) -> str:
    kinds = {mark.get("type"): mark.get("attrs") or {} for mark in marks}
    if "code" in kinds:
        text = f"`{text}`"
    href = kinds.get("link", {}).get("href")
    if href and href != text:
        text = f"{text} ({href})"
    return text


def _date(timestamp: Any) -> str:
    """ADF dates are epoch milliseconds, as a string."""
    try:
        return datetime.fromtimestamp(int(timestamp) / 1000, UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError):
        return ""
