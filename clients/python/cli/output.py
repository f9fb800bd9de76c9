"""Rendering of proto messages: rich tables and key/value lists, or JSON.

Human output formats each field by its proto type (timestamps in UTC, enums
by short name, Structs as compact JSON); ``--json`` prints
``MessageToDict(..., preserving_proto_field_name=True)``: one object for a
resource, an array for a list, ``{}`` when a call returns nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any, cast

import click
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table
from rich.text import Text

from projectqa.client.admin import from_struct, whole_numbers
from projectqa.client.cli.enums import enum_label

# Output that is not a terminal is read by scripts: never wrap it at 80 columns.
_PIPE_WIDTH = 240


def console() -> Console:
    """A console on the current stdout (click's test runner swaps it)."""
    width = None if sys.stdout.isatty() else _PIPE_WIDTH
    return Console(file=sys.stdout, width=width, markup=False, highlight=False, emoji=False)


def message_to_dict(message: Message) -> dict[str, Any]:
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _whole_numbers_in_structs(message, data)
    return data


def _whole_numbers_in_structs(message: Message, data: dict[str, Any]) -> None:
    """Struct fields (connector configs, schemas) as they were sent: a Struct holds every
    number as a double, so ``100`` would print as ``100.0``."""
    for field in message.DESCRIPTOR.fields:
        kind = field.message_type
        if kind is None or field.name not in data or kind.GetOptions().map_entry:
            continue
        value = getattr(message, field.name)
        if kind.full_name == "google.protobuf.Struct":
            data[field.name] = whole_numbers(data[field.name])
        elif field.is_repeated:
            for item, item_data in zip(value, data[field.name], strict=True):
                if isinstance(item_data, dict):
                    _whole_numbers_in_structs(item, item_data)
        elif isinstance(data[field.name], dict):
            _whole_numbers_in_structs(value, data[field.name])


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


def format_timestamp(timestamp: timestamp_pb2.Timestamp) -> str:
    moment = timestamp.ToDatetime(tzinfo=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _format_scalar(field: FieldDescriptor, value: Any) -> str:
    if field.enum_type is not None:  # set exactly on enum fields
        return enum_label(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "yes" if value else "no"
    if field.type == FieldDescriptor.TYPE_DOUBLE or field.type == FieldDescriptor.TYPE_FLOAT:
        return f"{value:g}"
    if isinstance(value, Message):
        return _format_message(value)
    return str(value)


def _format_message(message: Message) -> str:
    if isinstance(message, timestamp_pb2.Timestamp):
        return format_timestamp(message)
    if isinstance(message, struct_pb2.Struct):
        return json.dumps(from_struct(message), separators=(",", ":"))
    return json.dumps(message_to_dict(message), separators=(",", ":"))


def format_field(message: Message, name: str) -> str:
    """One field of ``message`` as text; "-" for an unset message field."""
    # typeshed types a descriptor as either protobuf backend's class; both have this API.
    field = cast(FieldDescriptor, message.DESCRIPTOR.fields_by_name[name])
    value = getattr(message, name)
    if field.is_repeated:
        return ", ".join(_format_scalar(field, item) for item in value)
    if field.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(name):
        return "-"
    return _format_scalar(field, value)


def _header(name: str) -> str:
    return name.replace("_", " ")


def render_table(messages: Sequence[Message], columns: Sequence[str], title: str) -> None:
    if not messages:
        console().print(Text(f"No {title}.", style="dim"))
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for name in columns:
        no_wrap = name == "id" or name.endswith("_id")
        table.add_column(_header(name), no_wrap=no_wrap, overflow="fold")
    for message in messages:
        table.add_row(*(Text(format_field(message, name)) for name in columns))
    console().print(table)


def render_fields(message: Message, fields: Sequence[str] | None = None) -> None:
    names = fields or [field.name for field in message.DESCRIPTOR.fields]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name in names:
        grid.add_row(_header(name), Text(format_field(message, name)))
    console().print(grid)


def show_resource(json_output: bool, message: Message, fields: Sequence[str] | None = None) -> None:
    """One resource: JSON object, or a key/value list of ``fields`` (default: all)."""
    if json_output:
        print_json(message_to_dict(message))
    else:
        render_fields(message, fields)


def show_resources(
    json_output: bool, messages: Iterable[Message], columns: Sequence[str], title: str
) -> None:
    """A list of resources: JSON array, or a table of ``columns``."""
    collected = list(messages)
    if json_output:
        print_json([message_to_dict(message) for message in collected])
    else:
        render_table(collected, columns, title)


def show_done(json_output: bool, text: str) -> None:
    """The outcome of a call that returns nothing: ``{}`` or a sentence."""
    if json_output:
        print_json({})
    else:
        click.echo(text)
