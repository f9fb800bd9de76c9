"""The evidence ledger: what a turn really saw, and which of an answer's citations it backs.

Everything the turn retrieved, or a built-in tool showed it (search hits, opened
lines, grep matches, symbol definitions), becomes numbered ``Evidence``: the
prompt shows it as ``[n]``, and an answer's citations are checked against it.
An answer may cite by marker (``[3]``, ``[1, 4]``, ``[1][2]``), by file
reference (``src/app.py:12-30``, ``src/app.py#L12-L30``, ``src/app.py`` lines
12-30) or by record key (``#12``, ``PROJ-7``). Markers and file references the
ledger cannot back are reported (unknown markers apart, as they name no source;
unseen file references as unverified citations); record keys it cannot back are
ignored, because ``UTF-8`` and ``SHA-256`` look just like ticket keys.

The ledger is JSON-able: a paused turn stores it and resumes on another server.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..chunking.languages import language_of
from ..retrieval.citations import Citation
from ..retrieval.ops import CitedHit
from ..tools import builtins
from .records import ChatCitation

MAX_TEXT_CHARS = 6000  # of one piece of evidence, kept for prompts and extractive answers
MIN_PROMPT_LINES = 3  # an item cut shorter than this is left out of the prompt
RETRIEVAL = "retrieval"  # the origin of evidence that the turn's own search found
MAX_ITEMS = 200  # per turn: a paused turn stores its ledger, which must stay small

_ISSUE_KEY = re.compile(r"(?:issues|pulls?|pull_requests?|prs?)/(\d+)")
_FENCED = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
# A run of markers, never an index (``args[1]``) or a link (``[1](https://…)``).
_MARKERS = re.compile(r"(?<![\w)\]])((?:\[\s*\d{1,3}(?:\s*[-\u2013,]\s*\d{1,3})*\s*\])+)(?!\()")
_MARKER_ITEM = re.compile(r"(\d+)(?:\s*[-\u2013]\s*(\d+))?")
MAX_MARKER_RANGE = 20
# A file reference: a path token (not inside a URL or a longer token), then its lines.
_FILE_REF = re.compile(
    r"(?<![\w/.:@#~\\-])`?(?P<path>(?:\.{1,2}/)?[\w@+-][\w@+.-]*(?:/[\w@+.-]+)*)`?"
    r"(?::(?P<a>\d+)(?:\s*[-\u2013]\s*(?P<b>\d+))?"
    r"|#L(?P<c>\d+)(?:-L?(?P<d>\d+))?"
    r"|,?\s+\(?lines?\s+(?P<e>\d+)(?:\s*(?:[-\u2013]|to)\s*(?P<f>\d+))?)"
    r"(?![\w.-]*\w)"
)
_ISSUE_REF = re.compile(r"(?<![\w&#/])#(\d{1,7})\b")
_TICKET_REF = re.compile(r"(?<![\w/.-])([A-Z][A-Z0-9]{1,9}-\d{1,7})(?![\w-])")
# ``commit 3f9c2d1`` (or a longer sha), as commit records are cited.
_COMMIT_REF = re.compile(r"(?<![\w/])commit\s+`?([0-9a-f]{7,64})\b")


@dataclass(frozen=True, slots=True)
class Evidence:
    """Something the turn really saw."""

    marker: int  # 1-based number the prompt shows as [n]
    citation: Citation  # the source and exact lines seen
    text: str  # the text seen (for prompts / extractive), may be truncated; '' if none
    score: float = 0.0
    symbol: str = ""  # what the passage is (``Session.request``, a heading, a record)
    origin: str = RETRIEVAL  # "retrieval", or the name of the tool that showed it

    def to_json(self) -> dict[str, Any]:
        return {
            "marker": self.marker,
            "citation": dataclasses.asdict(self.citation),
            "text": self.text,
            "score": self.score,
            "symbol": self.symbol,
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        return cls(
            marker=int(data["marker"]),
            citation=Citation(**data["citation"]),
            text=str(data.get("text", "")),
            score=float(data.get("score", 0.0)),
            symbol=str(data.get("symbol", "")),
            origin=str(data.get("origin", RETRIEVAL)),
        )


@dataclass(frozen=True, slots=True)
class CitationCheck:
    """An answer's citations, in order of first appearance, and the markers no evidence has."""

    citations: list[ChatCitation]
    unknown_markers: list[int]


@dataclass(frozen=True, slots=True)
class _Reference:
    at: int  # offset in the answer: references are reported in order of appearance
    marker: int = 0
    path: str = ""
    start_line: int = 0
    end_line: int = 0
    record: str = ""  # "#12" or "PROJ-7"


class EvidenceLedger:
    """The numbered evidence of one turn; the same source and lines are listed once."""

    def __init__(self, items: Iterable[Evidence] = (), shown: Iterable[int] | None = None) -> None:
        self._items: list[Evidence] = []
        self._by_place: dict[tuple[str, int, int], Evidence] = {}
        # Markers the model was shown with their number; None: every marker counts (a
        # ledger nobody rendered, as in extractive answers and tests).
        self._shown: set[int] | None = None if shown is None else set(shown)
        for item in items:
            self._items.append(item)
            self._by_place.setdefault(_place(item.citation), item)

    def items(self) -> list[Evidence]:
        return list(self._items)

    # ------------------------------------------------------------ recording
    def add_hits(self, hits: list[CitedHit]) -> list[Evidence]:
        """Record retrieval hits (best first); returns their evidence, repeats once."""
        return _unique(
            self._add(h.citation, h.hit.chunk.text, h.hit.score, h.hit.chunk.symbol, RETRIEVAL)
            for h in hits
        )

    def add_tool_result(self, tool: str, arguments: dict[str, Any], value: Any) -> list[Evidence]:
        """Record what a built-in tool's JSON result showed; other tools add nothing."""
        reader = _TOOL_READERS.get(tool)
        if reader is None or not isinstance(value, dict):
            return []
        try:
            seen = list(reader(value))
        except (KeyError, TypeError, ValueError, AttributeError):
            return []  # not the shape the built-in returns: nothing to vouch for
        return _unique(self._add(c, text, score, symbol, tool) for c, text, score, symbol in seen)

    def _add(
        self, citation: Citation, text: str, score: float, symbol: str, origin: str
    ) -> Evidence:
        known = self._by_place.get(_place(citation))
        if known is not None:
            return known
        if len(self._items) >= MAX_ITEMS:  # seen, but no longer vouched for by number
            return Evidence(0, citation, "", float(score), symbol, origin)
        item = Evidence(len(self._items) + 1, citation, _capped(text), float(score), symbol, origin)
        self._items.append(item)
        self._by_place[_place(citation)] = item
        return item

    # --------------------------------------------------------------- prompt
    def prompt_block(self, max_chars: int) -> str:
        """The evidence as an LLM reads it: ``[n] label (what)`` and a fenced excerpt per
        item, in marker order (retrieval's ranking first), cut to ``max_chars``. An item
        that does not fit whole is shown in part, its label naming only the lines shown."""
        blocks: list[str] = []
        used = 0
        self.mark_shown([])  # from now on, only the numbers shown here (or later) verify
        for item in self._items:
            room = max_chars - used - (2 if blocks else 0)
            block = _prompt_item(item, room)
            if not block:
                break
            blocks.append(block)
            used += len(block) + (2 if len(blocks) > 1 else 0)
            self.mark_shown([item])
        return "\n\n".join(blocks)

    def mark_shown(self, items: Iterable[Evidence]) -> None:
        """The model saw these with their ``[n]``: from now on only shown markers verify."""
        self._shown = self._shown or set()
        self._shown.update(item.marker for item in items if item.marker)

    # ----------------------------------------------------------- citations
    def verify(self, answer: str) -> list[ChatCitation]:
        """The citations of ``answer``, each marked verified when this turn saw it."""
        return self.check(answer).citations

    def check(self, answer: str) -> CitationCheck:
        citations: list[ChatCitation] = []
        unknown: list[int] = []
        for reference in _references(answer):
            if reference.marker:
                found = self._marker(reference.marker)
                if found is None and reference.marker not in unknown:
                    unknown.append(reference.marker)
            elif reference.path:
                found = self._file(reference.path, reference.start_line, reference.end_line)
            else:
                found = self._record(reference.record)
            if found is not None and all(c.citation != found.citation for c in citations):
                citations.append(found)
        return CitationCheck(citations, unknown)

    def _marker(self, marker: int) -> ChatCitation | None:
        if self._shown is not None and marker not in self._shown:
            return None  # never numbered for the model: a guess, not a citation
        if 1 <= marker <= len(self._items):
            return ChatCitation(self._items[marker - 1].citation, True, marker)
        return None

    def _file(self, path: str, start: int, end: int) -> ChatCitation:
        """The cited lines clipped to what was seen of the file; unverified if none was."""
        best: tuple[int, Citation] | None = None
        for same_file in _by_path(e.citation for e in self._items if _same_path(e, path)):
            for low, high in _merged((c.start_line, c.end_line) for c in same_file):
                overlap = min(end, high) - max(start, low) + 1
                if overlap > 0 and (best is None or overlap > best[0]):
                    lines = (max(start, low), min(end, high))
                    best = (overlap, _clipped(same_file, *lines))
        if best is not None:
            return ChatCitation(best[1], True)
        return ChatCitation(Citation("", "", "file", path, start, end, "", "", ""), False)

    def _record(self, key: str) -> ChatCitation | None:
        for item in self._items:
            if _is_record(item.citation, key):
                return ChatCitation(item.citation, True)
        return None

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        shown = None if self._shown is None else sorted(self._shown)
        return {"items": [item.to_json() for item in self._items], "shown": shown}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> EvidenceLedger:
        data = data or {}
        items = (Evidence.from_json(item) for item in data.get("items", ()))
        return cls(items, data.get("shown"))


# ------------------------------------------------------------------ tool results
_Seen = tuple[Citation, str, float, str]  # citation, text, score, symbol


def _search_hits(value: dict[str, Any]) -> Iterator[_Seen]:
    for hit in value["hits"]:
        path = str(hit.get("path") or "")
        citation = Citation(
            connector_id="",  # the tool's JSON does not name it
            document_key=path or str(hit["citation"]),  # a record's label is its key
            kind=str(hit.get("kind") or "file"),
            path=path,
            start_line=int(hit["start_line"]),
            end_line=int(hit["end_line"]),
            url=str(hit.get("url") or ""),
            title=str(hit.get("title") or ""),
            version=str(hit.get("version") or ""),
        )
        yield (
            citation,
            str(hit.get("text") or ""),
            float(hit.get("score") or 0.0),
            str(hit.get("symbol") or ""),
        )


def _opened_file(value: dict[str, Any]) -> Iterator[_Seen]:
    start, end = int(value["start_line"]), int(value["end_line"])
    if end >= start:  # a file opened past its end shows no lines
        citation = _file_citation(value["connector_id"], value["path"], start, end, value["commit"])
        yield citation, str(value.get("content") or ""), 0.0, ""


def _grep_matches(value: dict[str, Any]) -> Iterator[_Seen]:
    """One piece of evidence per run of touching matches (with context) in a file."""
    group: dict[int, str] = {}
    where: tuple[str, str, str] | None = None
    for match in value["matches"]:
        lines = {int(ln["number"]): str(ln["text"]) for ln in match["before"]}
        lines[int(match["line"]["number"])] = str(match["line"]["text"])
        lines.update({int(ln["number"]): str(ln["text"]) for ln in match["after"]})
        here = (str(match["connector_id"]), str(match["path"]), str(match.get("commit") or ""))
        if group and (here != where or min(lines) > max(group) + 1):
            yield _grep_group(where, group)
            group = {}
        group.update(lines)
        where = here
    if group:
        yield _grep_group(where, group)


def _grep_group(where: tuple[str, str, str] | None, lines: dict[int, str]) -> _Seen:
    assert where is not None
    start, end = min(lines), max(lines)
    text = "\n".join(lines.get(n, "") for n in range(start, end + 1))
    return _file_citation(where[0], where[1], start, end, where[2]), text, 0.0, ""


def _symbols(value: dict[str, Any]) -> Iterator[_Seen]:
    for symbol in value["symbols"]:
        citation = _file_citation(
            symbol["connector_id"], symbol["path"], symbol["start_line"], symbol["end_line"], ""
        )
        yield citation, "", float(symbol.get("score") or 0.0), str(symbol["name"])


_TOOL_READERS = {
    builtins.SEARCH: _search_hits,
    builtins.KEYWORD_SEARCH: _search_hits,
    builtins.OPEN_FILE: _opened_file,
    builtins.GREP: _grep_matches,
    builtins.FIND_SYMBOL: _symbols,
}


def _file_citation(connector_id: Any, path: Any, start: Any, end: Any, version: Any) -> Citation:
    path = str(path)
    return Citation(
        str(connector_id),
        path,
        "file",
        path,
        int(start),
        int(end),
        "",
        _basename(path),
        str(version),
    )


# ------------------------------------------------------------------ the prompt
def _prompt_item(item: Evidence, room: int) -> str:
    """``[n] label (what)`` and the text fenced; '' when not even a useful part fits."""
    what = item.symbol or item.citation.title
    head = f"[{item.marker}] {item.citation.label}" + (f" ({what})" if what else "")
    if not item.text:
        block = f"{head}\n(definition found; its lines were not shown)"
        return block if len(block) <= room else ""
    fence = _fence_for(item.text)
    language = language_of(item.citation.path) if item.citation.path else ""
    whole = f"{head}\n{fence}{language}\n{item.text}\n{fence}"
    if len(whole) <= room:
        return whole
    lines = item.text.split("\n")
    frame = len(head) + 2 * len(fence) + len(language) + 3
    shown = _lines_within(lines, room - frame - 20)  # 20: room for a narrower label
    if shown < MIN_PROMPT_LINES:
        return ""
    part = dataclasses.replace(item.citation, end_line=item.citation.start_line + shown - 1)
    head = f"[{item.marker}] {part.label}" + (f" ({what})" if what else "")
    return f"{head}\n{fence}{language}\n" + "\n".join(lines[:shown]) + f"\n{fence}"


def _lines_within(lines: list[str], budget: int) -> int:
    used = 0
    for count, line in enumerate(lines):
        used += len(line) + 1
        if used > budget:
            return count
    return len(lines)


def _fence_for(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


# ------------------------------------------------------------------ references
def _references(answer: str) -> list[_Reference]:
    """Every citation-like reference of ``answer`` outside fenced code, in order."""
    prose = _blanked(_FENCED, answer)
    plain = _blanked(_INLINE_CODE, prose)  # markers and keys in `code` are code
    found = [*_marker_refs(plain), *_file_refs(prose), *_record_refs(plain)]
    return sorted(found, key=lambda r: r.at)


def _blanked(pattern: re.Pattern[str], text: str) -> str:
    """``text`` with ``pattern``'s matches blanked out, offsets unchanged."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m[0]), text)


def _marker_refs(text: str) -> Iterator[_Reference]:
    for run in _MARKERS.finditer(text):
        for item in _MARKER_ITEM.finditer(run[1]):
            first = int(item[1])
            last = int(item[2] or first)
            if last < first or last - first > MAX_MARKER_RANGE:
                continue
            for marker in range(max(first, 1), last + 1):
                yield _Reference(run.start() + item.start(), marker=marker)


def _file_refs(text: str) -> Iterator[_Reference]:
    for match in _FILE_REF.finditer(text):
        path = match["path"].removeprefix("./")
        if not _file_like(path):
            continue
        first = int(match["a"] or match["c"] or match["e"])
        last = int(match["b"] or match["d"] or match["f"] or first)
        if first < 1:
            continue
        first, last = min(first, last), max(first, last)
        yield _Reference(match.start(), path=path, start_line=first, end_line=last)


def _file_like(path: str) -> bool:
    """A path with a directory, or a file name of a known language (``app.py``,
    ``Makefile``, not ``obj.method``), and with some letter (not ``3.11``)."""
    if not re.search(r"[A-Za-z]", path) or path.endswith((".", "/")):
        return False
    if "/" in path:
        return True
    return bool(language_of(path))


def _record_refs(text: str) -> Iterator[_Reference]:
    for match in _ISSUE_REF.finditer(text):
        yield _Reference(match.start(), record=f"#{match[1]}")
    for match in _TICKET_REF.finditer(text):
        yield _Reference(match.start(), record=match[1])
    for match in _COMMIT_REF.finditer(text):
        yield _Reference(match.start(), record=f"commit {match[1]}")


# ------------------------------------------------------------------ matching
def _place(citation: Citation) -> tuple[str, int, int]:
    """What makes two pieces of evidence the same: source and lines (tools' JSON does not
    always name the connector, so it is left out)."""
    return citation.path or citation.document_key, citation.start_line, citation.end_line


def _same_path(item: Evidence, cited: str) -> bool:
    seen = item.citation.path
    return bool(seen) and (
        seen == cited or seen.endswith("/" + cited) or cited.endswith("/" + seen)
    )


def _by_path(citations: Iterable[Citation]) -> list[list[Citation]]:
    files: dict[str, list[Citation]] = {}
    for citation in citations:
        files.setdefault(citation.path, []).append(citation)
    return list(files.values())


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Line spans joined where they overlap or touch."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _clipped(same_file: list[Citation], start: int, end: int) -> Citation:
    """Lines ``start``-``end`` with the source details of the evidence covering most of them
    (one naming its connector preferred)."""

    def cover(c: Citation) -> tuple[int, bool]:
        return min(end, c.end_line) - max(start, c.start_line), bool(c.connector_id)

    base = max(same_file, key=cover)
    return dataclasses.replace(base, start_line=start, end_line=end)


def _is_record(citation: Citation, key: str) -> bool:
    if key.startswith("commit "):
        sha = citation.document_key.rpartition("/")[2]
        return citation.kind == "commit" and sha.startswith(key.removeprefix("commit "))
    if key.startswith("#"):
        number = key[1:]
        issue = _ISSUE_KEY.fullmatch(citation.document_key)
        return (issue is not None and issue[1] == number) or citation.title.split(" ", 1)[0] == key
    return citation.document_key == key


def _unique(items: Iterable[Evidence]) -> list[Evidence]:
    return list({item.marker: item for item in items}.values())


def _capped(text: str) -> str:
    """At most ``MAX_TEXT_CHARS``, cut at a line end so line numbers still hold."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_TEXT_CHARS + 1)
    return text[:cut] if cut > 0 else text[:MAX_TEXT_CHARS]


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]
