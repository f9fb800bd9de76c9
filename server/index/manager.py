"""IndexManager: per-project indexes, loaded lazily, rebuilt whenever they are stale.

The Store's ``index_generation(project)`` counts changes to a project's chunks.
A served index is current when its manifest names that generation and the
embedder whose vectors it holds; ``get`` checks this on every call (one cheap
Store read), so an index built by a crashed run, by an older model, or before
another replica's ingestion is noticed and rebuilt before it answers.

A build that fails for lack of space (any ``OSError``) leaves on disk only what the
manifest names, and queries go on with the last good generation; the build is tried
again after ``BUILD_RETRY_S``, not at every query.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..store.base import Store
from .dense import DENSE_EXACT_MAX_VECTORS
from .layout import (
    IndexManifest,
    ManifestError,
    new_build_dir,
    project_lock,
    publish_build,
    read_manifest,
    remove_unnamed,
    write_manifest,
)
from .project import BuildInput, ProjectIndex, build_project_index

log = logging.getLogger(__name__)

# Project ids become directory names; anything else is refused before touching disk.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
BUILD_RETRY_S = 30.0  # after a failed build, queries use the last good generation this long


class IndexManager:
    """The per-project indexes under ``root``, kept in step with ``store``.

    Thread-safe. One build per project at a time, also across processes sharing
    ``root``; callers of ``get`` that arrive during a build wait for its result.
    """

    def __init__(
        self,
        store: Store,
        root: Path,
        embedder_name: str,
        *,
        exact_max: int = DENSE_EXACT_MAX_VECTORS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._root = Path(root)
        self._model = embedder_name
        self._exact_max = exact_max
        self._clock = clock
        self._retry_at: dict[str, float] = {}  # project -> when to try a failed build again
        self._loaded: dict[str, ProjectIndex] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def get(self, project_id: str) -> ProjectIndex:
        """The project's current indexes: from memory, else disk, else rebuilt from the Store."""
        generation = self._store.index_generation(project_id)
        loaded = self._loaded.get(project_id)
        if loaded is not None and self._is_current(loaded.manifest, generation):
            return loaded
        with self._lock(project_id):
            loaded = self._loaded.get(project_id)
            if loaded is None or not self._is_current(loaded.manifest, generation):
                loaded = self._load_or_build(project_id, generation)
                self._loaded[project_id] = loaded
            return loaded

    def serving(self, project_id: str, *, writing: bool) -> ProjectIndex:
        """The index to answer a query with.

        While a run is ``writing`` the project's chunks, the generation moves with
        every batch: rebuilding for each query would thrash, so the generation
        already loaded (or on disk, if built for this model) answers as it is, and
        the run's own end-of-run build replaces it. Otherwise, as ``get``, but when
        the build fails for lack of space the last good generation answers.
        """
        if not writing and self._clock() >= self._retry_at.get(project_id, -math.inf):
            return self._current_or_last_good(project_id)
        loaded = self._loaded.get(project_id)
        if loaded is not None:
            return loaded
        with self._lock(project_id):
            loaded = self._last_good(project_id)
            if loaded is None:  # nothing built yet: the first generation
                loaded = self._build(project_id)
                self._loaded[project_id] = loaded
            return loaded

    def rebuild(self, project_id: str) -> IndexManifest:
        """Rebuild from the Store now, publish it, and serve it from memory."""
        with self._lock(project_id):
            index = self._build(project_id)
            self._loaded[project_id] = index
            return index.manifest

    def manifest(self, project_id: str) -> IndexManifest | None:
        """The manifest of the generation served (or on disk), None if there is none."""
        loaded = self._loaded.get(project_id)
        if loaded is not None:
            return loaded.manifest
        try:
            return read_manifest(self._project_dir(project_id))
        except ManifestError:
            return None

    def drop(self, project_id: str) -> None:
        """Forget the project and delete its files (the project was deleted)."""
        with self._lock(project_id):
            self._loaded.pop(project_id, None)
            shutil.rmtree(self._project_dir(project_id), ignore_errors=True)

    # ------------------------------------------------------------ internals
    def _current_or_last_good(self, project_id: str) -> ProjectIndex:
        try:
            index = self.get(project_id)
        except OSError as exc:  # out of space, say; the old generation is right for its chunks
            with self._lock(project_id):
                last_good = self._last_good(project_id)
            if last_good is None:
                raise
            self._retry_at[project_id] = self._clock() + BUILD_RETRY_S
            log.warning(
                "index of project %s could not be built, serving generation %d: %s",
                project_id,
                last_good.manifest.generation,
                exc,
            )
            return last_good
        self._retry_at.pop(project_id, None)
        return index

    def _last_good(self, project_id: str) -> ProjectIndex | None:
        """The generation in memory, else the one on disk built for this model, current or
        not; None if there is neither. The caller holds the project's thread lock."""
        loaded = self._loaded.get(project_id)
        if loaded is None:
            with project_lock(self._project_dir(project_id)):
                loaded = self._load(project_id, None)
            if loaded is not None:
                self._loaded[project_id] = loaded
        return loaded

    def _is_current(self, manifest: IndexManifest, generation: int) -> bool:
        return manifest.generation == generation and manifest.model == self._model

    def _lock(self, project_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(project_id, threading.Lock())

    def _project_dir(self, project_id: str) -> Path:
        if not _SAFE_ID.fullmatch(project_id):
            raise ValueError(f"project id {project_id!r} cannot name an index directory")
        return self._root / project_id

    def _load(self, project_id: str, generation: int | None) -> ProjectIndex | None:
        """The generation on disk if it is current (any generation when None) and
        intact, else None."""
        project_dir = self._project_dir(project_id)
        try:
            manifest = read_manifest(project_dir)
        except ManifestError as exc:
            log.info("index of project %s needs a build: %s", project_id, exc)
            return None
        if not self._is_current(
            manifest, manifest.generation if generation is None else generation
        ):
            log.info(
                "index of project %s is stale (generation %d, store at %d, model %s)",
                project_id,
                manifest.generation,
                generation,
                manifest.model,
            )
            return None
        try:
            return ProjectIndex.load(project_dir / manifest.dir, manifest)
        # A cache: any damage (missing file, truncated FAISS file, bad JSON) means rebuild.
        except Exception as exc:
            log.warning("index of project %s is damaged, rebuilding: %s", project_id, exc)
            return None

    def _load_or_build(self, project_id: str, generation: int) -> ProjectIndex:
        with project_lock(self._project_dir(project_id)):
            # Another process sharing the directory may have just built it.
            return self._load(project_id, generation) or self._build_locked(project_id)

    def _build(self, project_id: str) -> ProjectIndex:
        with project_lock(self._project_dir(project_id)):
            return self._build_locked(project_id)

    def _build_locked(self, project_id: str) -> ProjectIndex:
        project_dir = self._project_dir(project_id)
        # Read first: chunks written during the build then make the result stale.
        generation = self._store.index_generation(project_id)
        spec = BuildInput(generation, self._model, self._exact_max, _served_dir(project_dir))
        index = build_project_index(self._store, project_id, spec)
        build_dir = new_build_dir(project_dir)
        try:
            index.save(build_dir)
            name = publish_build(build_dir, spec.generation)
            index.manifest = dataclasses.replace(index.manifest, dir=name)
            write_manifest(project_dir, index.manifest)
        except BaseException:
            # A full disk, say: keep only what the manifest names (complete, the last
            # good generation, or this one if the manifest was replaced before the
            # failure) and give back the space this attempt took.
            served = _served_dir(project_dir)
            remove_unnamed(project_dir, keep=served.name if served else None)
            raise
        remove_unnamed(project_dir, keep=name)
        log.info("built index of project %s: %s", project_id, index.manifest)
        return index


def _served_dir(project_dir: Path) -> Path | None:
    """The generation the manifest names, stale or not: its tokens are still reusable."""
    try:
        return project_dir / read_manifest(project_dir).dir
    except ManifestError:
        return None
