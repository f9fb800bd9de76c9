"""Proto enum values as the CLI shows and accepts them.

``LLM_PROVIDER_OPENAI_COMPATIBLE`` of ``LlmProvider`` reads as
"openai-compatible": the enum's own prefix dropped, lowercase, dashes.
"""

from __future__ import annotations

import re

import click
from google.protobuf.descriptor import EnumDescriptor


def _prefix(enum: EnumDescriptor) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def enum_label(enum: EnumDescriptor, number: int) -> str:
    """The short name of an enum value, e.g. "admin" for PROJECT_ROLE_ADMIN."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return value.name.removeprefix(_prefix(enum)).lower().replace("_", "-")


def enum_labels(enum: EnumDescriptor) -> list[str]:
    """Short names of every value but the zero ``…_UNSPECIFIED`` one."""
    return [enum_label(enum, value.number) for value in enum.values if value.number != 0]


def enum_number(enum: EnumDescriptor, label: str) -> int:
    """The enum number of a short name (inverse of :func:`enum_label`)."""
    return enum.values_by_name[_prefix(enum) + label.upper().replace("-", "_")].number


class EnumChoice(click.Choice):
    """A click choice among an enum's short names; converts to the enum number."""

    def __init__(self, enum: EnumDescriptor) -> None:
        super().__init__(enum_labels(enum), case_sensitive=False)
        self.enum = enum

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        return enum_number(self.enum, super().convert(value, param, ctx))
