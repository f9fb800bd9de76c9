"""On-disk layout of one project's indexes, and the crash-safe way to change it.

::

    <index_root>/<project_id>/
        manifest.json        names the generation directory being served and lists each of
                             its files with size and SHA-256 (written last)
        g<N>-<random>/       a complete generation: see ``ProjectIndex.save``
        .build-<random>/     a generation being written (a crash leaves it behind)
        .lock                serialises rebuilds between processes sharing the directory

A generation is written into a ``.build-*`` directory, every file and the
directory are fsynced, the directory is renamed to ``g<N>-<random>``, and only
then is the manifest replaced (temp file, fsync, ``os.replace``, fsync of the
parent). A crash at any point leaves either the old manifest pointing at a
complete old generation, or the new one pointing at a complete new generation;
whatever the manifest does not name is garbage for ``remove_unnamed``.

The checksums let a reader in another process, or on another host that downloaded
the files, tell a complete generation from a damaged one before loading it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# 2: every file listed with its size and SHA-256. A format 1 manifest has no checksums,
# so its generation cannot be verified: it counts as missing and is rebuilt.
MANIFEST_FORMAT = 2
MANIFEST_NAME = "manifest.json"
BUILD_PREFIX = ".build-"

# Project ids become directory names; anything else is refused before touching disk.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
# A listed file: relative, '/'-separated, no empty, '.' or '..' component (it names a
# path to write when a generation is downloaded).
_SAFE_PATH = re.compile(r"(?!\.\.?(/|$))[A-Za-z0-9._-]+(/(?!\.\.?(/|$))[A-Za-z0-9._-]+)*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_READ_SIZE = 1 << 20


class ManifestError(Exception):
    """The manifest is missing, unreadable or not in a format this code knows."""


class GenerationRefused(Exception):
    """A published generation's files are missing, or differ from what its manifest lists."""


class NewerTokenizerPublished(Exception):
    """The published generation was built by a newer tokenizer than this code's: this
    process may not replace it with one of its own (a newer release is running)."""


@dataclass(frozen=True, slots=True)
class FileSum:
    """One file of a generation, as the build wrote it."""

    path: str  # relative to the generation directory, '/'-separated
    size: int
    sha256: str  # hex digest


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
    files: tuple[FileSum, ...] = ()  # every file of the generation directory, by path
    format: int = MANIFEST_FORMAT
    # Which keyword tokens the generation holds (tokens.TOKENIZER_VERSION; 1: unstemmed,
    # 0: unknown). Not in the manifest's JSON: the releases before it refuse a manifest
    # with a key they do not know, and would rebuild over it. The publication records
    # it beside the manifest instead (publish.py, publish_gridfs.py); so two manifests
    # are equal when their JSON is.
    tokenizer_version: int = field(default=1, compare=False)


def manifest_from_json(data: Any) -> IndexManifest:
    """The manifest ``manifest_to_json`` wrote; ``ManifestError`` if it is not one this code
    can verify and load."""
    if not isinstance(data, dict):
        raise ManifestError("unreadable manifest: not an object")
    if data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"manifest format {data.get('format')} is not {MANIFEST_FORMAT}")
    try:
        files = tuple(FileSum(**entry) for entry in data["files"])
        # Keys this code does not know are left out: a later release may add some.
        known = {key: value for key, value in data.items() if key in _MANIFEST_KEYS}
        manifest = IndexManifest(**{**known, "files": files})
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"unreadable manifest: {exc}") from exc
    _check(manifest)
    return manifest


def manifest_to_json(manifest: IndexManifest) -> dict[str, Any]:
    written = asdict(manifest)
    del written["tokenizer_version"]  # recorded beside the manifest, see IndexManifest
    return written


_MANIFEST_KEYS = frozenset(IndexManifest.__dataclass_fields__) - {"tokenizer_version"}


def _check(manifest: IndexManifest) -> None:
    if not manifest.dir.startswith("g") or "/" in manifest.dir or manifest.dir in (".", ".."):
        raise ManifestError(f"manifest names an invalid directory {manifest.dir!r}")
    if not manifest.files:
        raise ManifestError("manifest lists no files")
    for entry in manifest.files:
        if not (
            isinstance(entry.path, str)
            and _SAFE_PATH.fullmatch(entry.path)
            and isinstance(entry.size, int)
            and entry.size >= 0
            and isinstance(entry.sha256, str)
            and _SHA256.fullmatch(entry.sha256)
        ):
            raise ManifestError(f"manifest lists an invalid file {entry!r}")


def read_manifest(project_dir: Path) -> IndexManifest:
    """The manifest of ``project_dir``; ``ManifestError`` if absent or not usable."""
    try:
        data = json.loads((project_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError("no manifest") from exc
    except (OSError, ValueError) as exc:
        raise ManifestError(f"unreadable manifest: {exc}") from exc
    return manifest_from_json(data)


def write_manifest(project_dir: Path, manifest: IndexManifest) -> None:
    """Replace the manifest atomically and durably."""
    write_json_atomic(project_dir / MANIFEST_NAME, manifest_to_json(manifest))


def project_dir(root: Path, project_id: str) -> Path:
    """The directory of a project's indexes under ``root``; ValueError for an unsafe id."""
    check_project_id(project_id)
    return root / project_id


def check_project_id(project_id: str) -> None:
    if not _SAFE_ID.fullmatch(project_id):
        raise ValueError(f"project id {project_id!r} cannot name an index directory")


def sum_files(directory: Path) -> tuple[FileSum, ...]:
    """Size and SHA-256 of every file below ``directory``, by relative path."""
    sums = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            with open(path, "rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
                size = os.fstat(file.fileno()).st_size
            sums.append(FileSum(path.relative_to(directory).as_posix(), size, digest))
    return tuple(sums)


def verify_files(directory: Path, files: Iterable[FileSum]) -> None:
    """``GenerationRefused`` unless every listed file is in ``directory`` as listed."""
    for entry in files:
        try:
            with open(directory / entry.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size != entry.size:
                    raise GenerationRefused(f"{entry.path} has {size} bytes, not {entry.size}")
                digest = hashlib.file_digest(file, "sha256").hexdigest()
        except FileNotFoundError:
            raise GenerationRefused(f"{entry.path} is missing") from None
        if digest != entry.sha256:
            raise GenerationRefused(f"{entry.path} does not match its SHA-256")


def copy_verified(source: Any, target: Path, entry: FileSum) -> None:
    """Write ``source`` (a binary stream) to ``target``; ``GenerationRefused`` unless it
    holds exactly the listed file."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as file:
        while block := source.read(_READ_SIZE):
            digest.update(block)
            size += len(block)
            file.write(block)
    if size != entry.size:
        raise GenerationRefused(f"{entry.path} has {size} bytes, not {entry.size}")
    if digest.hexdigest() != entry.sha256:
        raise GenerationRefused(f"{entry.path} does not match its SHA-256")


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


def generation_name(generation: int) -> str:
    """A new generation directory's name: unique, so no two builds ever share one."""
    return f"g{generation}-{secrets.token_hex(6)}"


def publish_build(build_dir: Path, name: str) -> None:
    """Make a finished build durable and give it its generation ``name``; on failure
    nothing is left under that name."""
    fsync_tree(build_dir)
    target = build_dir.parent / name
    os.rename(build_dir, target)
    try:
        fsync_dir(build_dir.parent)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


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
def project_lock(project_dir: Path, name: str = ".lock") -> Iterator[None]:
    """Exclusive across processes (flock); threads are serialised by the caller."""
    project_dir.mkdir(parents=True, exist_ok=True)
    with open(project_dir / name, "a") as file:
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
