"""File-level answers: the passage ranking aggregated per file.

"Which file handles X?", "where is this bug?": the answer is a file, and the
passage ranking answers it poorly when one long file fills the list, or when the
right file has several good passages none of which is first. Here the passages
of a deep, per-file-capped passage ranking (the same search: mode, filters,
access rules, rank.py's path signals — a path or module the question names
lifts its passages, test files, prose and changelogs step back unless asked
for) are aggregated per file, so files inherit those signals consistently.

Aggregations (``Aggregation``; measured in docs/FILE_SEARCH.md):

- ``max``: a file scores its best passage;
- ``decay_sum``: the best ``depth`` passages, the i-th weighted ``decay**i`` —
  several good passages beat one, but a long file cannot win by bulk;
- ``reciprocal_rank``: the sum of ``1 / (k + rank)`` over the file's passages
  in the passage ranking (scaled so rank 1 alone scores 1).

Other evidence about files (the history of similar changes, issue 16 item 3)
enters as :class:`FilePrior`: a score per path and a weight, added to the files
the passage ranking found. A prior never adds a file of its own: every file
returned has passages that passed the request's filters.

Evidence that reads the whole ranking (structure: the head of the ranking lends
score to the files it imports and calls, server/retrieval/structure.py) enters as
a :data:`Reranker`, after the priors. A reranker may add a file the pool missed,
but only with a real citation (one of its chunks, read from the Store, that
passed the request's filters), never as a bare path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from ..auth import Principal
from ..errors import InvalidArgument
from ..models import Project
from .ops import CitedHit, CitedResult, RetrievalOps
from .query import SearchQuery

MAX_CITATIONS = 10  # per file


class Aggregation(StrEnum):
    MAX = "max"
    DECAY_SUM = "decay_sum"
    RECIPROCAL_RANK = "reciprocal_rank"


@dataclass(frozen=True, slots=True)
class FileWeights:
    aggregation: Aggregation = Aggregation.DECAY_SUM
    decay: float = 0.5  # decay_sum: the i-th best passage of a file counts decay**i
    depth: int = 3  # decay_sum: passages of a file that count
    rrf_k: int = 10  # reciprocal_rank: k of 1 / (k + rank)
    pool: int = 100  # passages ranked before aggregation
    pool_per_file: int = 5  # most passages of one file among them (so none floods the pool)


@dataclass(frozen=True, slots=True)
class FilePrior:
    """Evidence about files from outside the passage ranking: ``scores`` maps a path
    (as indexed, "src/app.py") to a score in [0, 1]; ``weight`` scales it against
    the aggregated passage score (the best passage alone scores about 1)."""

    scores: Mapping[str, float]
    weight: float


# A source of priors for a file search: (the passage search that answered — its project,
# and in ``result.index`` the index generation that answered —, the query) -> prior.
# Called off the event loop, once per file search, after the passage search.
PriorSource = Callable[[CitedResult, SearchQuery], FilePrior]


@dataclass(frozen=True, slots=True)
class RankedFile:
    connector_id: str
    path: str
    score: float
    language: str
    hits: tuple[CitedHit, ...]  # the file's passages in the pool, best first
    passages: int  # how many of its passages the pool held


# Re-ranks a file ranking with evidence about the files themselves: (the passage search
# that answered, the query, the files best first) -> the files best first. Called off
# the event loop, once per file search, after the priors; a file it adds must carry a
# citation of a chunk that passed the request's filters.
Reranker = Callable[[CitedResult, SearchQuery, list[RankedFile]], list[RankedFile]]


@dataclass(frozen=True, slots=True)
class FileResult:
    searched: CitedResult  # the passage ranking the files come from (mode, timings, status)
    files: list[RankedFile]


def file_query(query: SearchQuery) -> SearchQuery:
    """``query`` checked for a file search: ``top_k`` counts files, ``max_per_document``
    citations per file (1-``MAX_CITATIONS``), and only sources of kind "file" count."""
    if query.max_per_document > MAX_CITATIONS:
        raise InvalidArgument(
            "max_per_document",
            f"a file search cites at most {MAX_CITATIONS} passages per file (0 means 3)",
        )
    kinds = query.filter.kinds
    if kinds and "file" not in kinds:
        raise InvalidArgument(
            "filter.kinds", 'a file search ranks files: leave it empty or include "file"'
        )
    return replace(query, filter=replace(query.filter, kinds=("file",)))


def pool_query(query: SearchQuery, weights: FileWeights) -> SearchQuery:
    """The passage search whose ranking is aggregated (with as many passages per file
    as the request cites, when that is more than the pool's cap)."""
    per_file = max(weights.pool_per_file, query.max_per_document)
    return replace(query, top_k=weights.pool, max_per_document=per_file)


def aggregate(scores: Sequence[float], ranks: Sequence[int], weights: FileWeights) -> float:
    """One file's score from its passages' scores (best first) and 1-based ranks."""
    if weights.aggregation is Aggregation.MAX:
        return scores[0]
    if weights.aggregation is Aggregation.DECAY_SUM:
        return sum(s * weights.decay**i for i, s in enumerate(scores[: weights.depth]))
    k = weights.rrf_k
    return sum((k + 1) / (k + rank) for rank in ranks)


def best_first(file: RankedFile) -> tuple[float, str, str]:
    """The order of a file ranking: best score first, ties by path then connector."""
    return -file.score, file.path, file.connector_id


def rank_files(
    hits: Sequence[CitedHit],
    weights: FileWeights = FileWeights(),
    priors: Sequence[FilePrior] = (),
) -> list[RankedFile]:
    """Files of a best-first passage ranking, best first (ties: by path)."""
    by_file: dict[tuple[str, str], list[tuple[int, CitedHit]]] = {}
    for rank, cited in enumerate(hits, 1):
        chunk = cited.hit.chunk
        by_file.setdefault((chunk.connector_id, chunk.path), []).append((rank, cited))
    files = []
    for (connector_id, path), ranked in by_file.items():
        ranked.sort(key=lambda item: -item[1].hit.score)
        score = aggregate([c.hit.score for _, c in ranked], [r for r, _ in ranked], weights)
        score += sum(p.weight * p.scores.get(path, 0.0) for p in priors)
        best = ranked[0][1].hit.chunk
        files.append(
            RankedFile(
                connector_id, path, score, best.language, tuple(c for _, c in ranked), len(ranked)
            )
        )
    files.sort(key=best_first)
    return files


class FileSearch:
    """Ranks a project's files for a question (see the module docstring)."""

    def __init__(
        self,
        ops: RetrievalOps,
        weights: FileWeights | None = None,
        priors: Sequence[PriorSource] = (),
        rerankers: Sequence[Reranker] = (),
    ) -> None:
        self._ops = ops
        self.weights = weights or FileWeights()
        self._priors = tuple(priors)
        self._rerankers = tuple(rerankers)

    async def search(
        self, principal: Principal, project_ref: str, query: SearchQuery
    ) -> FileResult:
        """``query`` as checked by :func:`file_query`; membership is checked by the search."""
        searched = await self._ops.search(principal, project_ref, pool_query(query, self.weights))
        if self._priors or self._rerankers:  # they may read the Store: off the event loop
            return await asyncio.to_thread(self.ranked, searched, query)
        return self.result(searched, query, [])

    def search_project(self, project: Project, query: SearchQuery) -> FileResult:
        """Blocking: a project the caller was already checked for (tools, benchmarks)."""
        searched = self._ops.search_project(project, pool_query(query, self.weights))
        return self.ranked(searched, query)

    def ranked(self, searched: CitedResult, query: SearchQuery) -> FileResult:
        """Blocking: the files of a passage search, with the priors and rerankers."""
        return self.result(searched, query, self.priors_for(searched, query))

    def priors_for(self, searched: CitedResult, query: SearchQuery) -> list[FilePrior]:
        return [source(searched, query) for source in self._priors]

    def result(
        self, searched: CitedResult, query: SearchQuery, priors: Sequence[FilePrior]
    ) -> FileResult:
        files = rank_files(searched.hits, self.weights, priors)
        for rerank in self._rerankers:
            files = rerank(searched, query, files)
        cut = [replace(f, hits=f.hits[: query.max_per_document]) for f in files[: query.top_k]]
        return FileResult(searched, cut)
