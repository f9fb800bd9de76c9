"""Searcher: a checked query in, ranked chunks with citations out.

The flow per query: pick the served index (never rebuilt mid-run), turn the
filter into a row mask, embed the query (cached), take dense and keyword
candidates inside the mask, fuse and re-score them (rank.py), group by
document, and read the winners from the Store. A chunk that vanished since the
index was built (a run is replacing it) is dropped rather than cited.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..embedding import Embedder
from ..errors import FailedPrecondition
from ..index.manager import IndexManager
from ..index.project import ProjectIndex
from ..models import Chunk
from ..store.base import Store
from .query import SearchFilter, SearchMode, SearchQuery, evidence_of, path_spec
from .rank import Candidate, Definition, RankWeights, Rescorer, fuse, group


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float
    dense_rank: int
    keyword_rank: int


@dataclass(slots=True)
class SearchResult:
    hits: list[Hit]
    mode: SearchMode
    generation: int
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self._last) * 1000
        self._last = now


class Searcher:
    """Hybrid search over the projects' indexes. Thread-safe; blocking (run it off the loop)."""

    def __init__(
        self,
        store: Store,
        indexes: IndexManager,
        embedder: Embedder,
        weights: RankWeights | None = None,
    ) -> None:
        self._store = store
        self.indexes = indexes
        self._embedder = embedder
        self.weights = weights or RankWeights()
        self._embed_cached: Callable[[str], np.ndarray] = functools.lru_cache(maxsize=512)(
            self._embed
        )

    def index(self, project_id: str) -> ProjectIndex:
        """The project's served index; FailedPrecondition when it has nothing indexed."""
        if self.indexes.manifest(project_id) is None:  # nothing published (or loaded) yet
            if self._store.active_run(project_id=project_id) is not None:
                # Not built here: building is a worker's job, and its run publishes soon.
                raise FailedPrecondition(
                    "the project's first ingestion is still running; it becomes "
                    "searchable when that run publishes its index (`projectqa runs` shows it)"
                )
            if self._store.index_generation(project_id) == 0:
                raise FailedPrecondition(
                    "the project has no indexed content yet: add a connector and run "
                    "`projectqa ingest <project>` (IngestionService.StartIngestion)"
                )
        return self.indexes.serving(project_id)

    def search(self, project_id: str, query: SearchQuery) -> SearchResult:
        clock = _Clock()
        index = self.index(project_id)
        clock.lap("index")  # loading (or building) is not a search stage
        allowed = filter_mask(index, query.filter)
        clock.lap("fusion")
        wanted = max(self.weights.candidates, query.top_k * 5)
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        if query.mode is not SearchMode.KEYWORD:
            vector = self._embed_cached(query.text)
            clock.lap("embed")
            dense = index.dense_rows(vector, wanted, allowed)
            clock.lap("dense")
        if query.mode is not SearchMode.DENSE:
            keyword = index.keyword_rows(query.text, wanted, allowed)
            clock.lap("keyword")
        candidates = fuse(dense, keyword, self.weights)
        if query.mode is SearchMode.HYBRID:
            self._rescorer(index, query.text, allowed).apply(candidates, query.top_k)
        ranked = group(candidates.values(), index.table, query.top_k, query.max_per_document)
        clock.lap("fusion")
        hits = self._hits(index, ranked)
        clock.lap("fetch")
        return SearchResult(hits, query.mode, index.manifest.generation, clock.timings)

    def _rescorer(self, index: ProjectIndex, text: str, allowed: np.ndarray | None) -> Rescorer:
        evidence = evidence_of(text)
        definitions: list[Definition] = []
        if evidence.identifiers and index.symbols is not None:
            definitions = [
                Definition(s.document_id, s.start_line, s.end_line)
                for s in index.symbols.lookup(evidence.identifiers)
            ]
        return Rescorer(index.table, text, evidence, definitions, self.weights, allowed)

    def _hits(self, index: ProjectIndex, ranked: list[Candidate]) -> list[Hit]:
        chunks = {c.id: c for c in self._store.get_chunks([index.chunk_id(c.row) for c in ranked])}
        hits = []
        for candidate in ranked:
            chunk = chunks.get(index.chunk_id(candidate.row))
            if chunk is not None:  # gone since the index was built
                hits.append(
                    Hit(chunk, candidate.score, candidate.dense_rank, candidate.keyword_rank)
                )
        return hits

    def _embed(self, text: str) -> np.ndarray:
        vector = self._embedder.encode([text])[0]
        vector.setflags(write=False)  # shared by the cache
        return vector


def filter_mask(index: ProjectIndex, search_filter: SearchFilter) -> np.ndarray | None:
    """Rows the filter keeps (None: no filter, every row)."""
    if not search_filter:
        return None
    table = index.table
    mask = np.ones(len(table), dtype=bool)
    for column, accepted in (
        ("kind", search_filter.kinds),
        ("connector", search_filter.connectors),
        ("language", search_filter.languages),
    ):
        if accepted:
            wanted = set(accepted)
            mask &= table[column].mask(wanted.__contains__)
    if search_filter.path_globs:
        mask &= table["path"].mask(path_spec(search_filter.path_globs).match_file)
    return mask
