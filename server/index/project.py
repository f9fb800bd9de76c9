"""One project's loaded indexes, and how they are built from the Store.

A generation directory holds::

    chunk_ids.json   the project's chunk ids; a chunk's position here is its row
    dense.faiss      FAISS index whose ids are rows (absent when no chunk has a vector)
    keyword/         bm25s files over tokens of path + symbol + text, row order, and
                     tokens.npz, their token ids by text hash (the next build reuses them)
    table.npz/.json  the chunk table: path, kind, language, symbol, lines… per row
    symbols.json/.npz  the symbol index (definitions by name)
    graph.npz        the file graph: what each file and row imports and calls into
                     (absent from generations built before it: no graph)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from ..models import Chunk, PageRequest
from ..paging import every_page
from ..store.base import Store
from .dense import DenseIndex, DenseKind
from .graph import FileGraph
from .keyword import KeywordIndex, StaleKeywordIndex
from .layout import IndexManifest
from .symbols import SymbolIndex
from .table import ChunkTable
from .token_cache import TokenCache
from .tokens import TOKENIZER_VERSION

log = logging.getLogger(__name__)


class _Keyed(Protocol):
    """A record the Store pages by id (a chunk, a symbol)."""

    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Keyed)

PAGE_SIZE = 2000  # chunks per Store call while rebuilding
CHUNK_IDS_FILE = "chunk_ids.json"
DENSE_FILE = "dense.faiss"
KEYWORD_DIR = "keyword"


class ProjectIndex:
    """Dense and keyword search over one generation of a project's chunks."""

    def __init__(
        self,
        manifest: IndexManifest,
        chunk_ids: list[str],
        dense: DenseIndex,
        keyword: KeywordIndex | None,
        table: ChunkTable,
    ) -> None:
        """``keyword``: None when the generation's keyword index is of another tokenizer
        version (see ``keyword_unavailable``)."""
        self.manifest = manifest
        self._chunk_ids = chunk_ids
        self._dense = dense
        self._keyword = keyword
        self.table = table
        self.symbols: SymbolIndex | None = None  # definitions; see symbols.py
        self.graph: FileGraph | None = None  # imports and calls between files; see graph.py
        self._has_vector: tuple[int, np.ndarray | None] | None = None  # (vectors, mask)
        # Why keyword search answers nothing here ("" when it works): its postings hold
        # another tokenizer's tokens, and a worker is rebuilding the generation.
        self.keyword_unavailable = ""

    def __len__(self) -> int:
        return len(self._chunk_ids)

    def chunk_id(self, row: int) -> str:
        return self._chunk_ids[row]

    def has_vector(self) -> np.ndarray | None:
        """One bool per row: whether the chunk is in the dense index; None when every
        chunk is (the common case costs nothing). Computed once per vector count."""
        vectors = len(self._dense)
        cached = self._has_vector
        if cached is None or cached[0] != vectors:
            mask: np.ndarray | None = None
            if vectors < len(self._chunk_ids):
                mask = np.zeros(len(self._chunk_ids), dtype=bool)
                mask[self._dense.rows()] = True
            cached = self._has_vector = (vectors, mask)
        return cached[1]

    def dense_rows(
        self, query_vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the ``k`` nearest allowed chunks, best first."""
        return self._dense.search(query_vector, k, allowed)

    def keyword_rows(
        self,
        query: str,
        k: int,
        allowed: np.ndarray | None = None,
        boost: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        """(row, BM25 score) of the ``k`` best allowed chunks sharing a token with ``query``
        (``boost``: keyword tokens that weigh more, see KeywordIndex.search); none while
        ``keyword_unavailable``."""
        if self._keyword is None:
            return []
        return self._keyword.search(query, k, allowed, boost)

    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the ``k`` nearest chunks, best first."""
        return [(self._chunk_ids[row], score) for row, score in self._dense.search(query_vector, k)]

    def search_keyword(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the ``k`` best chunks sharing a token with ``query``."""
        return [(self._chunk_ids[row], score) for row, score in self.keyword_rows(query, k)]

    def save(self, directory: Path) -> None:
        (directory / CHUNK_IDS_FILE).write_text(json.dumps(self._chunk_ids), encoding="utf-8")
        self._dense.save(directory / DENSE_FILE)
        if self._keyword is None:
            raise ValueError("a generation loaded without its keyword index is not saved again")
        self._keyword.save(directory / KEYWORD_DIR)
        self.table.save(directory)
        if self.symbols is not None:
            self.symbols.save(directory)
        if self.graph is not None:
            self.graph.save(directory)

    @classmethod
    def load(cls, directory: Path, manifest: IndexManifest) -> ProjectIndex:
        """Read the generation ``manifest`` names; raises if a file is missing or disagrees."""
        chunk_ids = json.loads((directory / CHUNK_IDS_FILE).read_text(encoding="utf-8"))
        kind = DenseKind(manifest.dense_kind)
        dense = DenseIndex.load(directory / DENSE_FILE, kind, manifest.dimension)
        keyword: KeywordIndex | None = None
        unavailable = ""
        try:
            keyword = KeywordIndex.load(directory / KEYWORD_DIR, len(chunk_ids))
        except StaleKeywordIndex as exc:
            # The rest of the generation is good: serve it while workers rebuild (they
            # find it stale by its tokenizer version), rather than refuse it all.
            log.warning("index generation %s: %s", manifest.dir, exc)
            unavailable = exc.public
        table = ChunkTable.load(directory, len(chunk_ids))
        if len(chunk_ids) != manifest.chunks or len(dense) != manifest.vectors:
            raise ValueError(f"{directory} does not match its manifest")
        index = cls(manifest, chunk_ids, dense, keyword, table)
        index.keyword_unavailable = unavailable
        index.symbols = SymbolIndex.load(directory)
        index.graph = FileGraph.load(directory)
        if index.graph is not None and index.graph.row_count != len(chunk_ids):
            raise ValueError(f"{directory}: the file graph has other rows than the chunks")
        return index


@dataclass(frozen=True, slots=True)
class BuildInput:
    """What a build starts from."""

    generation: int  # the Store's, read before the build
    model: str
    exact_max: int
    previous: Path | None = None  # a generation directory whose token cache may be reused


def build_project_index(store: Store, project_id: str, spec: BuildInput) -> ProjectIndex:
    """Indexes over the project's chunks as the Store has them now.

    ``spec.generation`` must have been read before this call, so a change made
    while building leaves the result marked stale instead of wrongly current.
    """
    chunk_ids: list[str] = []
    facts: list[Chunk] = []
    references: list[tuple[str, str, tuple[str, ...]]] = []  # the graph's rows

    def texts() -> Iterator[str]:
        for chunk in _all(lambda page: store.list_chunks(project_id, page)):
            chunk_ids.append(chunk.id)
            # the table needs neither text nor references
            facts.append(dataclasses.replace(chunk, text="", references=()))
            references.append(
                (chunk.connector_id, chunk.path or chunk.document_key, chunk.references)
            )
            yield f"{chunk.path}\n{chunk.symbol}\n{chunk.text}"

    previous = TokenCache.load(spec.previous / KEYWORD_DIR) if spec.previous else None
    keyword = KeywordIndex.build(texts(), previous)
    vectors, rows = _vectors(store, project_id, spec.model, chunk_ids)
    dense = DenseIndex.build(vectors, rows, spec.exact_max)
    manifest = IndexManifest(
        generation=spec.generation,
        dir="",  # set once the generation directory has its name
        model=spec.model,
        dimension=dense.dimension,
        dense_kind=dense.kind.value,
        chunks=len(chunk_ids),
        vectors=len(dense),
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tokenizer_version=TOKENIZER_VERSION,
    )
    index = ProjectIndex(manifest, chunk_ids, dense, keyword, ChunkTable.build(facts))
    index.symbols = SymbolIndex.build(_all(lambda page: store.list_symbols(project_id, page)))
    index.graph = FileGraph.build(references, index.symbols)
    return index


def _all(fetch: Callable[[PageRequest], list[T]]) -> Iterator[T]:
    """Every item of a project listing the Store pages by id (chunks, symbols)."""
    return every_page(fetch, lambda item: item.id, PAGE_SIZE)


def _vectors(
    store: Store, project_id: str, model: str, chunk_ids: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of the listed chunks, and each one's row in ``chunk_ids``."""
    row_of = {chunk_id: row for row, chunk_id in enumerate(chunk_ids)}
    rows: list[int] = []
    blobs: list[bytes] = []
    size: int | None = None
    fetch = lambda page: store.chunk_vectors(project_id, model, page)  # noqa: E731
    for item in every_page(fetch, lambda v: v.chunk_id, PAGE_SIZE):
        row = row_of.get(item.chunk_id)
        if row is None:  # chunk written after the chunk listing: the next build has it
            continue
        length = len(item.vector)
        if length == 0 or length % 4 or length != (size or length):
            log.warning("skipping malformed vector of chunk %s (%d bytes)", item.chunk_id, length)
            continue
        size = length
        rows.append(row)
        blobs.append(item.vector)
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    assert size is not None
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), size // 4)
    return matrix.astype(np.float32), np.asarray(rows, dtype=np.int64)
