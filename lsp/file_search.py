"""``projectqa.searchFiles``: which files answer a question, best first.

RetrievalService.Search grouped by file (docs/FILE_SEARCH.md). Each file comes with
its best passages' line ranges as LSP Locations (when the file is in the editor's
workspace), for a quick-pick or a quickfix list. Arguments are checked first
(InvalidParams naming the field); a value the server refuses fails the request with
the server's message, which names the field too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projectqa.lsp.ask import index_status_json, location, one_object, string_field
from projectqa.lsp.connection import Ready
from projectqa.lsp.errors import invalid
from projectqa.lsp.workspace import ProjectView
from projectqa.v1 import retrieval_pb2

MAX_QUESTION_CHARS = 16_000  # the server says what it accepts; this bounds what is sent


@dataclass(frozen=True, slots=True)
class FileSearchArguments:
    question: str
    top_k: int
    paths: tuple[str, ...]
    citations_per_file: int


def _count(values: Mapping[str, Any], key: str) -> int:
    value = values.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"arguments[0].{key}", "must be an integer (0 means the default)")
    return value


def _globs(values: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = values.get(key, [])
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise invalid(f"arguments[0].{key}", 'must be a list of glob strings, e.g. ["src/**"]')
    return tuple(value)


def parse_arguments(arguments: Sequence[Any] | None) -> FileSearchArguments:
    values = one_object(arguments)
    question = string_field(values, "question", required=True)
    if len(question) > MAX_QUESTION_CHARS:
        raise invalid("arguments[0].question", f"longer than {MAX_QUESTION_CHARS} characters")
    return FileSearchArguments(
        question,
        _count(values, "topK"),
        _globs(values, "paths"),
        _count(values, "citationsPerFile"),
    )


def file_json(project: ProjectView, found: retrieval_pb2.FileHit) -> dict[str, Any]:
    """One file as editors get it: its best lines as labels and Locations."""
    where = [location(project, citation) for citation in found.citations]
    return {
        "path": found.path,
        "connectorId": found.connector_id,
        "score": found.score,
        "language": found.language,
        "passages": found.passages,
        "label": found.citations[0].label if found.citations else found.path,
        "lines": [c.label for c in found.citations],
        "locations": [w for w in where if w is not None],
    }


async def search_files(ready: Ready, arguments: FileSearchArguments) -> dict[str, Any]:
    response = await ready.client.search_files(
        ready.project.id,
        arguments.question,
        top_k=arguments.top_k,
        path_globs=arguments.paths,
        citations_per_file=arguments.citations_per_file,
    )
    return {
        "files": [file_json(ready.project, found) for found in response.files],
        "indexStatus": index_status_json(response.index_status),
    }
