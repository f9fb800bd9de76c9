"""Hover: where the symbol under the cursor is defined, and what docs and tickets say.

The fast path of the bridge: no LLM, only the server's symbol index and its keyword
index, asked at the same time, then the first lines of the top definition. Answers
are cached per project and word for a minute, so moving the mouse back and forth
costs nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from projectqa.client import ClientError
from projectqa.lsp.ask import location
from projectqa.lsp.connection import OUTAGE_CODES, Ready
from projectqa.lsp.markdown import code, escape, fence
from projectqa.lsp.workspace import ProjectView
from projectqa.server.chat.prompt import one_line
from projectqa.server.retrieval.citations import line_label
from projectqa.v1 import common_pb2, retrieval_pb2, tools_pb2

CACHE_TTL_S = 60.0
CACHE_SIZE = 512
MAX_DEFINITIONS = 3
MAX_PASSAGES = 3
PREVIEW_LINES = 8
PROSE_LANGUAGES = ("markdown", "rst")
RECORD_KINDS = ("issue", "pull_request", "ticket", "page")


class HoverCache:
    """Hover texts by (project, word), least recently used out first, each kept a minute."""

    def __init__(self, size: int = CACHE_SIZE, ttl_s: float = CACHE_TTL_S) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[float, str | None]] = OrderedDict()
        self._size, self._ttl_s = size, ttl_s

    def get(self, key: tuple[str, str]) -> tuple[bool, str | None]:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self._ttl_s:
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: tuple[str, str], text: str | None) -> None:
        self._entries[key] = (time.monotonic(), text)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def _link(project: ProjectView, citation: common_pb2.Citation) -> str:
    """The citation as a link whose text is its label as inline code, so a path reads as
    written (escaped text shows backslashes where markdown is shown as text, and may lose
    characters to a markdown conceal)."""
    where = location(project, citation)
    label = code(citation.label)
    if where is not None:
        return f"[{label}](<{where.uri}#L{where.range.start.line + 1}>)"
    if citation.url.startswith(("https://", "http://")):
        return f"[{label}](<{citation.url}>)"
    return code(citation.label)


def _symbol_citation(match: tools_pb2.SymbolMatch) -> common_pb2.Citation:
    return common_pb2.Citation(
        connector_id=match.connector_id,
        kind="file",
        path=match.path,
        start_line=match.start_line,
        end_line=match.end_line,
        label=line_label(match.path, match.start_line, match.end_line),
    )


def _first_line(snippet: str) -> str:
    """The first line with words of a passage (a heading's ``#`` dropped), cut short."""
    for line in snippet.splitlines():
        if text := line.strip().lstrip("#").strip():
            return one_line(text, 100)
    return ""


async def _definitions(ready: Ready, word: str) -> tuple[list[tools_pb2.SymbolMatch], str]:
    client, project = ready.client, ready.project.id
    matches = await client.find_symbol(project, word, exact=True, limit=MAX_DEFINITIONS)
    if not matches:
        return [], ""
    top = matches[0]
    end = min(top.end_line, top.start_line + PREVIEW_LINES - 1)
    try:
        opened = await client.open_file(
            project, top.path, top.start_line, end, connector=top.connector_id
        )
    except ClientError as error:  # renamed or shortened since it was indexed
        if error.code in OUTAGE_CODES:
            raise
        return matches, ""
    return matches, opened.content


def _definitions_text(
    project: ProjectView, matches: list[tools_pb2.SymbolMatch], preview: str
) -> list[str]:
    top = matches[0]
    lines = [f"**{code(top.name)}** · {top.kind} · {_link(project, _symbol_citation(top))}"]
    if preview:
        ticks = fence(preview)
        lines += ["", f"{ticks}{top.language}", preview.rstrip(), ticks]
    if others := matches[1:]:
        links = ", ".join(_link(project, _symbol_citation(m)) for m in others)
        lines += ["", f"Also defined at {links}"]
    return lines


def _passages_text(project: ProjectView, hits: list[retrieval_pb2.SearchHit]) -> list[str]:
    lines = ["**In the docs and tickets**"]
    for hit in hits[:MAX_PASSAGES]:
        title = hit.citation.title if hit.citation.kind != "file" else _first_line(hit.snippet)
        lines.append(f"- {_link(project, hit.citation)} — {escape(title)}".rstrip(" —"))
    return lines


async def hover_text(ready: Ready, word: str) -> str | None:
    """Markdown for hovering ``word``; None when the project knows nothing of it."""
    client, project = ready.client, ready.project.id
    (matches, preview), prose, records = await asyncio.gather(
        _definitions(ready, word),
        client.keyword_search(project, word, top_k=MAX_PASSAGES, languages=PROSE_LANGUAGES),
        client.keyword_search(project, word, top_k=MAX_PASSAGES, kinds=RECORD_KINDS),
    )
    hits = sorted([*prose, *records], key=lambda hit: -hit.score)
    parts: list[str] = []
    if matches:
        parts += _definitions_text(ready.project, matches, preview)
    if hits:
        parts += [""] if parts else []
        parts += _passages_text(ready.project, hits)
    return "\n".join(parts) or None
