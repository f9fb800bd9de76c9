"""Dense (FAISS) index: inner product on L2-normalised vectors, i.e. cosine.

Small projects get exact search (``IndexFlatIP``); above ``exact_max`` vectors an
HNSW graph, whose latency stays flat as a project grows. Every vector carries
its row in the project's chunk list as its FAISS id, so hits map straight back
to chunk ids.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import faiss
import numpy as np

# Measured with bench/dense_index_threshold.py (its docstring has the figures and
# the reasoning): exact search p99 stays under ~6 ms up to here on two cores.
DENSE_EXACT_MAX_VECTORS = 50_000
HNSW_M = 32  # graph degree: recall ≥ 0.97 at efSearch 64 on code embeddings
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 64


class DenseKind(StrEnum):
    EMPTY = "empty"  # no vector at all: nothing to search
    FLAT = "flat"  # exact
    HNSW = "hnsw"  # approximate


class DenseIndex:
    """Top-k cosine search over vectors identified by their chunk row."""

    def __init__(self, index: faiss.Index | None, kind: DenseKind, dimension: int) -> None:
        self._index = index
        self.kind = kind
        self.dimension = dimension

    @classmethod
    def build(cls, vectors: np.ndarray, rows: np.ndarray, exact_max: int) -> DenseIndex:
        """Index ``vectors[i]`` under id ``rows[i]``; exact up to ``exact_max`` vectors.

        ``vectors`` is normalised in place.
        """
        if len(vectors) == 0:
            return cls(None, DenseKind.EMPTY, 0)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        faiss.normalize_L2(vectors)  # cheap insurance: cosine needs unit vectors
        dimension = vectors.shape[1]
        kind = DenseKind.FLAT if len(vectors) <= exact_max else DenseKind.HNSW
        index = faiss.IndexIDMap(_empty_index(kind, dimension))
        index.add_with_ids(vectors, np.ascontiguousarray(rows, dtype=np.int64))
        return cls(index, kind, dimension)

    @classmethod
    def load(cls, path: Path, kind: DenseKind, dimension: int) -> DenseIndex:
        if kind is DenseKind.EMPTY:
            return cls(None, kind, dimension)
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise ValueError(f"{path}: dimension {index.d}, manifest says {dimension}")
        if kind is DenseKind.HNSW:
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index, kind, dimension)

    def save(self, path: Path) -> None:
        if self._index is not None:
            faiss.write_index(self._index, str(path))

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row, cosine) of the ``k`` nearest vectors, best first."""
        if self._index is None or k <= 0:
            return []
        query = np.array(query, dtype=np.float32).reshape(1, -1)  # a copy: normalised below
        if query.shape[1] != self.dimension:
            raise ValueError(f"query has {query.shape[1]} dimensions, the index {self.dimension}")
        faiss.normalize_L2(query)
        scores, rows = self._index.search(query, min(k, len(self)))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


def _empty_index(kind: DenseKind, dimension: int) -> faiss.Index:
    if kind is DenseKind.FLAT:
        return faiss.IndexFlatIP(dimension)
    index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index
