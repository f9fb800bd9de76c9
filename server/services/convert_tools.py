"""Tool records <-> protobuf messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf import json_format, struct_pb2

from projectqa.v1 import tools_pb2 as pb

from ..tools.base import ToolResult
from ..tools.grep import FileLine, GrepResult
from ..tools.openfile import OpenedFile
from ..tools.ops import ToolEntry, ToolOrigin
from .convert import struct

if TYPE_CHECKING:
    from ..index.symbols import SymbolHit
    from ..tools.metadata import ProjectMetadata

ORIGIN_TO_PB = {
    ToolOrigin.BUILTIN: pb.TOOL_ORIGIN_BUILTIN,
    ToolOrigin.PLUGIN: pb.TOOL_ORIGIN_PLUGIN,
    ToolOrigin.SCRIPT: pb.TOOL_ORIGIN_SCRIPT,
}


def tool(entry: ToolEntry) -> pb.Tool:
    return pb.Tool(
        name=entry.name,
        description=entry.description,
        arguments_schema=struct(entry.arguments_schema),
        side_effects=entry.side_effects,
        origin=ORIGIN_TO_PB[entry.origin],
        provider=entry.provider,
    )


def invoke_response(result: ToolResult) -> pb.InvokeToolResponse:
    value = struct_pb2.Value()
    json_format.ParseDict(result.value, value)
    return pb.InvokeToolResponse(
        result=value, is_error=result.is_error, error=result.error, duration_ms=result.duration_ms
    )


def _line(line: FileLine) -> pb.FileLine:
    return pb.FileLine(number=line.number, text=line.text)


def grep_response(result: GrepResult) -> pb.GrepResponse:
    return pb.GrepResponse(
        matches=[
            pb.GrepMatch(
                connector_id=m.connector_id,
                path=m.path,
                line=_line(m.line),
                before=map(_line, m.before),
                after=map(_line, m.after),
                commit=m.commit,
            )
            for m in result.matches
        ],
        truncated=result.truncated,
        truncated_reason=result.truncated_reason,
        files_searched=result.files_searched,
    )


def open_file_response(opened: OpenedFile) -> pb.OpenFileResponse:
    return pb.OpenFileResponse(
        connector_id=opened.connector_id,
        path=opened.path,
        commit=opened.commit,
        start_line=opened.start_line,
        end_line=opened.end_line,
        total_lines=opened.total_lines,
        content=opened.content,
        truncated=opened.truncated,
        language=opened.language,
    )


def symbol(hit: SymbolHit) -> pb.SymbolMatch:
    return pb.SymbolMatch(
        name=hit.name,
        kind=hit.kind,
        connector_id=hit.connector_id,
        path=hit.path,
        start_line=hit.start_line,
        end_line=hit.end_line,
        language=hit.language,
        score=hit.score,
    )


def metadata_response(meta: ProjectMetadata) -> pb.GetProjectMetadataResponse:
    raise NotImplementedError  # filled in once metadata.py lands
