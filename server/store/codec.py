"""One mapping between records and flat field dicts, shared by both backends.

Each backend is a ``Codec`` with its own time encoding and id key; the fields
themselves come from the record dataclasses, so a new field needs no
conversion code. Conventions:
- dicts and lists (connector config and secrets, run warnings) are stored as JSON text: plugin keys
  may contain ``.`` or start with ``$``, which MongoDB restricts;
- ``project_id`` of scoped records (LLM profiles, flags) is stored as
  ``scope``, with ``''`` for the global scope, because unique indexes treat
  NULLs as distinct (SQLite) or alike only by accident (MongoDB);
- enums are stored as their string values;
- tuples of strings (a chunk's references) are a native array in MongoDB and JSON
  text in SQLite, ``''`` when empty (the default of a column added later).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from ..models import FeatureFlagValue, LlmProfile

T = TypeVar("T")
Fields = dict[str, Any]
GLOBAL_SCOPE = ""
SCOPED = (LlmProfile, FeatureFlagValue)


def scope_of(project_id: str | None) -> str:
    return GLOBAL_SCOPE if project_id is None else project_id


def project_of(scope: str) -> str | None:
    return None if scope == GLOBAL_SCOPE else scope


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken as UTC (what pymongo and mongomock return)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def time_to_text(value: datetime) -> str:
    """Fixed-width ISO-8601 UTC with milliseconds, so text order is time order."""
    return utc(value).isoformat(timespec="milliseconds")


def time_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _field_types(cls: type) -> dict[str, type[Any]]:
    """Each field's type, with ``X | None`` reduced to ``X``."""
    # Passed on as a plain ``type``: mypy does not see ``type[X]`` as Hashable.
    return _cached_field_types(cls)


@functools.cache
def _cached_field_types(cls: type) -> dict[str, type[Any]]:
    hints = typing.get_type_hints(cls)
    resolved = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        resolved[field.name] = typing.get_origin(hint) or hint
    return resolved


def _defaulted(cls: type) -> frozenset[str]:
    """Fields of ``cls`` that have a default (or a default factory)."""
    return _cached_defaulted(cls)  # as in _field_types: mypy sees no Hashable in type[X]


@functools.cache
def _cached_defaulted(cls: type) -> frozenset[str]:
    missing = dataclasses.MISSING
    return frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not missing or f.default_factory is not missing
    )


def strings_to_text(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":")) if values else ""


def strings_from_text(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


@dataclasses.dataclass(frozen=True)
class Codec:
    encode_time: Callable[[datetime], Any]
    decode_time: Callable[[Any], datetime]
    id_key: str = "id"
    encode_strings: Callable[[tuple[str, ...]], Any] = list
    decode_strings: Callable[[Any], tuple[str, ...]] = tuple

    def fields(self, record: Any) -> Fields:
        """The record as a flat dict of storable values, keyed as the backend stores them."""
        out: Fields = {}
        for name, kind in _field_types(type(record)).items():
            value = getattr(record, name)
            if name == "project_id" and isinstance(record, SCOPED):
                out["scope"] = scope_of(value)
            else:
                out[self.id_key if name == "id" else name] = self._encode(kind, value)
        return out

    def record(self, cls: type[T], data: Mapping[str, Any]) -> T:
        """Rebuild a record from what ``fields`` stored."""
        values = {}
        for name, kind in _field_types(cls).items():
            key = self.id_key if name == "id" else name
            if name == "project_id" and cls in SCOPED:
                values[name] = project_of(data["scope"])
            elif isinstance(data, dict) and key not in data and name in _defaulted(cls):
                continue  # a field added after the document was stored: its default
            else:
                values[name] = self._decode(kind, data[key])
        return cls(**values)

    def reader(self, cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
        return functools.partial(self.record, cls)

    def _encode(self, kind: type[Any], value: Any) -> Any:
        if value is None:
            return None
        if kind is datetime:
            return self.encode_time(value)
        if kind is dict or kind is list:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if kind is tuple:
            return self.encode_strings(value)
        if issubclass(kind, Enum):
            return value.value
        return kind(value)  # bool, int, float, str: plain built-ins for both drivers

    def _decode(self, kind: type[Any], raw: Any) -> Any:
        if raw is None:
            return None
        if kind is datetime:
            return self.decode_time(raw)
        if kind is dict or kind is list:
            return json.loads(raw)
        if kind is tuple:
            return self.decode_strings(raw)
        return kind(raw)  # enums from their values; SQLite's 0/1 to bool


SQLITE = Codec(
    encode_time=time_to_text,
    decode_time=time_from_text,
    encode_strings=strings_to_text,
    decode_strings=strings_from_text,
)
MONGO = Codec(encode_time=utc, decode_time=utc, id_key="_id")
