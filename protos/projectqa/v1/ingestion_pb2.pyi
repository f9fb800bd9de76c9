import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGESTION_MODE_UNSPECIFIED: _ClassVar[IngestionMode]
    INGESTION_MODE_FULL: _ClassVar[IngestionMode]
    INGESTION_MODE_INCREMENTAL: _ClassVar[IngestionMode]

class IngestionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGESTION_STATUS_UNSPECIFIED: _ClassVar[IngestionStatus]
    INGESTION_STATUS_QUEUED: _ClassVar[IngestionStatus]
    INGESTION_STATUS_RUNNING: _ClassVar[IngestionStatus]
    INGESTION_STATUS_SUCCEEDED: _ClassVar[IngestionStatus]
    INGESTION_STATUS_FAILED: _ClassVar[IngestionStatus]
    INGESTION_STATUS_CANCELLED: _ClassVar[IngestionStatus]
INGESTION_MODE_UNSPECIFIED: IngestionMode
INGESTION_MODE_FULL: IngestionMode
INGESTION_MODE_INCREMENTAL: IngestionMode
INGESTION_STATUS_UNSPECIFIED: IngestionStatus
INGESTION_STATUS_QUEUED: IngestionStatus
INGESTION_STATUS_RUNNING: IngestionStatus
INGESTION_STATUS_SUCCEEDED: IngestionStatus
INGESTION_STATUS_FAILED: IngestionStatus
INGESTION_STATUS_CANCELLED: IngestionStatus

class IngestionWarning(_message.Message):
    __slots__ = ("document_key", "message")
    DOCUMENT_KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    document_key: str
    message: str
    def __init__(self, document_key: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestionCounts(_message.Message):
    __slots__ = ("documents_seen", "documents_changed", "documents_unchanged", "documents_deleted", "documents_failed", "chunks_written", "chunks_embedded", "chunks_cached")
    DOCUMENTS_SEEN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_CACHED_FIELD_NUMBER: _ClassVar[int]
    documents_seen: int
    documents_changed: int
    documents_unchanged: int
    documents_deleted: int
    documents_failed: int
    chunks_written: int
    chunks_embedded: int
    chunks_cached: int
    def __init__(self, documents_seen: _Optional[int] = ..., documents_changed: _Optional[int] = ..., documents_unchanged: _Optional[int] = ..., documents_deleted: _Optional[int] = ..., documents_failed: _Optional[int] = ..., chunks_written: _Optional[int] = ..., chunks_embedded: _Optional[int] = ..., chunks_cached: _Optional[int] = ...) -> None: ...

class IngestionRun(_message.Message):
    __slots__ = ("id", "project_id", "connector_id", "mode", "status", "trigger", "phase", "counts", "revision", "warnings", "warning_count", "error", "create_time", "start_time", "finish_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    connector_id: str
    mode: IngestionMode
    status: IngestionStatus
    trigger: str
    phase: str
    counts: IngestionCounts
    revision: str
    warnings: _containers.RepeatedCompositeFieldContainer[IngestionWarning]
    warning_count: int
    error: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., connector_id: _Optional[str] = ..., mode: _Optional[_Union[IngestionMode, str]] = ..., status: _Optional[_Union[IngestionStatus, str]] = ..., trigger: _Optional[str] = ..., phase: _Optional[str] = ..., counts: _Optional[_Union[IngestionCounts, _Mapping]] = ..., revision: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[IngestionWarning, _Mapping]]] = ..., warning_count: _Optional[int] = ..., error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StartIngestionRequest(_message.Message):
    __slots__ = ("project", "connector", "mode")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    project: str
    connector: str
    mode: IngestionMode
    def __init__(self, project: _Optional[str] = ..., connector: _Optional[str] = ..., mode: _Optional[_Union[IngestionMode, str]] = ...) -> None: ...

class StartIngestionResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[IngestionRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[IngestionRun, _Mapping]]] = ...) -> None: ...

class WatchIngestionRequest(_message.Message):
    __slots__ = ("run_id", "interval_seconds")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    interval_seconds: float
    def __init__(self, run_id: _Optional[str] = ..., interval_seconds: _Optional[float] = ...) -> None: ...

class IngestionEvent(_message.Message):
    __slots__ = ("run", "documents_done", "documents_total", "chunks_done", "documents_per_second", "chunks_per_second", "eta_seconds", "new_warnings")
    RUN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_DONE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_DONE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NEW_WARNINGS_FIELD_NUMBER: _ClassVar[int]
    run: IngestionRun
    documents_done: int
    documents_total: int
    chunks_done: int
    documents_per_second: float
    chunks_per_second: float
    eta_seconds: float
    new_warnings: _containers.RepeatedCompositeFieldContainer[IngestionWarning]
    def __init__(self, run: _Optional[_Union[IngestionRun, _Mapping]] = ..., documents_done: _Optional[int] = ..., documents_total: _Optional[int] = ..., chunks_done: _Optional[int] = ..., documents_per_second: _Optional[float] = ..., chunks_per_second: _Optional[float] = ..., eta_seconds: _Optional[float] = ..., new_warnings: _Optional[_Iterable[_Union[IngestionWarning, _Mapping]]] = ...) -> None: ...

class GetIngestionRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetIngestionRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: IngestionRun
    def __init__(self, run: _Optional[_Union[IngestionRun, _Mapping]] = ...) -> None: ...

class ListIngestionRunsRequest(_message.Message):
    __slots__ = ("project", "connector", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    connector: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., connector: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIngestionRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[IngestionRun]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[IngestionRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelIngestionRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class CancelIngestionResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: IngestionRun
    def __init__(self, run: _Optional[_Union[IngestionRun, _Mapping]] = ...) -> None: ...

class RebuildIndexesRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class RebuildIndexesResponse(_message.Message):
    __slots__ = ("generation", "chunks", "vectors", "dense_kind", "seconds")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DENSE_KIND_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    generation: int
    chunks: int
    vectors: int
    dense_kind: str
    seconds: float
    def __init__(self, generation: _Optional[int] = ..., chunks: _Optional[int] = ..., vectors: _Optional[int] = ..., dense_kind: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...
