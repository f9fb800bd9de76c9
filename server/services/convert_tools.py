"""Tool records <-> protobuf messages."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2

from projectqa.v1 import tools_pb2 as pb

from ..index.symbols import SymbolHit
from ..tools.base import ToolResult
from ..tools.grep import FileLine, GrepResult
from ..tools.metadata import ProjectMetadata
from ..tools.openfile import OpenedFile
from ..tools.ops import ToolEntry, ToolOrigin
from .convert import struct, timestamp
from .convert_retrieval import index_status

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
    return pb.GetProjectMetadataResponse(
        project_id=meta.project_id,
        slug=meta.slug,
        name=meta.name,
        languages=[
            pb.LanguageStats(language=s.language, files=s.files, lines=s.lines)
            for s in meta.languages
        ],
        documents_by_kind=meta.documents_by_kind,
        chunks=meta.chunks,
        symbols=meta.symbols,
        connectors=[
            pb.ConnectorSummary(
                connector_id=c.connector_id,
                name=c.name,
                type=c.type,
                last_run_id=c.last_run_id,
                last_run_time=timestamp(c.last_run_time),
                indexed_commit=c.indexed_commit,
                documents=c.documents,
                chunks=c.chunks,
            )
            for c in meta.connectors
        ],
        layout=[
            pb.LayoutEntry(connector_id=e.connector_id, name=e.name, is_dir=e.is_dir, files=e.files)
            for e in meta.layout
        ],
        index_generation=meta.index_generation,
        index_status=index_status(meta.index_status),
    )
