"""The fp32 (torch) embedder on the bundled all-MiniLM-L6-v2, dense search over its
vectors, and what both kinds share: names, Store bytes, the process-wide instances
(the int8 ONNX embedder: test_embedding_onnx.py).

Tests that load the model are marked ``model`` (a few seconds per process).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from projectqa.server import embedding
from projectqa.server.config import Settings, SettingsError, load_settings
from projectqa.server.embedding import (
    DEFAULT_MODEL,
    Embedder,
    EmbeddingSetup,
    UnknownEmbeddingModel,
    embedder_named,
    ingestion_embedder,
    shared_embedder,
    vector_from_bytes,
    vector_to_bytes,
)
from projectqa.server.index import IndexManager
from projectqa.server.store import SqliteStore

from .conftest import Corpus

FP32 = EmbeddingSetup(kind="torch")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder(FP32)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EmbeddingSetup:
    """No process-wide embedders yet; returns the setup of an int8 server on tmp_path."""
    monkeypatch.setattr(embedding, "_shared_embedders", {})
    monkeypatch.setattr(embedding, "_process_setup", EmbeddingSetup())
    return EmbeddingSetup(models_dir=tmp_path / "models")


def test_vector_bytes_are_little_endian_float32() -> None:
    vector = np.array([1.0, -2.5, 0.125], dtype=np.float64)
    data = vector_to_bytes(vector)
    assert data == np.array(vector, dtype="<f4").tobytes() and len(data) == 12
    restored = vector_from_bytes(data, 3)
    assert restored.dtype == np.float32 and restored.tolist() == [1.0, -2.5, 0.125]
    restored[0] = 7.0  # a writable copy, not a view of the bytes
    with pytest.raises(ValueError, match="expected 4 float32"):
        vector_from_bytes(data, 4)


def test_names_and_unknown_models(tmp_path: Path) -> None:
    assert Embedder(kind="torch").name == DEFAULT_MODEL  # fp32 caches made before kinds stay valid
    assert Embedder(f"sentence-transformers/{DEFAULT_MODEL}", kind="torch").name == DEFAULT_MODEL
    assert Embedder(str(tmp_path / "my-model"), kind="torch").name == "my-model"
    with pytest.raises(UnknownEmbeddingModel, match="never downloaded"):
        Embedder("BAAI/bge-small-en", kind="torch").warm_up()
    with pytest.raises(UnknownEmbeddingModel):
        _ = Embedder(str(tmp_path / "missing-dir"), kind="torch").dimension
    with pytest.raises(UnknownEmbeddingModel, match="no embedder kind 'fp16'"):
        Embedder(kind="fp16")  # type: ignore[arg-type]


def test_int8_and_fp32_vectors_have_different_names(tmp_path: Path) -> None:
    """The name is the Store's cache key and the manifest's model: kinds never mix."""
    assert Embedder().kind == "onnx-int8"  # the default
    assert Embedder().name == f"{DEFAULT_MODEL}@onnx-int8" != Embedder(kind="torch").name
    assert Embedder(str(tmp_path / "my-model")).name == "my-model@onnx-int8"


def test_shared_embedders_are_one_per_model_kind_and_purpose(
    fresh_registry: EmbeddingSetup,
) -> None:
    int8 = fresh_registry
    assert shared_embedder(int8) is shared_embedder(int8)
    bundled_by_hub_id = EmbeddingSetup(f"sentence-transformers/{DEFAULT_MODEL}", kind="torch")
    assert shared_embedder(bundled_by_hub_id) is shared_embedder(FP32)
    assert shared_embedder(int8) is not shared_embedder(FP32)
    assert ingestion_embedder(int8) is not shared_embedder(int8)
    assert shared_embedder(int8).models_dir == int8.models_dir
    assert Embedder() is not shared_embedder()


def test_only_ingestion_embedders_take_the_worker_thread_cap(
    fresh_registry: EmbeddingSetup,
) -> None:
    capped = EmbeddingSetup(models_dir=fresh_registry.models_dir, threads=1)
    assert ingestion_embedder(capped).threads == 1
    assert shared_embedder(capped).threads == 0  # one query: every core


def test_setup_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedder="torch", worker_threads=3)
    setup = EmbeddingSetup.from_settings(settings)
    assert setup == EmbeddingSetup(DEFAULT_MODEL, "torch", tmp_path / "models", 3)
    assert Settings(data_dir=tmp_path).embedder == "onnx-int8"
    with pytest.raises(SettingsError, match="PROJECTQA_EMBEDDER"):
        load_settings(data_dir=tmp_path, embedder="fp16")


def test_embedder_named_gives_the_query_embedder_of_an_index(
    fresh_registry: EmbeddingSetup,
) -> None:
    """A server on int8 still queries an fp32 index (made before an upgrade) with fp32."""
    served = shared_embedder(fresh_registry)
    assert embedder_named(served.name) is served
    fp32 = embedder_named(DEFAULT_MODEL)
    assert fp32.kind == "torch" and fp32.name == DEFAULT_MODEL
    assert fp32 is embedder_named(DEFAULT_MODEL) and fp32 is not served
    assert fp32 is not ingestion_embedder(EmbeddingSetup(kind="torch"))  # queries only
    for name in ("bge-small-en", f"{DEFAULT_MODEL}@fp16", "other@onnx-int8"):
        with pytest.raises(UnknownEmbeddingModel, match="cannot be produced here"):
            embedder_named(name)


def test_embedder_named_knows_a_local_model_of_the_setup(
    fresh_registry: EmbeddingSetup, tmp_path: Path
) -> None:
    local = tmp_path / "my-model"
    served = shared_embedder(EmbeddingSetup(str(local), "torch"))
    assert embedder_named("my-model") is served
    assert embedder_named("my-model@onnx-int8").model == str(local)
    assert embedder_named(DEFAULT_MODEL).model == DEFAULT_MODEL  # the bundled one too


@pytest.mark.model
def test_encode_gives_normalised_float32_rows(embedder: Embedder) -> None:
    vectors = embedder.encode(["def add(a, b): return a + b", "the user's name", "x"])
    assert embedder.dimension == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


@pytest.mark.model
def test_batching_does_not_change_vectors(embedder: Embedder) -> None:
    texts = [f"def handler_{i}(request): return render(request, 'page{i}.html')" for i in range(9)]
    small_batches = Embedder(kind="torch", batch_size=2)
    small_batches._model = embedder._loaded()  # share the loaded weights, not a second copy
    np.testing.assert_allclose(small_batches.encode(texts), embedder.encode(texts), atol=1e-5)


@pytest.mark.model
def test_dense_search_ranks_the_right_chunk_first(
    embedder: Embedder, store: SqliteStore, index_root: Path
) -> None:
    corpus = Corpus(store)
    texts = {
        "db/connection.py": (
            "connect",
            "def connect(url):\n    # open a database connection pool to PostgreSQL\n"
            "    return psycopg.connect(url, autocommit=True)",
        ),
        "web/auth.py": (
            "check_password",
            "def check_password(user, password):\n"
            "    # compare the password hash in constant time\n"
            "    return hmac.compare_digest(user.hash, hash_password(password))",
        ),
        "ui/colors.py": (
            "blend",
            "def blend(a, b, t):\n    # mix two RGB colours for the theme\n"
            "    return tuple(x + (y - x) * t for x, y in zip(a, b))",
        ),
    }
    chunks = {}
    for path, (symbol, text) in texts.items():
        vector = embedder.encode([f"{path}\n{symbol}\n{text}"])[0]
        [chunks[path]] = corpus.add(path, [(symbol, text)], [vector], model=embedder.name)
    index = IndexManager(store, index_root, embedder.name).get(corpus.project_id)
    assert index.manifest.dimension == 384

    def top(question: str) -> str:
        return index.search_dense(embedder.encode([question])[0], 3)[0][0]

    assert top("how is the user's password verified?") == chunks["web/auth.py"].id
    assert top("where do we open the database connection?") == chunks["db/connection.py"].id
    assert top("colour mixing") == chunks["ui/colors.py"].id
