"""Tool calls a model wrote as text instead of structured ``tool_calls``.

Many local models (and servers whose chat format cannot stream ``tool_choice: auto``,
like llama-cpp-python's ``chatml-function-calling``) write the call into the content.
The forms read here:

- Hermes / Qwen: ``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` (one or more;
  a missing closing tag at the very end is tolerated);
- a fenced block: ```` ```json {"name": …, "arguments": {…}} ``` ```` (also a list);
- a bare JSON object with ``name`` and ``arguments`` (or ``parameters``), or a list of them;
- Mistral: ``[TOOL_CALLS][{"name": …, "arguments": {…}}]`` and ``[TOOL_CALLS]name[ARGS]{…}``;
- Llama 3.x: ``<|python_tag|>{"name": …, "parameters": {…}}`` (``;``-separated, an
  optional ``<|eom_id|>``).

Only names of offered tools count, and the JSON must parse; anything else stays text.
By default the whole content must be calls (and whitespace); ``after_prose`` also takes
calls that follow some prose (a profile's ``tool_calls_in_text``). Text that could still
turn out to be a call is held back until that is decided, so no text shown to the user
is then executed as a call. Held text is decided as early as it can be (an object whose
first key no call has, a list whose first item is not a call), scanned once however it is
fragmented, and never more than ``MAX_HELD`` characters: past that it is shown as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .json_scan import INVALID, Expected, JsonScans

HERMES, HERMES_END = "<tool_call>", "</tool_call>"
MISTRAL, MISTRAL_ARGS = "[TOOL_CALLS]", "[ARGS]"
LLAMA, LLAMA_ENDS = "<|python_tag|>", ("<|eom_id|>", "<|eot_id|>")
FENCE = "```"
MARKERS = (HERMES, MISTRAL, LLAMA, FENCE)
# Held back from the user at most this long (the answer's own length guard cannot see
# it); a call this long is shown as text instead.
MAX_HELD = 16_000
# the keys a call object may start with (a bare object starting otherwise is text at once)
CALL_KEYS = frozenset({"name", "arguments", "parameters", "function", "type", "id"})
FENCE_LANGUAGES = frozenset({"", "json", "tool_call", "tool_calls", "function_call"})

_LANGUAGE = re.compile(r"[A-Za-z_]*")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_BARE_LIST = re.compile(r"\[\s*(?:\{|$)")  # a list whose first item is (or may be) an object
# where a call may start, among prose: a marker anywhere, a JSON value at a line's start
_STARTS = re.compile(r"<tool_call>|\[TOOL_CALLS\]|<\|python_tag\|>|```|[\[{]")


class WrittenCall(NamedTuple):
    name: str
    arguments: str  # JSON object text


@dataclass(frozen=True, slots=True)
class _Read:
    """What starts at a position: ``calls`` (None: not a call) ending at ``end``."""

    calls: list[WrittenCall] | None
    end: int


class TextualCalls:
    """Feed the streamed content; get back the text safe to show now, then the calls."""

    def __init__(self, tool_names: Iterable[str], *, after_prose: bool = False) -> None:
        self._names = frozenset(tool_names)
        self._after_prose = after_prose
        self._held = ""
        self._offset = 0  # position of the held text in the content (prose mode trims it)
        self._scans = JsonScans()
        self._decided = False  # whole-content mode: it is not a call, pass text through
        self._at = 0  # whole-content mode: calls read up to here
        self._found: list[WrittenCall] = []  # whole-content mode: calls read so far
        self._line_start = True  # the held text starts a line (prose mode)
        self._calls: list[WrittenCall] = []

    @property
    def scanned_chars(self) -> int:
        """Characters the JSON scanner stepped over (each about once: the work is linear)."""
        return self._scans.scanned

    def feed(self, text: str) -> str:
        """The part of the content so far that can be shown (it will not be a call)."""
        if self._decided:
            return text
        self._held += text
        if self._after_prose:
            return self._scan(final=False) + self._release_if_too_long()
        if self._whole(final=False) == [] or len(self._held) > MAX_HELD:
            self._decided = True
            self._scans = JsonScans(self._scans.scanned)
            shown, self._held = self._held, ""
            return shown
        return ""

    def finish(self) -> tuple[str, list[WrittenCall]]:
        """At the end of the content: the text still held back that is text, and the calls."""
        if self._after_prose:
            return self._scan(final=True), self._calls
        calls = None if self._decided else self._whole(final=True)
        held, self._held = self._held, ""
        return ("", calls) if calls else (held, [])

    def _reader(self, final: bool) -> _Reader:
        return _Reader(self._held, self._names, final, self._scans, self._offset)

    def _whole(self, final: bool) -> list[WrittenCall] | None:
        """The content read as calls only: the calls, None (undecided yet), [] (not calls).
        Calls already read are kept, so each feed reads on from the first undecided form."""
        reader, text = self._reader(final), self._held
        at = _skip_space(text, self._at)
        while at < len(text):
            read = reader.read(at)
            if read is None:
                break
            if read.calls is None:
                return []
            self._found.extend(read.calls)
            at = self._at = _skip_space(text, read.end)
        return self._found if final and at == len(text) else None

    def _scan(self, final: bool) -> str:
        """Prose mode: show text up to where a call may start; read calls from there."""
        text, reader = self._held, self._reader(final)
        shown, at = [], 0
        while at < len(text):
            start = self._next_start(text, at)
            shown.append(text[at:start])
            if start == len(text):
                at = start
                break
            read = reader.read(start)
            if read is None:  # undecided: hold from there
                at = start
                break
            if read.calls is None:
                shown.append(text[start : read.end])
            else:
                self._calls.extend(read.calls)
            at = read.end
        self._hold_from(at)
        return "".join(shown)

    def _release_if_too_long(self) -> str:
        """Prose mode: held text past ``MAX_HELD`` is shown (what follows is prose again)."""
        if len(self._held) <= MAX_HELD:
            return ""
        shown = self._held
        self._hold_from(len(shown))
        return shown

    def _hold_from(self, at: int) -> None:
        if at:
            self._line_start = self._at_line_start(self._held, at)
            self._held = self._held[at:]
            self._offset += at
            self._scans.forget_before(self._offset)

    def _next_start(self, text: str, at: int) -> int:
        """The first position from ``at`` where a call may start (len(text): none)."""
        position = at
        while (match := _STARTS.search(text, position)) is not None:
            found = match.start()
            if match.group() not in "[{" or self._at_line_start(text, found):
                return min(found, _partial_marker(text, at))
            position = found + 1
        return _partial_marker(text, at)

    def _at_line_start(self, text: str, position: int) -> bool:
        """Only spaces or tabs come before ``position`` on its line."""
        before = position - 1
        while before >= 0 and text[before] in " \t":
            before -= 1
        return text[before] == "\n" if before >= 0 else self._line_start


def _partial_marker(text: str, at: int) -> int:
    """Where the text ends with the beginning of a marker (len(text): it does not)."""
    for start in range(max(at, len(text) - max(map(len, MARKERS)) + 1), len(text)):
        if any(marker.startswith(text[start:]) for marker in MARKERS):
            return start
    return len(text)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


@dataclass(frozen=True, slots=True)
class _Reader:
    """Reads one call form at a position; None means the text so far cannot tell yet
    (never when ``final``: then an unfinished form is text)."""

    text: str
    names: frozenset[str]
    final: bool
    scans: JsonScans
    offset: int  # of ``text`` in the content: where scans are kept

    def read(self, at: int) -> _Read | None:
        forms = ((HERMES, self._hermes), (MISTRAL, self._mistral), (LLAMA, self._llama))
        for marker, reader in (*forms, (FENCE, self._fenced)):
            if self.text.startswith(marker, at):
                return reader(at + len(marker))
            if _cut_short(marker, self.text, at):
                return self._more()
        if self.text.startswith("{", at) or _BARE_LIST.match(self.text, at):
            return self._value(at, bare=True)
        return _Read(None, at + 1)

    def _more(self) -> _Read | None:
        return _Read(None, len(self.text)) if self.final else None

    def _json_at(self, at: int, expected: Expected | None = None) -> tuple[Any, int] | None:
        """The JSON object or list at ``at`` (after spaces) and where it ends; the value
        is ``INVALID`` when there is none there, or (with ``expected``) when it cannot be
        calls: that is known as soon as a first key or a first item says so."""
        start = _skip_space(self.text, at)
        if start == len(self.text):
            return (INVALID, start) if self.final else None
        if self.text[start] not in "[{":
            return INVALID, start
        scan = self.scans.at(self.text, start, self.offset, expected)
        if scan.unexpected_at is not None:
            return INVALID, start + scan.unexpected_at
        if scan.end is None:
            return (INVALID, len(self.text)) if self.final else None
        return scan.value(self.text, start), start + scan.end

    def _value(self, at: int, *, bare: bool) -> _Read | None:
        """The calls a JSON object or list starting at ``at`` describes."""
        expected = Expected(CALL_KEYS, lambda item: _call(item, self.names, bare) is not None)
        found = self._json_at(at, expected)
        if found is None:
            return None
        value, end = found
        return _Read(None if value is INVALID else _calls(value, self.names, bare), end)

    def _closed_by(self, read: _Read | None, closing: str) -> _Read | None:
        """``read`` followed by ``closing``; missing at the very end is tolerated."""
        if read is None or read.calls is None:
            return read
        after = _skip_space(self.text, read.end)
        if self.text.startswith(closing, after):
            return _Read(read.calls, after + len(closing))
        if after == len(self.text):
            return _Read(read.calls, after) if self.final else None
        if _cut_short(closing, self.text, after):
            return self._more()
        return _Read(None, read.end)

    def _hermes(self, at: int) -> _Read | None:
        return self._closed_by(self._value(at, bare=False), HERMES_END)

    def _fenced(self, at: int) -> _Read | None:
        language = _LANGUAGE.match(self.text, at)
        assert language is not None  # matches the empty string at least
        if language.end() == len(self.text):
            return self._more()
        if language.group().lower() not in FENCE_LANGUAGES:
            return _Read(None, language.end())
        return self._closed_by(self._value(language.end(), bare=True), FENCE)

    def _mistral(self, at: int) -> _Read | None:
        start = _skip_space(self.text, at)
        if start < len(self.text) and self.text[start] in "[{":
            return self._value(start, bare=False)
        name = _TOOL_NAME.match(self.text, start)
        after = name.end() if name else start
        if after == len(self.text) or _cut_short(MISTRAL_ARGS, self.text, after):
            return self._more()
        if not name or not self.text.startswith(MISTRAL_ARGS, after):
            return _Read(None, after)
        found = self._json_at(after + len(MISTRAL_ARGS))  # arguments: any keys
        if found is None:
            return None
        arguments, end = found
        if name.group() not in self.names or not isinstance(arguments, dict):
            return _Read(None, end)
        return _Read([WrittenCall(name.group(), json.dumps(arguments, ensure_ascii=False))], end)

    def _llama(self, at: int) -> _Read | None:
        calls: list[WrittenCall] = []
        while True:
            read = self._value(at, bare=False)
            if read is None or read.calls is None:
                return read
            calls.extend(read.calls)
            after = _skip_space(self.text, read.end)
            if self.text.startswith(";", after):
                at = after + 1
                continue
            for end in LLAMA_ENDS:
                if self.text.startswith(end, after):
                    return _Read(calls, after + len(end))
            cut = after == len(self.text) or any(
                _cut_short(e, self.text, after) for e in LLAMA_ENDS
            )
            if not self.final and cut:
                return None
            return _Read(calls, read.end)


def _cut_short(marker: str, text: str, at: int) -> bool:
    """The text from ``at`` is a proper beginning of ``marker`` (more may complete it)."""
    return len(text) - at < len(marker) and marker.startswith(text[at:])


def _calls(value: Any, names: frozenset[str], bare: bool) -> list[WrittenCall] | None:
    """The calls a parsed value describes, or None unless every item is a call of an
    offered tool. Without a marker (``bare``) the arguments must be there too."""
    items = value if isinstance(value, list) else [value]
    calls = [_call(item, names, bare) for item in items]
    if not calls or any(call is None for call in calls):
        return None
    return [call for call in calls if call is not None]


def _call(item: Any, names: frozenset[str], bare: bool) -> WrittenCall | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI's own shape, written as text
        item = item["function"]
    name = item.get("name")
    arguments = item.get("arguments", item.get("parameters"))
    if not isinstance(name, str) or name not in names or (arguments is None and bare):
        return None
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except ValueError:
            return None
        return WrittenCall(name, arguments) if isinstance(decoded, dict) else None
    if arguments is None:
        return WrittenCall(name, "{}")
    if not isinstance(arguments, dict):
        return None
    return WrittenCall(name, json.dumps(arguments, ensure_ascii=False))
