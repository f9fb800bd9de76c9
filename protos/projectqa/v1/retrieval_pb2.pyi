from projectqa.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_DENSE: _ClassVar[SearchMode]
    SEARCH_MODE_KEYWORD: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_DENSE: SearchMode
SEARCH_MODE_KEYWORD: SearchMode
SEARCH_MODE_HYBRID: SearchMode

class SearchFilter(_message.Message):
    __slots__ = ("kinds", "connectors", "path_globs", "languages")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    CONNECTORS_FIELD_NUMBER: _ClassVar[int]
    PATH_GLOBS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    connectors: _containers.RepeatedScalarFieldContainer[str]
    path_globs: _containers.RepeatedScalarFieldContainer[str]
    languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kinds: _Optional[_Iterable[str]] = ..., connectors: _Optional[_Iterable[str]] = ..., path_globs: _Optional[_Iterable[str]] = ..., languages: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("project", "query", "mode", "top_k", "filter", "max_per_document")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_PER_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    project: str
    query: str
    mode: SearchMode
    top_k: int
    filter: SearchFilter
    max_per_document: int
    def __init__(self, project: _Optional[str] = ..., query: _Optional[str] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., max_per_document: _Optional[int] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("chunk_id", "citation", "symbol", "symbol_kind", "language", "score", "snippet", "snippet_truncated", "dense_rank", "keyword_rank")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    CITATION_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_KIND_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DENSE_RANK_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_RANK_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    citation: _common_pb2.Citation
    symbol: str
    symbol_kind: str
    language: str
    score: float
    snippet: str
    snippet_truncated: bool
    dense_rank: int
    keyword_rank: int
    def __init__(self, chunk_id: _Optional[str] = ..., citation: _Optional[_Union[_common_pb2.Citation, _Mapping]] = ..., symbol: _Optional[str] = ..., symbol_kind: _Optional[str] = ..., language: _Optional[str] = ..., score: _Optional[float] = ..., snippet: _Optional[str] = ..., snippet_truncated: _Optional[bool] = ..., dense_rank: _Optional[int] = ..., keyword_rank: _Optional[int] = ...) -> None: ...

class SearchTimings(_message.Message):
    __slots__ = ("embed_ms", "dense_ms", "keyword_ms", "fusion_ms", "fetch_ms")
    EMBED_MS_FIELD_NUMBER: _ClassVar[int]
    DENSE_MS_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_MS_FIELD_NUMBER: _ClassVar[int]
    FUSION_MS_FIELD_NUMBER: _ClassVar[int]
    FETCH_MS_FIELD_NUMBER: _ClassVar[int]
    embed_ms: float
    dense_ms: float
    keyword_ms: float
    fusion_ms: float
    fetch_ms: float
    def __init__(self, embed_ms: _Optional[float] = ..., dense_ms: _Optional[float] = ..., keyword_ms: _Optional[float] = ..., fusion_ms: _Optional[float] = ..., fetch_ms: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "mode", "timings", "index_generation")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    INDEX_GENERATION_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    mode: SearchMode
    timings: SearchTimings
    index_generation: int
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., timings: _Optional[_Union[SearchTimings, _Mapping]] = ..., index_generation: _Optional[int] = ...) -> None: ...
