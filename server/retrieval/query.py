"""A search request, checked. The evidence a question carries on its face is read by
``evidence.py`` (re-exported here: ``Evidence``, ``Mention``, ``evidence_of``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from .. import path_patterns
from ..config import MAX_QUESTION_CHARS
from ..errors import InvalidArgument
from ..validation import require_globs
from .evidence import Evidence, Mention, evidence_of

__all__ = ["Evidence", "Mention", "evidence_of"]  # and the names defined below

MAX_QUERY_CHARS = MAX_QUESTION_CHARS  # a pasted bug report is a question too
MAX_TOP_K = 100
DEFAULT_TOP_K = 10
DEFAULT_PER_DOCUMENT = 3
KINDS = ("file", "issue", "pull_request", "ticket", "page", "commit")


class SearchMode(StrEnum):
    DENSE = "dense"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrictions; empty tuples do not restrict (values OR, fields AND)."""

    kinds: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()  # ids (the service resolves names)
    path_globs: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.kinds or self.connectors or self.path_globs or self.languages)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    mode: SearchMode = SearchMode.HYBRID
    top_k: int = DEFAULT_TOP_K
    filter: SearchFilter = field(default_factory=SearchFilter)
    max_per_document: int = DEFAULT_PER_DOCUMENT

    @classmethod
    def checked(
        cls,
        text: str,
        mode: SearchMode = SearchMode.HYBRID,
        top_k: int = 0,
        search_filter: SearchFilter | None = None,
        max_per_document: int = 0,
    ) -> SearchQuery:
        """Validate raw request values (0 means the default); InvalidArgument names the field."""
        if not text.strip():
            raise InvalidArgument("query", "must not be empty or only whitespace")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidArgument("query", f"must be at most {MAX_QUERY_CHARS} characters")
        search_filter = search_filter or SearchFilter()
        unknown = sorted(set(search_filter.kinds) - set(KINDS))
        if unknown:
            raise InvalidArgument(
                "filter.kinds", f"unknown kind {unknown[0]!r}; expected one of {', '.join(KINDS)}"
            )
        path_spec(search_filter.path_globs)  # refuses malformed globs, naming the field
        return cls(
            text.strip(),
            mode,
            _bounded("top_k", top_k, DEFAULT_TOP_K),
            search_filter,
            _bounded("max_per_document", max_per_document, DEFAULT_PER_DOCUMENT),
        )


class PathFilter:
    """Search's path globs: a file is taken when git would ignore it under the globs
    without "!" (every file when there are none) and not under the "!" globs with their
    "!" dropped. So ``tests/`` takes and ``!tests/`` leaves out every file of a ``tests``
    folder at any depth, as in a ``.gitignore``; a file is never re-included by a later
    glob (``!tests/`` then ``tests/a.py`` leaves out ``tests/a.py``)."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        taken = [g for g in globs if not g.startswith("!")]
        left_out = [g[1:] for g in globs if g.startswith("!")]
        self._taken = path_patterns.path_spec(taken) if taken else None
        self._left_out = path_patterns.path_spec(left_out) if left_out else None

    def match_file(self, path: str) -> bool:
        if self._left_out is not None and self._left_out.match_file(path):
            return False
        return self._taken is None or self._taken.match_file(path)


def path_spec(globs: tuple[str, ...]) -> PathFilter:
    """Search's path globs as a filter, matched as the file connectors match theirs
    (a newline in a name included); InvalidArgument names ``filter.path_globs``."""
    require_globs("filter.path_globs", globs)
    try:
        path_patterns.path_spec(list(globs))  # refuses what git would skip: "!", "[z-a]"
        return PathFilter(globs)
    except (ValueError, TypeError, re.error) as exc:  # GitIgnorePatternError is a ValueError
        raise InvalidArgument("filter.path_globs", str(exc)) from None


def _bounded(name: str, value: int, default: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= MAX_TOP_K:
        raise InvalidArgument(name, f"must be between 1 and {MAX_TOP_K} (0 means {default})")
    return value
