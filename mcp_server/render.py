"""Tool results as MCP content: text with ``path:start-end`` citations, one resource link
per cited file (``projectqa://PROJECT/PATH``), bounded in size."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from mcp_types import CallToolResult, ContentBlock, ResourceLink, TextContent

from projectqa.v1 import common_pb2

SCHEME = "projectqa"
DEFAULT_MAX_CHARS = 24_000
# Links beyond the text's bound would flood the agent's context just the same.
MAX_LINKS = 20


def resource_uri(project: str, path: str) -> str:
    """``projectqa://PROJECT/PATH``, each path segment percent-encoded."""
    return f"{SCHEME}://{quote(project, safe='')}/{quote(path, safe='/')}"


def label(citation: common_pb2.Citation) -> str:
    """``path:start-end`` for a file, the server's short form for a record."""
    if citation.label:
        return citation.label
    if citation.path:
        return f"{citation.path}:{citation.start_line}-{citation.end_line}"
    return citation.document_key


def links(project: str, citations: Iterable[common_pb2.Citation]) -> list[ContentBlock]:
    """One ResourceLink per cited file, in order of first citation, at most MAX_LINKS."""
    seen: dict[str, None] = {}
    for citation in citations:
        if citation.path and citation.kind in ("", "file"):
            seen.setdefault(citation.path)
    return [
        ResourceLink(name=path, uri=resource_uri(project, path), mime_type="text/plain")
        for path in list(seen)[:MAX_LINKS]
    ]


def bounded(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars``, saying that it was cut and by how much."""
    if len(text) <= max_chars:
        return text
    note = (
        f"\n[cut: {len(text) - max_chars} of {len(text)} characters left out; "
        "narrow the call (fewer results, a line range, a path glob)]"
    )
    return text[: max(0, max_chars - len(note))] + note


def result(
    text: str, max_chars: int, extra: Iterable[ContentBlock] = (), is_error: bool = False
) -> CallToolResult:
    content: list[ContentBlock] = [TextContent(text=bounded(text, max_chars))]
    return CallToolResult(content=[*content, *extra], is_error=is_error)


def failure(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=False)


def indented(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
