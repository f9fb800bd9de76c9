"""Retrieval records <-> protobuf messages (shared by RetrievalService and ToolsService)."""

from __future__ import annotations

import dataclasses

from projectqa.v1 import common_pb2, retrieval_pb2

from ..errors import InvalidArgument
from ..retrieval.citations import Citation
from ..retrieval.files import FileResult, RankedFile
from ..retrieval.ops import CitedHit, CitedResult
from ..retrieval.query import SearchFilter, SearchMode
from ..retrieval.status import IndexStatus

SNIPPET_LINES = 40
SNIPPET_CHARS = 4000

MODE_FROM_PB = {
    retrieval_pb2.SEARCH_MODE_UNSPECIFIED: SearchMode.HYBRID,
    retrieval_pb2.SEARCH_MODE_DENSE: SearchMode.DENSE,
    retrieval_pb2.SEARCH_MODE_KEYWORD: SearchMode.KEYWORD,
    retrieval_pb2.SEARCH_MODE_HYBRID: SearchMode.HYBRID,
}
MODE_TO_PB = {mode: value for value, mode in MODE_FROM_PB.items() if value}


def mode_from_pb(value: retrieval_pb2.SearchMode.ValueType) -> SearchMode:
    mode = MODE_FROM_PB.get(value)
    if mode is None:
        raise InvalidArgument("mode", f"unknown search mode {value}")
    return mode


def by_file(value: retrieval_pb2.SearchGroupBy.ValueType) -> bool:
    """Whether a request groups by file (passages otherwise)."""
    if value not in retrieval_pb2.SearchGroupBy.values():
        raise InvalidArgument("group_by", f"unknown grouping {value}")
    return value == retrieval_pb2.SEARCH_GROUP_BY_FILE


def filter_from_pb(message: retrieval_pb2.SearchFilter) -> SearchFilter:
    return SearchFilter(
        kinds=tuple(message.kinds),
        connectors=tuple(message.connectors),
        path_globs=tuple(message.path_globs),
        languages=tuple(message.languages),
    )


def citation(value: Citation) -> common_pb2.Citation:
    return common_pb2.Citation(
        connector_id=value.connector_id,
        document_key=value.document_key,
        kind=value.kind,
        path=value.path,
        start_line=value.start_line,
        end_line=value.end_line,
        url=value.url,
        title=value.title,
        version=value.version,
        label=value.label,
    )


def snippet(text: str) -> tuple[str, bool]:
    """At most SNIPPET_LINES lines and SNIPPET_CHARS characters of ``text``."""
    lines = text.split("\n")
    cut = "\n".join(lines[:SNIPPET_LINES])[:SNIPPET_CHARS]
    return cut, cut != text


def hit(value: CitedHit) -> retrieval_pb2.SearchHit:
    chunk = value.hit.chunk
    text, truncated = snippet(chunk.text)
    return retrieval_pb2.SearchHit(
        chunk_id=chunk.id,
        citation=citation(value.citation),
        symbol=chunk.symbol,
        symbol_kind=chunk.symbol_kind,
        language=chunk.language,
        score=value.hit.score,
        snippet=text,
        snippet_truncated=truncated,
        dense_rank=value.hit.dense_rank,
        keyword_rank=value.hit.keyword_rank,
    )


def index_status(value: IndexStatus | None) -> retrieval_pb2.IndexStatus | None:
    if value is None:
        return None
    return retrieval_pb2.IndexStatus(**dataclasses.asdict(value))  # the same field names


def search_response(value: CitedResult) -> retrieval_pb2.SearchResponse:
    response = _answered_by(value)
    response.hits.extend(hit(h) for h in value.hits)
    return response


def file_hit(value: RankedFile) -> retrieval_pb2.FileHit:
    return retrieval_pb2.FileHit(
        path=value.path,
        connector_id=value.connector_id,
        score=value.score,
        citations=[citation(h.citation) for h in value.hits],
        language=value.language,
        passages=value.passages,
    )


def file_search_response(value: FileResult) -> retrieval_pb2.SearchResponse:
    response = _answered_by(value.searched)
    response.files.extend(file_hit(f) for f in value.files)
    return response


def _answered_by(value: CitedResult) -> retrieval_pb2.SearchResponse:
    """A response without results: the mode used, timings, generation and status."""
    timings = value.result.timings
    return retrieval_pb2.SearchResponse(
        mode=MODE_TO_PB[value.result.mode],
        timings=retrieval_pb2.SearchTimings(
            embed_ms=timings.get("embed", 0.0),
            dense_ms=timings.get("dense", 0.0),
            keyword_ms=timings.get("keyword", 0.0),
            fusion_ms=timings.get("fusion", 0.0),
            fetch_ms=timings.get("fetch", 0.0),
        ),
        index_generation=value.result.generation,
        index_status=index_status(value.status),
    )
