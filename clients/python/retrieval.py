"""Typed calls of the RetrievalService, shared by :class:`~projectqa.client.Client` and
:class:`~projectqa.client.AsyncClient` (where ``search`` is awaited).

``search`` returns the whole :class:`SearchResponse` (hits with citations,
the mode used, timings and the index generation that answered), since a
caller ranking or evaluating wants more than the hits. ``search_files`` asks
the same question for files ("which file / where"): the response's ``files``,
each with its best passages' line ranges as citations (docs/FILE_SEARCH.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from projectqa.client.calls import StubCalls
from projectqa.v1 import retrieval_pb2, retrieval_pb2_grpc

SearchModeName = Literal["hybrid", "dense", "keyword"]

SEARCH_MODES: dict[str, retrieval_pb2.SearchMode.ValueType] = {
    "hybrid": retrieval_pb2.SEARCH_MODE_HYBRID,
    "dense": retrieval_pb2.SEARCH_MODE_DENSE,
    "keyword": retrieval_pb2.SEARCH_MODE_KEYWORD,
}


def search_mode(mode: SearchModeName | str | int) -> retrieval_pb2.SearchMode.ValueType:
    """The enum number of a mode name ("hybrid", "dense", "keyword"); numbers pass through."""
    if isinstance(mode, int):
        return retrieval_pb2.SearchMode.ValueType(mode)
    try:
        return SEARCH_MODES[mode]
    except KeyError:
        raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}") from None


def search_filter(
    *,
    kinds: Iterable[str] = (),
    connectors: Iterable[str] = (),
    path_globs: Iterable[str] = (),
    languages: Iterable[str] = (),
) -> retrieval_pb2.SearchFilter:
    """A filter: values within one field are alternatives, fields combine with AND."""
    return retrieval_pb2.SearchFilter(
        kinds=list(kinds),
        connectors=list(connectors),
        path_globs=list(path_globs),
        languages=list(languages),
    )


class RetrievalCalls(StubCalls):
    """RetrievalService calls; mixed into a client with ``retrieval`` and the call primitives."""

    retrieval: retrieval_pb2_grpc.RetrievalServiceStub

    def search(
        self,
        project: str,
        query: str,
        *,
        mode: SearchModeName | int = "hybrid",
        top_k: int = 0,
        kinds: Iterable[str] = (),
        connectors: Iterable[str] = (),
        path_globs: Iterable[str] = (),
        languages: Iterable[str] = (),
        max_per_document: int = 0,
    ) -> retrieval_pb2.SearchResponse:
        """The passages of ``project`` (id or slug) that answer ``query``, best first.

        :param mode: "hybrid" (dense and keyword fused), "dense" or "keyword".
        :param top_k: number of hits, 1-100; 0 means the server's default (10).
        :param kinds: source kinds to keep ("file", "issue", "pull_request", …).
        :param connectors: connectors (id or name) to keep.
        :param path_globs: gitignore-style globs the path must match.
        :param languages: languages to keep ("python", "markdown", …).
        :param max_per_document: most hits from one document; 0 means 3.
        """
        request = search_request(
            project,
            query,
            mode=mode,
            top_k=top_k,
            search_filter=search_filter(
                kinds=kinds, connectors=connectors, path_globs=path_globs, languages=languages
            ),
            max_per_document=max_per_document,
        )
        return self._call(self.retrieval.Search, request)

    def search_files(
        self,
        project: str,
        query: str,
        *,
        mode: SearchModeName | int = "hybrid",
        top_k: int = 0,
        kinds: Iterable[str] = (),
        connectors: Iterable[str] = (),
        path_globs: Iterable[str] = (),
        languages: Iterable[str] = (),
        citations_per_file: int = 0,
    ) -> retrieval_pb2.SearchResponse:
        """The files of ``project`` that answer ``query``, best first, in ``files``.

        :param top_k: number of files, 1-100; 0 means 10.
        :param citations_per_file: the best passages cited per file, 1-10; 0 means 3.

        The other parameters are :meth:`search`'s; only sources of kind "file" count
        (``kinds``, when given, must include "file").
        """
        request = search_request(
            project,
            query,
            mode=mode,
            top_k=top_k,
            search_filter=search_filter(
                kinds=kinds, connectors=connectors, path_globs=path_globs, languages=languages
            ),
            max_per_document=citations_per_file,
            group_by=retrieval_pb2.SEARCH_GROUP_BY_FILE,
        )
        return self._call(self.retrieval.Search, request)


def search_request(
    project: str,
    query: str,
    *,
    mode: SearchModeName | int,
    top_k: int,
    search_filter: retrieval_pb2.SearchFilter,
    max_per_document: int,
    group_by: retrieval_pb2.SearchGroupBy.ValueType = retrieval_pb2.SEARCH_GROUP_BY_UNSPECIFIED,
) -> retrieval_pb2.SearchRequest:
    return retrieval_pb2.SearchRequest(
        project=project,
        query=query,
        mode=search_mode(mode),
        top_k=top_k,
        filter=search_filter,
        max_per_document=max_per_document,
        group_by=group_by,
    )


__all__ = [
    "SEARCH_MODES",
    "RetrievalCalls",
    "SearchModeName",
    "search_filter",
    "search_mode",
    "search_request",
]
