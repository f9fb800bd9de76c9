"""The int8 ONNX Runtime encoder, and its build cached in the data directory.

A sentence-transformers folder (the bundled all-MiniLM-L6-v2, or a local one made of a
Transformer, mean Pooling and optionally Normalize) is exported once by
``embedding_export`` in a child process and cached under
``<data_dir>/models/<name>-<key>/model.onnx``. The key digests everything the file
depends on: the model's name and weights, the export recipe, and the versions of
torch, transformers, onnx and onnxruntime. Any number of processes may start at once:
one builds under a file lock into a temporary folder renamed into place; the others
wait for it and then load the same file. A build whose file no longer matches the
digest recorded beside it is rebuilt. Builds are also shared through the user's cache
(``$XDG_CACHE_HOME/projectqa/models``), so a new data directory copies one instead of
exporting again.

Inference needs only onnxruntime and tokenizers (no torch): texts are tokenized with
the model's ``tokenizer.json``, truncated at its ``max_seq_length``, sorted by length and
run in batches padded to their longest text.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import EmbedderUnavailable

log = logging.getLogger(__name__)

KIND = "onnx-int8"
# What embedding_export does; change it with anything there that changes model.onnx
# (it is part of the cache key, so builds made the old way are not reused).
RECIPE = "torchscript-opset17/mean-pool-l2/ort-bert-fusion/dynamic-uint8-per-channel/v2"
MODEL_FILE = "model.onnx"
BUILD_FILE = "build.json"  # written last: a folder without it was never finished
EXPORT_TIMEOUT_S = 1800.0
FALLBACK_HINT = "or set PROJECTQA_EMBEDDER=torch to embed with fp32 PyTorch"
_LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json")


@dataclass(frozen=True, slots=True)
class SentenceModel:
    """What the export and the tokenizer need from a sentence-transformers folder."""

    name: str  # the embedder's model name (cache folder prefix)
    transformer_dir: Path  # config, weights and tokenizer.json of the Transformer module
    max_seq_length: int  # word pieces kept per text, special tokens included


def read_sentence_model(root: Path, name: str) -> SentenceModel:
    """The Transformer module of ``root``; ``EmbedderUnavailable`` if the int8 embedder
    cannot reproduce its pipeline (another pooling, extra modules, no tokenizer.json)."""
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            raise ValueError(f"modules {kinds}, not Transformer, Pooling[, Normalize]")
        pooling = json.loads((root / modules[1]["path"] / "config.json").read_text("utf-8"))
        if (
            not pooling.get("pooling_mode_mean_tokens")
            or sum(bool(v) for k, v in pooling.items() if k.startswith("pooling_mode")) != 1
        ):
            raise ValueError("its pooling is not mean pooling alone")
        transformer_dir = root / modules[0]["path"]
        if not (transformer_dir / "tokenizer.json").is_file():
            raise ValueError("it has no tokenizer.json")
        return SentenceModel(name, transformer_dir, _max_seq_length(transformer_dir))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise EmbedderUnavailable(
            f"the {KIND} embedder cannot run model {name!r} ({exc}); {FALLBACK_HINT}"
        ) from None


def _max_seq_length(transformer_dir: Path) -> int:
    config = json.loads((transformer_dir / "config.json").read_text(encoding="utf-8"))
    limit = int(config.get("max_position_embeddings", 512))
    settings = transformer_dir / "sentence_bert_config.json"
    if settings.is_file():
        wanted = json.loads(settings.read_text(encoding="utf-8")).get("max_seq_length")
        if wanted:
            return min(int(wanted), limit)
    return limit


def require_onnxruntime() -> Any:
    """The onnxruntime module, or ``EmbedderUnavailable`` saying what to do."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"PROJECTQA_EMBEDDER={KIND} needs onnxruntime ({exc}): install it "
            f"(pip install onnxruntime onnx), {FALLBACK_HINT}"
        ) from None
    return onnxruntime


# ------------------------------------------------------------------- build cache


def built_model_file(model: SentenceModel, models_dir: Path) -> Path:
    """``model.onnx`` of ``model``, exported and quantised first if no intact build exists."""
    parts = _key_parts(model)
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    target = models_dir / f"{_folder_safe(model.name)}-{key}"
    if not _intact(target):
        models_dir.mkdir(parents=True, exist_ok=True)
        with _locked(models_dir / f".{target.name}.lock"):
            if not _intact(target):  # another process may have built it meanwhile
                _remove_leftovers(target)
                shared = user_cache_dir() / target.name
                if not (_owned_by_me(shared) and _copied(shared, target)):
                    _build(model, target, parts)
                    _share(target, shared)
    return target / MODEL_FILE


def user_cache_dir() -> Path:
    """Where builds are shared between data directories of one user (each new data
    directory would otherwise export again: ~20 s): ``$XDG_CACHE_HOME/projectqa/models``."""
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache_home) if Path(cache_home).is_absolute() else Path.home() / ".cache"
    return base / "projectqa" / "models"


def _copied(source: Path, target: Path) -> bool:
    """Copy the intact build ``source`` to ``target`` (renamed into place; the caller
    holds ``target``'s lock). False when there is none, or it cannot be copied."""
    if not _intact(source):
        return False
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        for name in (MODEL_FILE, BUILD_FILE):  # the build record last
            shutil.copyfile(source / name, work / name)
            _fsync(work / name)
        if not _intact(work):  # it changed while being copied
            return False
        _replace_folder(work, target)
        return True
    except OSError as exc:
        log.warning(
            "cannot copy an int8 model build", extra={"from": str(source), "error": str(exc)}
        )
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _owned_by_me(shared: Path) -> bool:
    """Whether a shared build may be trusted: it, its files and the cache folder are this
    user's, no symbolic link, and nobody else may write them (XDG_CACHE_HOME may point at
    a shared volume, where another user could plant a model that poisons every vector)."""
    paths = [shared.parent, shared, shared / MODEL_FILE, shared / BUILD_FILE]
    try:
        for path in paths:
            info = path.lstat()
            if (
                stat.S_ISLNK(info.st_mode)
                or info.st_uid != os.getuid()
                or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            ):
                log.warning("not using the shared int8 model build: %s is not this user's", path)
                return False
    except OSError:
        return False  # nothing shared (yet)
    return True


def _share(build: Path, shared: Path) -> None:
    """Best effort: a read-only or full cache only means the next data directory builds."""
    try:
        shared.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if shared.exists() and not _owned_by_me(shared):
            return
        with _locked(shared.parent / f".{shared.name}.lock"):
            if not _intact(shared):
                _remove_leftovers(shared)
                _copied(build, shared)
    except OSError as exc:
        log.warning(
            "cannot share the int8 model build", extra={"to": str(shared), "error": str(exc)}
        )


def _remove_leftovers(target: Path) -> None:
    """Folders of builds that died (killed mid-export): only the lock holder builds, so
    under the lock any such folder is abandoned."""
    for stale in target.parent.glob(f".{target.name}.*-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _key_parts(model: SentenceModel) -> dict[str, str]:
    versions = {lib: _version(lib) for lib in _LIBRARIES}
    return {
        "model": model.name,
        "weights": weights_digest(model.transformer_dir),
        "recipe": RECIPE,
        **versions,
    }


def _version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        raise EmbedderUnavailable(
            f"PROJECTQA_EMBEDDER={KIND} needs {library} to build its model: install it, "
            f"{FALLBACK_HINT}"
        ) from None


def weights_digest(transformer_dir: Path) -> str:
    """SHA-256 over the model's weights and config (remembered per file size and mtime)."""
    files = [transformer_dir / n for n in _WEIGHT_FILES if (transformer_dir / n).is_file()]
    stats = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _digest_of(stats)


@functools.cache
def _digest_of(stats: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _, _ in stats:
        digest.update(Path(path).name.encode() + b"\0" + _file_digest(Path(path)).encode())
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _folder_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _intact(target: Path) -> bool:
    """The build in ``target`` is finished and its model file unchanged since."""
    try:
        build = json.loads((target / BUILD_FILE).read_text(encoding="utf-8"))
        return bool(build["sha256"] == _file_digest(target / MODEL_FILE))
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock between processes (and between threads: each opens its own)."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(model: SentenceModel, target: Path, parts: dict[str, str]) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        started = time.monotonic()
        run_export(model, work)
        model_file = work / MODEL_FILE
        build = {
            **parts,
            "sha256": _file_digest(model_file),
            "bytes": model_file.stat().st_size,
            "export_s": round(time.monotonic() - started, 1),
        }
        _write_durably(work / BUILD_FILE, json.dumps(build, indent=2))
        _fsync(model_file)
        _replace_folder(work, target)
        log.info("built the int8 ONNX embedding model", extra={"path": str(target), **build})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_export(model: SentenceModel, out_dir: Path) -> None:
    """Export and quantise in a child process; ``EmbedderUnavailable`` when it fails."""
    command = [sys.executable, "-m", "projectqa.server.embedding_export"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        subprocess.run(
            [*command, str(model.transformer_dir), str(out_dir), str(os.getpid())],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=EXPORT_TIMEOUT_S,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = exc.stderr or ""
        text = output.decode(errors="replace") if isinstance(output, bytes) else output
        detail = text.strip().splitlines()[-1:] or [str(exc)]
        raise EmbedderUnavailable(
            f"building the {KIND} model of {model.name!r} failed: {detail[0]}; {FALLBACK_HINT}"
        ) from None
    if not (out_dir / MODEL_FILE).is_file():
        raise EmbedderUnavailable(f"the {KIND} export wrote no {MODEL_FILE}; {FALLBACK_HINT}")


def _write_durably(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    _fsync(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_folder(built: Path, target: Path) -> None:
    """Move ``built`` to ``target`` in one rename, a damaged ``target`` set aside first."""
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.damaged-", dir=target.parent))
        os.rename(target, aside / "build")
        shutil.rmtree(aside, ignore_errors=True)
    os.rename(built, target)


# --------------------------------------------------------------------- inference


class OnnxEncoder:
    """Sentence embeddings of one ONNX model file, with the model's own tokenizer."""

    def __init__(self, model: SentenceModel, model_file: Path, *, threads: int = 0) -> None:
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(threads, 0)  # 0: one per core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Threads give their cores back between parallel sections instead of spinning on
        # them (what OMP_WAIT_POLICY=PASSIVE does for torch in a worker process). For
        # ingestion, and for queries too: on a busy machine a query's spinning threads
        # slowed the stages after it (2,000-character reports at 100k chunks beside a
        # CPU burner: p50 41-61 -> 30-32 ms, p99 92-129 -> 51-59 ms; a wash when quiet).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = model_tokenizer(model)
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self.dimension = len(self._run([self._tokenizer.encode("")])[0])

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit vectors, in the order of ``texts``; batches of similar length."""
        # sentence-transformers strips texts before tokenizing them.
        encodings = self._tokenizer.encode_batch([text.strip() for text in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            vectors[rows] = self._run([encodings[i] for i in rows])
        return vectors

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        output = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        return np.asarray(output[0], dtype=np.float32)


def model_tokenizer(model: SentenceModel, *, truncate: bool = True) -> Any:
    """The model's tokenizer: truncating as sentence-transformers does, never padding
    (``OnnxEncoder`` pads each batch to its longest text)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model.transformer_dir / "tokenizer.json"))
    tokenizer.no_padding()  # the bundled file pads everything to 128
    if truncate:
        tokenizer.enable_truncation(max_length=model.max_seq_length)
    else:
        tokenizer.no_truncation()
    return tokenizer


def onnx_encoder(model: SentenceModel, models_dir: Path, threads: int) -> OnnxEncoder:
    """The encoder of ``model``, its ONNX file built into ``models_dir`` if needed."""
    require_onnxruntime()
    try:
        model_file = built_model_file(model, models_dir)
    except OSError as exc:  # a full disk, a folder it may not write: no path in the message
        reason = exc.strerror or type(exc).__name__
        raise EmbedderUnavailable(
            f"the {KIND} model could not be built or read ({reason}); {FALLBACK_HINT}"
        ) from exc
    try:
        return OnnxEncoder(model, model_file, threads=threads)
    except EmbedderUnavailable:
        raise
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EmbedderUnavailable(
            f"onnxruntime cannot load the {KIND} model of {model.name!r}; {FALLBACK_HINT}"
        ) from exc
