"""Parameter types and readers shared by the command groups."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class Duration(click.ParamType):
    """A duration such as ``3600``, ``90m``, ``12h``, ``30d`` or ``2w``, in seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _DURATION.match(str(value))
        if match is None:
            self.fail(f"{value!r} is not a duration like 3600, 90m, 12h, 30d or 2w", param, ctx)
        return int(match[1]) * _SECONDS_PER_UNIT[match[2].lower()]


class JsonObject(click.ParamType):
    """A JSON object given inline or as ``@path/to/file.json``."""

    name = "json"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        text = str(value)
        if text.startswith("@"):
            try:
                text = Path(text[1:]).expanduser().read_text(encoding="utf-8")
            except OSError as error:
                self.fail(f"cannot read {text[1:]}: {error.strerror}", param, ctx)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            self.fail(f"not valid JSON: {error}", param, ctx)
        if not isinstance(parsed, dict):
            self.fail("must be a JSON object", param, ctx)
        return parsed


class Assignment(click.ParamType):
    """``KEY=VALUE``, converted to a ``(key, value)`` pair."""

    name = "key=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, sep, rest = str(value).partition("=")
        if not sep or not key:
            self.fail("expected KEY=VALUE", param, ctx)
        return key, rest


def read_env_secret(variable: str, option: str) -> str:
    """The value of environment variable ``variable``; a usage error when unset or empty."""
    value = os.environ.get(variable)
    if not value:
        raise click.UsageError(f"{option}: environment variable {variable} is not set")
    return value


def read_stdin_secret(option: str) -> str:
    """One secret read from standard input, without its trailing newline."""
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.UsageError(f"{option}: nothing was read from standard input")
    return value


def page_size_option(function: Any) -> Any:
    """``--page-size`` of a list command; the command still prints every page."""
    return click.option(
        "--page-size",
        type=click.IntRange(1, 500),
        default=None,
        help="Results fetched per request (1-500; server default 50). "
        "The command follows next_page_token and prints every result.",
    )(function)
