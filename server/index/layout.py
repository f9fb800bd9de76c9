"""On-disk layout of one project's indexes, and the crash-safe way to change it.

::

    <index_root>/<project_id>/
        manifest.json        names the generation directory being served (written last)
        g<N>-<random>/       a complete generation: see ``ProjectIndex.save``
        .build-<random>/     a generation being written (a crash leaves it behind)
        .lock                serialises rebuilds between processes sharing the directory

A generation is written into a ``.build-*`` directory, every file and the
directory are fsynced, the directory is renamed to ``g<N>-<random>``, and only
then is the manifest replaced (temp file, fsync, ``os.replace``, fsync of the
parent). A crash at any point leaves either the old manifest pointing at a
complete old generation, or the new one pointing at a complete new generation;
whatever the manifest does not name is garbage for ``remove_unnamed``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"
BUILD_PREFIX = ".build-"


class ManifestError(Exception):
    """The manifest is missing, unreadable or not in a format this code knows."""


@dataclass(frozen=True, slots=True)
class IndexManifest:
    """What a project's served generation was built from, and how."""

    generation: int  # Store.index_generation(project) read before the build started
    dir: str  # the generation directory, relative to the project directory
    model: str  # embedder name whose cached vectors were indexed
    dimension: int  # vector dimension (0 when no chunk had a vector)
    dense_kind: str  # DenseKind value
    chunks: int  # chunks in the keyword index (every chunk of the project)
    vectors: int  # chunks in the dense index (those with a vector under ``model``)
    built_at: str  # ISO 8601, UTC
    format: int = MANIFEST_FORMAT


def read_manifest(project_dir: Path) -> IndexManifest:
    """The manifest of ``project_dir``; ``ManifestError`` if absent or not usable."""
    try:
        data = json.loads((project_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        manifest = IndexManifest(**data)
    except FileNotFoundError as exc:
        raise ManifestError("no manifest") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ManifestError(f"unreadable manifest: {exc}") from exc
    if manifest.format != MANIFEST_FORMAT:
        raise ManifestError(f"manifest format {manifest.format} is not {MANIFEST_FORMAT}")
    if not manifest.dir.startswith("g") or "/" in manifest.dir or manifest.dir in (".", ".."):
        raise ManifestError(f"manifest names an invalid directory {manifest.dir!r}")
    return manifest


def write_manifest(project_dir: Path, manifest: IndexManifest) -> None:
    """Replace the manifest atomically and durably."""
    write_json_atomic(project_dir / MANIFEST_NAME, asdict(manifest))


def write_json_atomic(path: Path, data: Any) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def new_build_dir(project_dir: Path) -> Path:
    path = project_dir / f"{BUILD_PREFIX}{secrets.token_hex(6)}"
    path.mkdir(parents=True)
    return path


def publish_build(build_dir: Path, generation: int) -> str:
    """Make a finished build durable and give it its generation name; return the name."""
    fsync_tree(build_dir)
    name = f"g{generation}-{secrets.token_hex(6)}"
    os.rename(build_dir, build_dir.parent / name)
    fsync_dir(build_dir.parent)
    return name


def remove_unnamed(project_dir: Path, keep: str | None) -> None:
    """Delete every generation and build directory but ``keep``.

    Callers hold the project lock, so no build of this or another process is
    in progress. Loaded indexes live in memory, so deleting files a reader
    loaded from is harmless.
    """
    for entry in project_dir.iterdir():
        if entry.name == keep or not entry.is_dir():
            continue
        if entry.name.startswith(("g", BUILD_PREFIX)):
            shutil.rmtree(entry, ignore_errors=True)
    for entry in project_dir.glob(f".{MANIFEST_NAME}.*.tmp"):
        entry.unlink(missing_ok=True)


@contextlib.contextmanager
def project_lock(project_dir: Path) -> Iterator[None]:
    """Exclusive across processes (flock); threads are serialised by the caller."""
    project_dir.mkdir(parents=True, exist_ok=True)
    with open(project_dir / ".lock", "a") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def fsync_tree(directory: Path) -> None:
    for root, _dirs, files in os.walk(directory):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
