"""Dense (FAISS) index: inner product on L2-normalised vectors, i.e. cosine.

Small projects get exact search (``IndexFlatIP``); above ``exact_max`` vectors
IVF-Flat (``nlist`` ≈ √n clusters, a fixed share of them probed), whose build
is a second or two even at 100k vectors and whose latency stays under a
millisecond. Every vector carries its row in the project's chunk list as its
FAISS id, so hits map straight back to chunk ids.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import cast

import faiss
import numpy as np

# Measured with bench/dense_index_threshold.py (its docstring has the figures and
# the reasoning): exact single-query search p99 stays under ~4 ms up to here.
DENSE_EXACT_MAX_VECTORS = 50_000
# k-means wants ~39 training points per centroid; fewer lists for small inputs.
_POINTS_PER_LIST = 39
# Share of the lists searched: recall@10 ≈ 0.98 on code embeddings (see the bench).
_PROBED_SHARE = 1 / 6
_MIN_PROBES = 32


class DenseKind(StrEnum):
    EMPTY = "empty"  # no vector at all: nothing to search
    FLAT = "flat"  # exact
    IVF = "ivf"  # approximate: IVF-Flat


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
        ids = np.ascontiguousarray(rows, dtype=np.int64)
        if len(vectors) <= exact_max:
            index = faiss.IndexIDMap(faiss.IndexFlatIP(dimension))
            index.add_with_ids(vectors, ids)
            return cls(index, DenseKind.FLAT, dimension)
        return cls(_ivf(vectors, ids), DenseKind.IVF, dimension)

    @classmethod
    def load(cls, path: Path, kind: DenseKind, dimension: int) -> DenseIndex:
        if kind is DenseKind.EMPTY:
            return cls(None, kind, dimension)
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise ValueError(f"{path}: dimension {index.d}, manifest says {dimension}")
        if kind is DenseKind.IVF:
            ivf = faiss.extract_index_ivf(index)
            ivf.nprobe = _probes(ivf.nlist)
        return cls(index, kind, dimension)

    def save(self, path: Path) -> None:
        if self._index is None:
            return
        # Through a Python file, not write_index(path): FAISS ignores a failing fclose, so
        # a full disk would leave a short file and no error. Here a failed write or the
        # final flush raises OSError.
        with open(path, "wb") as file:
            # Streams (serialize_index would copy the whole index in memory); faiss's
            # bundled stubs omit PyCallbackIOWriter, which its Python layer has.
            writer = faiss.PyCallbackIOWriter(file.write)  # type: ignore[attr-defined]
            faiss.write_index(self._index, writer)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def rows(self) -> np.ndarray:
        """The ids (chunk rows) of every vector, in no particular order."""
        if self._index is None:
            return np.zeros(0, dtype=np.int64)
        if self.kind is DenseKind.FLAT:  # an IndexIDMap keeps its ids in one array
            id_map = cast(faiss.IndexIDMap, self._index).id_map
            return faiss.vector_to_array(id_map).astype(np.int64)
        lists = faiss.extract_index_ivf(self._index).invlists
        assert lists is not None  # an IVF index read or built here owns its lists
        parts = [np.zeros(0, dtype=np.int64)]
        for number in range(lists.nlist):
            size = lists.list_size(number)
            if size:
                ids = lists.get_ids(number)
                parts.append(faiss.rev_swig_ptr(ids, size).astype(np.int64))  # a copy
                # faiss's stubs omit release_ids, which every InvertedLists has.
                lists.release_ids(number, ids)  # type: ignore[attr-defined]
        return np.concatenate(parts)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(row, cosine) of the ``k`` nearest vectors, best first.

        ``allowed`` (one bool per row) restricts the search inside FAISS, so a
        narrow filter still gets ``k`` hits instead of the few that survive
        filtering afterwards. With IVF only the probed lists are searched.
        """
        if self._index is None or k <= 0:
            return []
        params: faiss.SearchParameters | None = None
        if allowed is not None:
            if not allowed.any():
                return []
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
            # Set field by field (as the kwargs faiss's wrapper adds do): its stubs type
            # each field but no keyword of the constructors.
            if self.kind is DenseKind.IVF:
                ivf_params = faiss.SearchParametersIVF()
                ivf_params.nprobe = faiss.extract_index_ivf(self._index).nprobe
                params = ivf_params
            else:
                params = faiss.SearchParameters()
            params.sel = selector
        query = np.array(query, dtype=np.float32).reshape(1, -1)  # a copy: normalised below
        if query.shape[1] != self.dimension:
            raise ValueError(f"query has {query.shape[1]} dimensions, the index {self.dimension}")
        faiss.normalize_L2(query)
        # One query gains nothing from OpenMP, and its threads spin-wait for cores
        # that concurrent requests hold: on 2 busy cores p50 went 1.3 -> 24 ms at 30k
        # vectors. The setting is per calling thread; restored for later builds.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, rows = self._index.search(query, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


def _ivf(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    dimension = vectors.shape[1]
    nlist = max(1, min(math.isqrt(len(vectors)), len(vectors) // _POINTS_PER_LIST))
    quantizer = faiss.IndexFlatIP(dimension)
    ivf = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.nprobe = _probes(nlist)
    ivf.add_with_ids(vectors, ids)  # IVF lists keep ids themselves: no IndexIDMap
    return ivf


def _probes(nlist: int) -> int:
    return min(nlist, max(_MIN_PROBES, math.ceil(nlist * _PROBED_SHARE)))
