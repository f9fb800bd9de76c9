"""What the bridge connects to, merged from every place an editor can say it.

First match wins, field by field: ``initializationOptions``, the client's
``projectqa`` settings section, the command line, the environment, defaults
(see docs/EDITORS.md). Unknown keys are ignored, so an editor may keep its own
settings in the same section; a known key of the wrong type is an error naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


class SettingsError(ValueError):
    """A setting has the wrong type; the message names it."""


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Where the ProjectQA server is, who the bridge is, and what it offers the editor."""

    address: str | None = None
    token: str | None = None
    project: str | None = None
    tls_ca_file: str | None = None
    code_lens: bool = False
    extractive: bool = False

    def connection(self) -> tuple[str | None, str | None, str | None]:
        """The settings that need a new gRPC connection when they change."""
        return self.address, self.token, self.tls_ca_file


# The editor-facing (camelCase) key of each field.
_KEYS = {
    "address": "address",
    "token": "token",
    "project": "project",
    "tls_ca_file": "tlsCaFile",
    "code_lens": "codeLens",
    "extractive": "extractive",
}
_FLAGS = frozenset({"code_lens", "extractive"})
_ENVIRONMENT = {
    "address": "PROJECTQA_ADDRESS",
    "token": "PROJECTQA_TOKEN",
    "project": "PROJECTQA_PROJECT",
}


def from_editor(values: Any, source: str) -> dict[str, Any]:
    """The known settings in ``values`` (an editor's JSON object), checked, by field name.

    Empty strings count as unset, so a blank setting in an editor's UI falls through to
    the next source.
    """
    if values is None or values == []:  # Lua encodes an empty table as []
        return {}
    if not isinstance(values, Mapping):
        raise SettingsError(f"{source}: must be an object, not {type(values).__name__}")
    found: dict[str, Any] = {}
    for name, key in _KEYS.items():
        value = values.get(key)
        if value is None or value == "":
            continue
        expected = bool if name in _FLAGS else str
        if not isinstance(value, expected):
            raise SettingsError(f"{source}.{key}: must be a {expected.__name__}")
        found[name] = value.strip() if isinstance(value, str) else value
    return found


def from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The settings the environment gives (``PROJECTQA_ADDRESS``, ``_TOKEN``, ``_PROJECT``)."""
    return {name: environ[var].strip() for name, var in _ENVIRONMENT.items() if environ.get(var)}


def merge(*sources: Mapping[str, Any]) -> BridgeSettings:
    """Settings taking each field from the first source that has it."""
    merged: dict[str, Any] = {}
    for source in reversed(sources):
        merged.update(source)
    known = {field.name for field in fields(BridgeSettings)}
    return replace(BridgeSettings(), **{k: v for k, v in merged.items() if k in known})
