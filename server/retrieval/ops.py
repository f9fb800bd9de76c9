"""Retrieval operations: the domain behind RetrievalService (and the search tools).

Searching needs project membership. Connector filters accept ids or names and
are resolved within the project, so a filter can never reach another project.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..access import Access
from ..auth import Principal
from ..index.project import ProjectIndex
from ..models import Project, ProjectRole
from ..store import Store
from ..threads import BlockingRunner
from .citations import Citation, citation_of
from .query import SearchFilter, SearchQuery
from .search import Hit, Searcher, SearchResult


@dataclass(frozen=True, slots=True)
class CitedHit:
    hit: Hit
    citation: Citation


@dataclass(frozen=True, slots=True)
class CitedResult:
    project: Project
    result: SearchResult
    hits: list[CitedHit]


class RetrievalOps:
    def __init__(
        self, store: Store, access: Access, searcher: Searcher, run_blocking: BlockingRunner
    ) -> None:
        self._store = store
        self._access = access
        self._searcher = searcher
        self._rb = run_blocking

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
            ids = tuple(
                self._access.connector(project.id, ref, "filter.connectors").id
                for ref in query.filter.connectors
            )
            query = replace(query, filter=replace(query.filter, connectors=ids))
        result = self._searcher.search(project.id, query)
        versions = self.versions({hit.chunk.connector_id for hit in result.hits})
        hits = [
            CitedHit(hit, citation_of(hit.chunk, versions.get(hit.chunk.connector_id, "")))
            for hit in result.hits
        ]
        return CitedResult(project, result, hits)

    def versions(self, connector_ids: set[str]) -> dict[str, str]:
        """The commit each connector's last successful run indexed ('' if none)."""
        versions = {}
        for connector_id in connector_ids:
            run = self._store.last_succeeded_run(connector_id)
            commit = run.cursor.get("commit") if run is not None else None
            versions[connector_id] = commit if isinstance(commit, str) else ""
        return versions


__all__ = ["CitedHit", "CitedResult", "RetrievalOps", "SearchFilter", "SearchQuery"]
