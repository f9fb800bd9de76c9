"""The embedder on the bundled all-MiniLM-L6-v2, and dense search over its vectors.

Tests that load the model are marked ``model`` (a few seconds per process).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from projectqa.server.embedding import (
    DEFAULT_MODEL,
    Embedder,
    UnknownEmbeddingModel,
    shared_embedder,
    vector_from_bytes,
    vector_to_bytes,
)
from projectqa.server.index import IndexManager
from projectqa.server.store import SqliteStore

from .conftest import Corpus


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


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
    assert Embedder().name == DEFAULT_MODEL
    assert Embedder(f"sentence-transformers/{DEFAULT_MODEL}").name == DEFAULT_MODEL
    assert Embedder(str(tmp_path / "my-model")).name == "my-model"
    with pytest.raises(UnknownEmbeddingModel, match="never downloaded"):
        Embedder("BAAI/bge-small-en").warm_up()
    with pytest.raises(UnknownEmbeddingModel):
        _ = Embedder(str(tmp_path / "missing-dir")).dimension


def test_shared_embedder_is_one_per_model() -> None:
    assert shared_embedder() is shared_embedder(DEFAULT_MODEL)
    assert shared_embedder(f"sentence-transformers/{DEFAULT_MODEL}") is shared_embedder()
    assert Embedder() is not shared_embedder()


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
    small_batches = Embedder(batch_size=2)
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
