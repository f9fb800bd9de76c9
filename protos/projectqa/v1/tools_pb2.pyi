import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from projectqa.v1 import retrieval_pb2 as _retrieval_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ToolOrigin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_ORIGIN_UNSPECIFIED: _ClassVar[ToolOrigin]
    TOOL_ORIGIN_BUILTIN: _ClassVar[ToolOrigin]
    TOOL_ORIGIN_PLUGIN: _ClassVar[ToolOrigin]
    TOOL_ORIGIN_SCRIPT: _ClassVar[ToolOrigin]
TOOL_ORIGIN_UNSPECIFIED: ToolOrigin
TOOL_ORIGIN_BUILTIN: ToolOrigin
TOOL_ORIGIN_PLUGIN: ToolOrigin
TOOL_ORIGIN_SCRIPT: ToolOrigin

class Tool(_message.Message):
    __slots__ = ("name", "description", "arguments_schema", "side_effects", "origin", "provider")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    arguments_schema: _struct_pb2.Struct
    side_effects: bool
    origin: ToolOrigin
    provider: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., arguments_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., side_effects: _Optional[bool] = ..., origin: _Optional[_Union[ToolOrigin, str]] = ..., provider: _Optional[str] = ...) -> None: ...

class ListToolsRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class ListToolsResponse(_message.Message):
    __slots__ = ("tools",)
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    def __init__(self, tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ...) -> None: ...

class InvokeToolRequest(_message.Message):
    __slots__ = ("project", "tool", "arguments")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    project: str
    tool: str
    arguments: _struct_pb2.Struct
    def __init__(self, project: _Optional[str] = ..., tool: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class InvokeToolResponse(_message.Message):
    __slots__ = ("result", "is_error", "error", "duration_ms")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Value
    is_error: bool
    error: str
    duration_ms: float
    def __init__(self, result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., is_error: _Optional[bool] = ..., error: _Optional[str] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class GrepRequest(_message.Message):
    __slots__ = ("project", "pattern", "fixed_strings", "ignore_case", "path_globs", "context_lines", "max_matches", "connector")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    FIXED_STRINGS_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CASE_FIELD_NUMBER: _ClassVar[int]
    PATH_GLOBS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LINES_FIELD_NUMBER: _ClassVar[int]
    MAX_MATCHES_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    project: str
    pattern: str
    fixed_strings: bool
    ignore_case: bool
    path_globs: _containers.RepeatedScalarFieldContainer[str]
    context_lines: int
    max_matches: int
    connector: str
    def __init__(self, project: _Optional[str] = ..., pattern: _Optional[str] = ..., fixed_strings: _Optional[bool] = ..., ignore_case: _Optional[bool] = ..., path_globs: _Optional[_Iterable[str]] = ..., context_lines: _Optional[int] = ..., max_matches: _Optional[int] = ..., connector: _Optional[str] = ...) -> None: ...

class FileLine(_message.Message):
    __slots__ = ("number", "text")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    number: int
    text: str
    def __init__(self, number: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class GrepMatch(_message.Message):
    __slots__ = ("connector_id", "path", "line", "before", "after", "commit")
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    connector_id: str
    path: str
    line: FileLine
    before: _containers.RepeatedCompositeFieldContainer[FileLine]
    after: _containers.RepeatedCompositeFieldContainer[FileLine]
    commit: str
    def __init__(self, connector_id: _Optional[str] = ..., path: _Optional[str] = ..., line: _Optional[_Union[FileLine, _Mapping]] = ..., before: _Optional[_Iterable[_Union[FileLine, _Mapping]]] = ..., after: _Optional[_Iterable[_Union[FileLine, _Mapping]]] = ..., commit: _Optional[str] = ...) -> None: ...

class GrepResponse(_message.Message):
    __slots__ = ("matches", "truncated", "truncated_reason", "files_searched")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_REASON_FIELD_NUMBER: _ClassVar[int]
    FILES_SEARCHED_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[GrepMatch]
    truncated: bool
    truncated_reason: str
    files_searched: int
    def __init__(self, matches: _Optional[_Iterable[_Union[GrepMatch, _Mapping]]] = ..., truncated: _Optional[bool] = ..., truncated_reason: _Optional[str] = ..., files_searched: _Optional[int] = ...) -> None: ...

class OpenFileRequest(_message.Message):
    __slots__ = ("project", "path", "start_line", "end_line", "connector")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    START_LINE_FIELD_NUMBER: _ClassVar[int]
    END_LINE_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    project: str
    path: str
    start_line: int
    end_line: int
    connector: str
    def __init__(self, project: _Optional[str] = ..., path: _Optional[str] = ..., start_line: _Optional[int] = ..., end_line: _Optional[int] = ..., connector: _Optional[str] = ...) -> None: ...

class OpenFileResponse(_message.Message):
    __slots__ = ("connector_id", "path", "commit", "start_line", "end_line", "total_lines", "content", "truncated", "language")
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    START_LINE_FIELD_NUMBER: _ClassVar[int]
    END_LINE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LINES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    connector_id: str
    path: str
    commit: str
    start_line: int
    end_line: int
    total_lines: int
    content: str
    truncated: bool
    language: str
    def __init__(self, connector_id: _Optional[str] = ..., path: _Optional[str] = ..., commit: _Optional[str] = ..., start_line: _Optional[int] = ..., end_line: _Optional[int] = ..., total_lines: _Optional[int] = ..., content: _Optional[str] = ..., truncated: _Optional[bool] = ..., language: _Optional[str] = ...) -> None: ...

class KeywordSearchRequest(_message.Message):
    __slots__ = ("project", "query", "top_k", "filter")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    project: str
    query: str
    top_k: int
    filter: _retrieval_pb2.SearchFilter
    def __init__(self, project: _Optional[str] = ..., query: _Optional[str] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[_retrieval_pb2.SearchFilter, _Mapping]] = ...) -> None: ...

class KeywordSearchResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_retrieval_pb2.SearchHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[_retrieval_pb2.SearchHit, _Mapping]]] = ...) -> None: ...

class FindSymbolRequest(_message.Message):
    __slots__ = ("project", "name", "exact", "kinds", "limit")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    exact: bool
    kinds: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., exact: _Optional[bool] = ..., kinds: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class SymbolMatch(_message.Message):
    __slots__ = ("name", "kind", "connector_id", "path", "start_line", "end_line", "language", "score")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    START_LINE_FIELD_NUMBER: _ClassVar[int]
    END_LINE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    connector_id: str
    path: str
    start_line: int
    end_line: int
    language: str
    score: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., connector_id: _Optional[str] = ..., path: _Optional[str] = ..., start_line: _Optional[int] = ..., end_line: _Optional[int] = ..., language: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class FindSymbolResponse(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedCompositeFieldContainer[SymbolMatch]
    def __init__(self, symbols: _Optional[_Iterable[_Union[SymbolMatch, _Mapping]]] = ...) -> None: ...

class GetProjectMetadataRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class LanguageStats(_message.Message):
    __slots__ = ("language", "files", "lines")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    language: str
    files: int
    lines: int
    def __init__(self, language: _Optional[str] = ..., files: _Optional[int] = ..., lines: _Optional[int] = ...) -> None: ...

class ConnectorSummary(_message.Message):
    __slots__ = ("connector_id", "name", "type", "last_run_id", "last_run_time", "indexed_commit", "documents", "chunks")
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    INDEXED_COMMIT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    connector_id: str
    name: str
    type: str
    last_run_id: str
    last_run_time: _timestamp_pb2.Timestamp
    indexed_commit: str
    documents: int
    chunks: int
    def __init__(self, connector_id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., last_run_id: _Optional[str] = ..., last_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., indexed_commit: _Optional[str] = ..., documents: _Optional[int] = ..., chunks: _Optional[int] = ...) -> None: ...

class LayoutEntry(_message.Message):
    __slots__ = ("connector_id", "name", "is_dir", "files")
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    connector_id: str
    name: str
    is_dir: bool
    files: int
    def __init__(self, connector_id: _Optional[str] = ..., name: _Optional[str] = ..., is_dir: _Optional[bool] = ..., files: _Optional[int] = ...) -> None: ...

class GetProjectMetadataResponse(_message.Message):
    __slots__ = ("project_id", "slug", "name", "languages", "documents_by_kind", "chunks", "symbols", "connectors", "layout", "index_generation")
    class DocumentsByKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_BY_KIND_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    CONNECTORS_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    INDEX_GENERATION_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    slug: str
    name: str
    languages: _containers.RepeatedCompositeFieldContainer[LanguageStats]
    documents_by_kind: _containers.ScalarMap[str, int]
    chunks: int
    symbols: int
    connectors: _containers.RepeatedCompositeFieldContainer[ConnectorSummary]
    layout: _containers.RepeatedCompositeFieldContainer[LayoutEntry]
    index_generation: int
    def __init__(self, project_id: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., languages: _Optional[_Iterable[_Union[LanguageStats, _Mapping]]] = ..., documents_by_kind: _Optional[_Mapping[str, int]] = ..., chunks: _Optional[int] = ..., symbols: _Optional[int] = ..., connectors: _Optional[_Iterable[_Union[ConnectorSummary, _Mapping]]] = ..., layout: _Optional[_Iterable[_Union[LayoutEntry, _Mapping]]] = ..., index_generation: _Optional[int] = ...) -> None: ...
