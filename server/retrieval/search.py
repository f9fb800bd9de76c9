"""Searcher: a checked query in, ranked chunks with citations out.

The flow per query: pick the served index (never rebuilt mid-run), turn the
filter into a row mask, embed the query (cached) with the embedder whose vectors
the served generation holds, take dense and keyword candidates inside the mask,
fuse and re-score them (rank.py), group by document, and read the winners from
the Store. A chunk that vanished since the index was built (a run is replacing
it) is dropped rather than cited.

The query embedder follows the generation, not the server's setting: after an
upgrade to another embedder, a generation of the old one keeps answering with
query vectors of its own kind until it is re-embedded. When this process cannot
build that embedder, hybrid search answers from the keyword index alone and says
so (``SearchResult.dense_unavailable``); dense-only search fails with the reason.

Likewise for keyword search: during a tokenizer upgrade the served generation may
lack its keyword part until a worker's rebuild is published
(``ProjectIndex.keyword_unavailable``). Hybrid search then answers from the dense
index alone and says so (``SearchResult.keyword_unavailable``, mode DENSE);
keyword-only search fails with the reason, rather than quietly finding nothing.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import embedding
from ..embedding import Embedder, UnknownEmbeddingModel
from ..errors import FailedPrecondition
from ..index.manager import IndexManager
from ..index.project import ProjectIndex
from ..index.tokens import word_tokens
from ..models import Chunk
from ..store.base import Store
from . import long_questions
from .query import Evidence, SearchFilter, SearchMode, SearchQuery, evidence_of, path_spec
from .rank import Candidate, Definition, RankWeights, Rescorer, fuse, group

log = logging.getLogger(__name__)

EmbedderLookup = Callable[[str], Embedder]


UNAVAILABLE_RETRY_S = 60.0  # an embedder that could not be built is tried again after


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float
    dense_rank: int
    keyword_rank: int


@dataclass(slots=True)
class SearchResult:
    hits: list[Hit]
    mode: SearchMode  # the rankers used: KEYWORD (DENSE) when hybrid skipped the other
    generation: int
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds
    index: ProjectIndex | None = None  # the generation that answered
    dense_unavailable: str = ""  # why dense search was skipped; "" when it was not
    keyword_unavailable: str = ""  # why keyword search was skipped; "" when it was not


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
        *,
        embedder_named: EmbedderLookup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``embedder`` embeds queries for generations of its own name; generations of
        another embedder get theirs from ``embedder_named`` (the process-wide one)."""
        self._store = store
        self.indexes = indexes
        self._embedder = embedder
        self._embedder_named = embedder_named or _process_embedder
        self.weights = weights or RankWeights()
        # Embedder name -> when to try building it again (it could not be built).
        self._unavailable: dict[str, float] = {}
        self._clock = clock
        self._guard = threading.Lock()
        self._embed_cached: Callable[[str, str], np.ndarray] = functools.lru_cache(maxsize=512)(
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
        mode, unavailable = query.mode, ""
        no_keyword = index.keyword_unavailable
        if mode is SearchMode.KEYWORD and no_keyword:
            raise FailedPrecondition(
                f"keyword search is unavailable: {no_keyword}; search in hybrid or dense "
                "mode meanwhile"
            )
        if mode is not SearchMode.KEYWORD:
            vector, unavailable = self.query_vector(index.manifest.model, query.text)
            clock.lap("embed")
            if vector is None:
                _check_either_available(mode, unavailable, no_keyword)
                mode = SearchMode.KEYWORD  # what actually ranked the hits
            else:
                dense = index.dense_rows(vector, wanted, allowed)
                clock.lap("dense")
                if no_keyword:
                    mode = SearchMode.DENSE  # hybrid, without its keyword half
        # Only hybrid search reads the evidence (keyword boost, rescoring): a keyword or
        # dense search of a long report does not parse it here.
        hybrid = query.mode is SearchMode.HYBRID
        evidence = evidence_of(query.text) if hybrid else Evidence()
        if mode is not SearchMode.DENSE:
            keyword = index.keyword_rows(query.text, wanted, allowed, keyword_boost(evidence))
            clock.lap("keyword")
        candidates = fuse(dense, keyword, self.weights, index.has_vector())
        if hybrid:
            self._rescorer(index, query.text, evidence, allowed).apply(candidates, query.top_k)
        ranked = group(candidates.values(), index.table, query.top_k, query.max_per_document)
        clock.lap("fusion")
        hits = self._hits(index, ranked)
        clock.lap("fetch")
        generation = index.manifest.generation
        return SearchResult(hits, mode, generation, clock.timings, index, unavailable, no_keyword)

    def query_vector(self, model: str, text: str) -> tuple[np.ndarray | None, str]:
        """``text`` embedded by the embedder called ``model``, or None and why this process
        cannot embed with it."""
        problem = self.dense_unavailable(model)
        if problem:
            return None, problem
        try:
            return self._embed_cached(model, text), ""
        except UnknownEmbeddingModel as exc:  # found at the first encode (a failed export)
            return None, self._remember_unavailable(model, exc)

    def dense_unavailable(self, model: str) -> str:
        """Why queries cannot be embedded for generations of ``model`` ("" if they can)."""
        retry_at = self._unavailable.get(model)
        if retry_at is not None:
            if self._clock() < retry_at:
                return _unavailable_problem(model)
            with self._guard:
                self._unavailable.pop(model, None)
        try:
            self._query_embedder(model)
        except UnknownEmbeddingModel as exc:
            return self._remember_unavailable(model, exc)
        return ""

    def _rescorer(
        self, index: ProjectIndex, text: str, evidence: Evidence, allowed: np.ndarray | None
    ) -> Rescorer:
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

    def _query_embedder(self, model: str) -> Embedder:
        if model == self._embedder.name:
            return self._embedder
        return self._embedder_named(model)

    def _remember_unavailable(self, model: str, exc: UnknownEmbeddingModel) -> str:
        """Once per model until UNAVAILABLE_RETRY_S have passed (a full disk or a failed
        build may be over by then): the lookup is not retried at every query, and the log
        says it once."""
        with self._guard:
            if model not in self._unavailable:
                log.warning(
                    "keyword-only search for generations of %r: %s", model, exc, exc_info=exc
                )
                self._unavailable[model] = self._clock() + UNAVAILABLE_RETRY_S
        return _unavailable_problem(model)

    def _embed(self, model: str, text: str) -> np.ndarray:
        """The question's vector: of the question itself when the embedder reads it whole,
        else the mean of what ``long_questions`` picks to read of it."""
        texts = long_questions.dense_texts(text, evidence_of(text))
        vectors = self._query_embedder(model).encode(texts)
        vector = vectors[0] if len(texts) == 1 else _unit(vectors.mean(axis=0))
        vector.setflags(write=False)  # shared by the cache
        return vector


def _check_either_available(mode: SearchMode, dense: str, keyword: str) -> None:
    """Raises FailedPrecondition when ``mode`` has no ranker left (dense search is not
    available: ``dense`` says why, ``keyword`` says why keyword search is not, if so)."""
    if mode is SearchMode.DENSE:
        raise FailedPrecondition(
            f"dense search is unavailable: {dense}; search in hybrid or keyword mode meanwhile"
        )
    if keyword:
        raise FailedPrecondition(
            f"neither dense nor keyword search is available: dense search: {dense}; "
            f"keyword search: {keyword}"
        )


def _unavailable_problem(model: str) -> str:
    # Clients get no server detail (an exception may name the data directory): the log has it.
    return (
        f"this server cannot embed queries with {model!r}, the embedder of the served "
        "index generation (the server's log says why; PROJECTQA_EMBEDDER sets the embedder)"
    )


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector.astype(np.float32)


def keyword_boost(evidence: Evidence) -> set[str]:
    """Keyword tokens of the names the question spells as code (``parse_price`` ->
    "parseprice", ``requests.Session`` -> "requests", "session"): in a long report
    they are the few words that say where to look."""
    words = (w for name in evidence.identifiers for w in re.findall(r"\w+", name))
    return {tokens[0] for tokens in map(word_tokens, words) if tokens}


def _process_embedder(model: str) -> Embedder:
    """The process-wide query embedder of an embedder name (``embedding.embedder_named``),
    looked up at call time."""
    return embedding.embedder_named(model)


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


class FileRows:
    """``filter_mask``'s tests that a file search applies (kind "file", languages, path
    globs) for a few paths, row by row: a file's rows, where the mask reads the table."""

    def __init__(self, index: ProjectIndex, search_filter: SearchFilter) -> None:
        self._table = index.table
        self._languages = set(search_filter.languages)
        self._spec = path_spec(search_filter.path_globs) if search_filter.path_globs else None

    def rows(self, path: str) -> list[int]:
        """The rows of ``path`` the filter keeps, in row order."""
        if self._spec is not None and not self._spec.match_file(path):
            return []
        return [int(r) for r in self._table.rows_of("path", path) if self._holds(int(r))]

    def _holds(self, row: int) -> bool:
        table, languages = self._table, self._languages
        if table["kind"].value(row) != "file":
            return False
        return not languages or table["language"].value(row) in languages
