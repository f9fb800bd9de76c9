"""Retrieval operations: the domain behind RetrievalService (and the search tools).

Searching needs project membership. Connector filters accept ids or names and
are resolved within the project, so a filter can never reach another project.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..access import Access
from ..auth import Principal
from ..errors import InvalidArgument, NotFound
from ..index.project import ProjectIndex
from ..models import Project, ProjectRole
from ..store import Store
from ..threads import BlockingRunner
from ..tools.checkouts import indexed_commit
from .citations import Citation, citation_of
from .query import SearchFilter, SearchMode, SearchQuery
from .search import Hit, Searcher, SearchResult
from .status import IndexStatus, StoredChunks, index_status

MAX_CONNECTOR_FILTERS = 50


@dataclass(frozen=True, slots=True)
class CitedHit:
    hit: Hit
    citation: Citation


@dataclass(frozen=True, slots=True)
class CitedResult:
    project: Project
    result: SearchResult
    hits: list[CitedHit]
    status: IndexStatus | None = None  # of the generation that answered (None: not known)


class RetrievalOps:
    def __init__(
        self, store: Store, access: Access, searcher: Searcher, run_blocking: BlockingRunner
    ) -> None:
        self._store = store
        self._access = access
        self._searcher = searcher
        self._rb = run_blocking
        self._stored = StoredChunks(store)

    def served_index(self, project_id: str) -> ProjectIndex | None:
        """The generation that answers searches now (None: never indexed).

        A generation published since the last search is loaded here, as that search would
        load it: a status polled during a run follows the run's generations."""
        indexes = self._searcher.indexes
        if indexes.manifest(project_id) is None:
            return None
        return indexes.serving(project_id)

    def index_status(self, project_id: str) -> IndexStatus:
        """Where the project's indexing stands (the generation served now)."""
        served = self.served_index(project_id)
        manifest, dense, keyword = None, "", ""
        if served is not None:
            manifest, keyword = served.manifest, served.keyword_unavailable
            dense = self._searcher.dense_unavailable(manifest.model)
        return index_status(self._store, self._stored, project_id, manifest, dense, keyword)

    def index(self, project_id: str) -> ProjectIndex:
        """The project's served index (FailedPrecondition when nothing is indexed)."""
        return self._searcher.index(project_id)

    async def search(
        self, principal: Principal, project_ref: str, query: SearchQuery
    ) -> CitedResult:
        return await self._rb(self.search_blocking, principal, project_ref, query)

    def search_blocking(
        self, principal: Principal, project_ref: str, query: SearchQuery
    ) -> CitedResult:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        return self.search_project(project, query)

    def search_project(self, project: Project, query: SearchQuery) -> CitedResult:
        """Search a project the caller was already checked for."""
        if query.filter.connectors:
            ids = self._connector_ids(project.id, query.filter.connectors)
            query = replace(query, filter=replace(query.filter, connectors=ids))
        result = self._searcher.search(project.id, query)
        versions = self.versions({hit.chunk.connector_id for hit in result.hits})
        hits = [
            CitedHit(hit, citation_of(hit.chunk, versions.get(hit.chunk.connector_id, "")))
            for hit in result.hits
        ]
        return CitedResult(project, result, hits, self._status_of(project.id, result))

    def _status_of(self, project_id: str, result: SearchResult) -> IndexStatus:
        """The status of the generation that answered (a newer one may be served by now)."""
        manifest = result.index.manifest if result.index is not None else None
        unavailable = result.dense_unavailable
        # A hybrid or dense search asked already; only a keyword search did not.
        if manifest is not None and not unavailable and result.mode is SearchMode.KEYWORD:
            unavailable = self._searcher.dense_unavailable(manifest.model)
        keyword = result.keyword_unavailable
        return index_status(self._store, self._stored, project_id, manifest, unavailable, keyword)

    def versions(self, connector_ids: set[str]) -> dict[str, str]:
        """The commit each connector's last successful run indexed ('' if none)."""
        return {c: indexed_commit(self._store.last_succeeded_run(c)) for c in connector_ids}

    def _connector_ids(self, project_id: str, refs: tuple[str, ...]) -> tuple[str, ...]:
        """Connector ids or names of the project as ids; NotFound names the first unknown."""
        if len(refs) > MAX_CONNECTOR_FILTERS:
            raise InvalidArgument(
                "filter.connectors", f"at most {MAX_CONNECTOR_FILTERS} connectors"
            )
        known = {
            key: c.id for c in self._store.all_connectors(project_id) for key in (c.id, c.name)
        }
        for ref in refs:
            if ref not in known:
                raise NotFound(f"connector {ref!r} not found")
        return tuple(dict.fromkeys(known[ref] for ref in refs))


__all__ = [
    "CitedHit",
    "CitedResult",
    "IndexStatus",
    "RetrievalOps",
    "SearchFilter",
    "SearchQuery",
]
