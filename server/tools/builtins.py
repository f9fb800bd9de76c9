"""The built-in tools as catalog entries: name, description, JSON Schema of arguments.

Each built-in has a typed RPC too; these schemas are what the chat agent and
``InvokeTool`` see. Defaults and bounds mirror the typed requests in tools.proto.
"""

from __future__ import annotations

from typing import Any

from ..retrieval.query import KINDS, MAX_QUERY_CHARS, MAX_TOP_K


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# The limit of every question (Search, Ask, chat): a tool call may pass a pasted report on.
_QUERY = {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": r"\S"}
_TOP_K = {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 10}
_GLOBS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "description": 'gitignore-style path globs, e.g. "src/**/*.py"; "!" excludes',
}
_CONNECTOR = {"type": "string", "description": "connector id or name; empty for all"}
_FILTERS = {
    "kinds": {"type": "array", "items": {"enum": list(KINDS)}},
    "path_globs": _GLOBS,
    "languages": {"type": "array", "items": {"type": "string"}},
}

SEARCH = "search"
KEYWORD_SEARCH = "keyword_search"
GREP = "grep"
OPEN_FILE = "open_file"
FIND_SYMBOL = "find_symbol"
PROJECT_METADATA = "project_metadata"

BUILTINS: dict[str, tuple[str, dict[str, Any]]] = {
    SEARCH: (
        "Find the passages of the project (code, docs, issues, tickets, pages) that answer a "
        "question, best first, each cited as path:start-end or a record key.",
        _object(
            {
                "query": _QUERY,
                "mode": {"enum": ["hybrid", "dense", "keyword"], "default": "hybrid"},
                "top_k": _TOP_K,
                **_FILTERS,
            },
            ("query",),
        ),
    ),
    KEYWORD_SEARCH: (
        "Keyword (BM25) search over the project's passages; best for exact names and phrases.",
        _object({"query": _QUERY, "top_k": _TOP_K, **_FILTERS}, ("query",)),
    ),
    GREP: (
        "Search the project's files with a regular expression (ripgrep syntax) or a literal; "
        "returns matching lines with path and line number.",
        _object(
            {
                "pattern": {"type": "string", "minLength": 1, "maxLength": 1000},
                "fixed_strings": {"type": "boolean", "default": False},
                "ignore_case": {"type": "boolean", "default": False},
                "path_globs": _GLOBS,
                "context_lines": {"type": "integer", "minimum": 0, "maximum": 10, "default": 0},
                "max_matches": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "connector": _CONNECTOR,
            },
            ("pattern",),
        ),
    ),
    OPEN_FILE: (
        "Read lines of a file of the project (path relative to the repository root), at the "
        "commit that was indexed.",
        _object(
            {
                "path": {"type": "string", "minLength": 1, "maxLength": 4096},
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1},
                "connector": _CONNECTOR,
            },
            ("path",),
        ),
    ),
    FIND_SYMBOL: (
        "Find where functions, classes and methods are defined, by exact or approximate name "
        '(e.g. "Session.request", "get_user").',
        _object(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "exact": {"type": "boolean", "default": False},
                "kinds": {"type": "array", "items": {"type": "string"}},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
            },
            ("name",),
        ),
    ),
    PROJECT_METADATA: (
        "Describe the project: languages and line counts, files, connectors and their last "
        "successful runs, indexed commits, top-level layout.",
        _object({}),
    ),
}
