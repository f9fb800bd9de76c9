"""JSON objects and lists read as they stream: each scan resumes where the previous
fragment left it, so the text is stepped over once however finely it is cut, and a value
that cannot be what is expected is known at its first key or item, not at its end."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INVALID = object()  # where a JSON value was expected but is not


@dataclass(frozen=True, slots=True)
class Expected:
    """Objects whose first key is one of ``first_keys`` (or a list of them, each passing
    ``item`` once parsed)."""

    first_keys: frozenset[str]
    item: Callable[[Any], bool]


class JsonScans:
    """The JSON scans of the held text, by position in the content, and their work."""

    def __init__(self, scanned: int = 0) -> None:
        self.by_start: dict[int, JsonScan] = {}
        self.scanned = scanned

    def at(self, text: str, start: int, offset: int, expected: Expected | None) -> JsonScan:
        scan = self.by_start.get(offset + start)
        if scan is None:
            scan = self.by_start[offset + start] = JsonScan(text[start], expected)
        self.scanned += scan.advance(text, start)
        return scan

    def forget_before(self, offset: int) -> None:
        self.by_start = {at: scan for at, scan in self.by_start.items() if at >= offset}


class JsonScan:
    """A JSON object or list read up to where the content has come, resumed where it
    stopped at the next fragment (each character is stepped over once).

    With ``expected`` (objects of a kind, or a list of them), it stops as soon as the value
    cannot be that: an object's first key is not one of its keys, or a list item fails
    its check.
    Positions are relative to the value's start."""

    def __init__(self, opening: str, expected: Expected | None) -> None:
        self.expected = expected
        self.objects_depth = 1 if opening == "{" else 2  # where the expected objects are
        self.length = 0  # characters scanned
        self.depth, self.in_string, self.escaped = 0, False, False
        self.end: int | None = None  # where the value closes
        self.unexpected_at: int | None = None  # where it was known not to be as expected
        self.expect_item = False  # in the top list, before an item
        self.item_start = 0  # of the expected object being read
        self.key_start: int | None = None  # of its first key (-1: the key is awaited)
        self._parsed: Any = None  # the closed value, once parsed

    def advance(self, text: str, start: int) -> int:
        """Scan what arrived since the last call; returns how many characters."""
        begin = position = start + self.length
        while position < len(text) and self.end is None and self.unexpected_at is None:
            self._step(text, position - start, text[position], start)
            position += 1
        self.length = position - start
        return position - begin

    def value(self, text: str, start: int) -> Any:
        """The closed value, parsed once (``INVALID`` when it is not JSON)."""
        if self._parsed is None and self.end is not None:
            try:
                self._parsed = json.loads(text[start : start + self.end])
            except ValueError:
                self._parsed = INVALID
        return self._parsed

    def _step(self, text: str, at: int, char: str, start: int) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif char == "\\":
                self.escaped = True
            elif char == '"':
                self.in_string = False
                if self.key_start is not None and self.key_start >= 0:
                    self._first_key(text[start + self.key_start : start + at + 1], at)
            return
        if char in " \t\r\n":
            return
        if self.expected is not None and not self._may_be_expected(char, at):
            self.unexpected_at = at + 1
            return
        if char == '"':
            self.in_string = True
        elif char in "[{":
            self._open(char, at)
        elif char in "]}":
            self._close(text, char, at, start)
        elif char == "," and self.depth == 1 and self.objects_depth == 2:
            self.expect_item = True

    def _may_be_expected(self, char: str, at: int) -> bool:
        """Before an expected object's first key, or a list item: is ``char`` what comes?"""
        if self.key_start == -1:  # an expected object was just opened
            if char == '"':
                self.key_start = at
            elif char != "}":
                return False
        if self.expect_item:
            self.expect_item = False
            return char in "{]"
        return True

    def _first_key(self, quoted: str, at: int) -> None:
        self.key_start = None
        try:
            key = json.loads(quoted)
        except ValueError:
            key = None
        assert self.expected is not None
        if key not in self.expected.first_keys:
            self.unexpected_at = at + 1

    def _open(self, char: str, at: int) -> None:
        self.depth += 1
        if self.expected is None:
            return
        if self.depth == self.objects_depth and char == "{":
            self.item_start, self.key_start = at, -1
        elif self.depth == 1:  # the top list
            self.expect_item = True

    def _close(self, text: str, char: str, at: int, start: int) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.end = at + 1
        elif self.expected is not None and self.depth == 1 and self.objects_depth == 2:
            self._item_closed(text[start + self.item_start : start + at + 1], at)

    def _item_closed(self, item: str, at: int) -> None:
        """A list item has closed: it passes the check, or the list is not as expected."""
        assert self.expected is not None
        try:
            fits = self.expected.item(json.loads(item))
        except ValueError:
            fits = False
        if not fits:
            self.unexpected_at = at + 1
