"""IndexManager: each project's index generation, built by workers and loaded by servers.

The Store's ``index_generation(project)`` counts changes to a project's chunks. A
generation is built once, by a worker, and published with a manifest that lists each
file's size and SHA-256 (``publish.py``); every server loads the newest published one.

- Worker side: ``get`` builds and publishes the generation the Store is at, unless it is
  published already (``ensure_published`` does the same without keeping the index in
  memory, which a worker does not search); ``stale_projects`` names the projects whose
  published generation is behind the Store (or missing, or refused), for a worker's
  reconciler to build; ``rebuild`` builds and publishes whatever is there
  (``projectqa reindex``).
- Server side: ``serving`` answers with the newest published generation it can load,
  loaded aside and swapped in by one reference assignment, so a query uses the whole of
  the generation it started with. It never rebuilds a stale generation: that is the
  workers' job. Only when nothing loadable exists (none published, or the only one
  refused, and nothing in memory) does it build, as a lone server must.
- A generation with a missing file, a wrong size or a bad checksum is refused: the one
  in memory keeps answering, a warning is logged, and the Store's generation is bumped
  once, which makes the published one stale so that a worker rebuilds it.
- A generation whose keyword index another tokenizer version built (an upgrade) is
  stale to workers by its manifest's ``tokenizer_version``, with no bump: they rebuild
  it at their next pass. Servers load it meanwhile without its keyword index (dense,
  symbols and the rest answer; ``ProjectIndex.keyword_unavailable`` says why) and
  look for the rebuilt one at each query, through the publication's cached view: no
  query waits for the rebuild. A generation of a *newer* tokenizer counts as current
  (this release may not replace it, see ``publish.py``).

A build that fails (any ``OSError``: a full disk, say) leaves published only what was
published before; ``stale_projects`` leaves the project out for ``BUILD_RETRY_S``, so a
worker does not retry it at every pass.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import StoreUnavailable
from ..store.base import Store
from ..store.mongo import MongoStore
from .dense import DENSE_EXACT_MAX_VECTORS
from .layout import GenerationRefused, IndexManifest, ManifestError, check_project_id
from .project import BuildInput, ProjectIndex, build_project_index
from .publish import DirectoryPublication, Publication
from .publish_gridfs import GridFSPublication
from .tokens import TOKENIZER_VERSION

log = logging.getLogger(__name__)

BUILD_RETRY_S = 30.0  # after a failed build, workers leave the project alone this long
PUBLICATIONS = ("auto", "directory", "gridfs")
# Tries to load the newest manifest while workers keep replacing it (each replacement
# deletes the files of the one before, which a reader may have been verifying).
OPEN_ATTEMPTS = 3

Accept = Callable[[IndexManifest], bool]


class IndexManager:
    """The per-project indexes of ``store``, published through ``publication`` (by default
    the directory ``root``).

    Thread-safe. One build per project at a time, also across processes (the
    publication's lock); callers of ``get`` that arrive during a build wait for its result.
    """

    def __init__(
        self,
        store: Store,
        root: Path,
        embedder_name: str,
        *,
        exact_max: int = DENSE_EXACT_MAX_VECTORS,
        clock: Callable[[], float] = time.monotonic,
        publication: Publication | None = None,
    ) -> None:
        self._store = store
        self._publication = publication or DirectoryPublication(root)
        self._model = embedder_name
        self._exact_max = exact_max
        self._clock = clock
        self._retry_at: dict[str, float] = {}  # project -> when a worker may build again
        self._refused: dict[str, str] = {}  # project -> directory of the generation refused
        self._loaded: dict[str, ProjectIndex] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ---------------------------------------------------------------- worker
    def get(self, project_id: str) -> ProjectIndex:
        """The generation the Store is at: from memory, else published, else built and
        published here."""
        check_project_id(project_id)
        generation = self._store.index_generation(project_id)
        loaded = self._loaded.get(project_id)
        if loaded is not None and self._is_current(loaded.manifest, generation):
            return loaded
        with self._lock(project_id):
            loaded = self._loaded.get(project_id)
            if loaded is None or not self._is_current(loaded.manifest, generation):
                current: Accept = lambda m: self._is_current(m, generation)  # noqa: E731
                try:
                    loaded = self._published_or_built(project_id, current)
                except OSError:
                    self._retry_at[project_id] = self._clock() + BUILD_RETRY_S
                    raise
                self._retry_at.pop(project_id, None)
                self._loaded[project_id] = loaded
            return loaded

    def ensure_published(self, project_id: str) -> IndexManifest:
        """What a worker needs of ``get`` without holding the index in memory: the
        generation the Store is at is published (built and published here if it is not);
        its manifest. The published files are not read: servers verify them."""
        check_project_id(project_id)
        generation = self._store.index_generation(project_id)
        with self._lock(project_id):
            published = self._published_current(project_id, generation)
            if published is not None:
                return published
            try:
                with self._publication.building(project_id):
                    # Another process may have published it while this one waited.
                    published = self._published_current(project_id, generation)
                    if published is None:
                        published = self._build_locked(project_id, force=False).manifest
            except Exception:  # out of space, bad vectors, a store outage: not every 5 s
                self._retry_at[project_id] = self._clock() + BUILD_RETRY_S
                raise
            self._retry_at.pop(project_id, None)
            self._loaded.pop(project_id, None)  # an older one, if ``get`` kept it
            return published

    def stale_projects(self) -> list[str]:
        """Projects whose published generation is behind the Store, built for another
        model, missing or refused: what a worker should ``get``. A project whose build
        failed is left out for ``BUILD_RETRY_S``."""
        generations = self._store.index_generations()
        now = self._clock()
        candidates = [
            project_id
            for project_id in sorted(generations)
            if now >= self._retry_at.get(project_id, -math.inf) and _is_safe(project_id)
        ]
        published = self._publication.latest_of(candidates)
        return [
            project_id
            for project_id in candidates
            if not self._is_published(
                project_id, published.get(project_id), generations[project_id]
            )
        ]

    def published_manifests(self, project_ids: list[str]) -> dict[str, IndexManifest]:
        """The newest published manifest of each of ``project_ids`` that has one."""
        return self._publication.latest_of([p for p in project_ids if _is_safe(p)])

    def rebuild(self, project_id: str) -> IndexManifest:
        """Build from the Store now, publish it (over any generation), and keep it."""
        check_project_id(project_id)
        with self._lock(project_id), self._publication.building(project_id):
            index = self._build_locked(project_id, force=True)
            self._loaded[project_id] = index
            return index.manifest

    # ---------------------------------------------------------------- server
    def serving(self, project_id: str, *, writing: bool = False) -> ProjectIndex:
        """The index to answer a query with: the newest published generation this process
        can load (a stale one too: workers rebuild it, not the serving process), whatever
        embedder built it: after a switch of embedder the old generation answers (its
        queries embedded by its own embedder, see retrieval/search.py) until a worker has
        re-embedded every chunk and publishes one of the new embedder.

        ``writing`` (a run is writing the project's chunks) changes nothing any more: a
        generation a worker publishes during a run is loaded like any other.
        """
        check_project_id(project_id)
        loaded = self._loaded.get(project_id)
        moved = loaded is None or (
            loaded.manifest.generation != self._store.index_generation(project_id)
        )
        if loaded is not None and not moved and not _rebuilding_for_tokenizer(loaded):
            return loaded  # nothing newer can have been published
        lock = self._lock(project_id)
        if not lock.acquire(blocking=loaded is None):
            assert loaded is not None
            return loaded  # another thread is loading the newer one: answer with this one
        try:
            # The Store moved past what is loaded: a cached view of the publication could
            # hide the generation a run published a moment ago. A rebuild for the
            # tokenizer is the same generation: the cached view finds it soon enough.
            return self._newest_loadable(project_id, fresh=moved)
        finally:
            lock.release()

    def manifest(self, project_id: str) -> IndexManifest | None:
        """The manifest of the generation served (or published), None if there is none."""
        loaded = self._loaded.get(project_id)
        if loaded is not None:
            return loaded.manifest
        try:
            return self._publication.latest(project_id)
        except (ManifestError, StoreUnavailable):
            return None

    def drop(self, project_id: str) -> None:
        """Forget the project and delete its generations (the project was deleted)."""
        check_project_id(project_id)
        with self._lock(project_id):
            self._loaded.pop(project_id, None)
            self._refused.pop(project_id, None)
            self._retry_at.pop(project_id, None)
            self._publication.drop(project_id)

    # ------------------------------------------------------------- internals
    def _newest_loadable(self, project_id: str, *, fresh: bool) -> ProjectIndex:
        """Caller holds the project's thread lock."""
        loaded = self._loaded.get(project_id)

        def newer(manifest: IndexManifest) -> bool:
            return loaded is None or manifest.dir != loaded.manifest.dir

        try:
            index = self._open_latest(project_id, newer, fresh=fresh)
        except StoreUnavailable:
            if loaded is None:
                raise
            log.warning(
                "index of project %s: publication unreachable, serving the loaded one", project_id
            )
            return loaded
        if index is not None:
            self._loaded[project_id] = index  # the swap: one reference assignment
            return index
        if loaded is not None:
            return loaded
        # Nothing loadable at all: build, as a lone server must (or wait for the build
        # a worker has under way, and load that, of whichever embedder).
        index = self._published_or_built(project_id, lambda m: True)
        self._loaded[project_id] = index
        return index

    def _published_or_built(self, project_id: str, accept: Accept) -> ProjectIndex:
        with self._publication.building(project_id):
            # Another process may have published it while this one waited for the lock.
            index = self._open_latest(project_id, accept)
            return index or self._build_locked(project_id, force=False)

    def _open_latest(
        self, project_id: str, accept: Accept, *, fresh: bool = False
    ) -> ProjectIndex | None:
        """The newest published generation, loaded, if ``accept`` takes it; None if there is
        none, it is refused now or was before."""
        manifest = self._latest(project_id, fresh=fresh)
        for _ in range(OPEN_ATTEMPTS):
            if manifest is None or not accept(manifest):
                return None
            if self._refused.get(project_id) == manifest.dir:
                return None
            try:
                return self._publication.open(project_id, manifest)
            except GenerationRefused as exc:
                newest = self._latest(project_id, fresh=True)
                if newest == manifest:
                    self._refuse(project_id, manifest, exc)
                    return None
                manifest = newest  # replaced (and its files deleted) while being read
        return None

    def _latest(self, project_id: str, *, fresh: bool = False) -> IndexManifest | None:
        try:
            return self._publication.latest(project_id, fresh=fresh)
        except ManifestError as exc:
            log.debug("index of project %s: nothing published to load (%s)", project_id, exc)
            return None

    def _refuse(self, project_id: str, manifest: IndexManifest, why: GenerationRefused) -> None:
        """Once per generation: keep serving what is loaded, and have workers rebuild."""
        self._refused[project_id] = manifest.dir
        log.warning(
            "index generation %d of project %s (%s) is refused, requesting a rebuild: %s",
            manifest.generation,
            project_id,
            manifest.dir,
            why,
        )
        try:
            self._store.bump_index_generation(project_id)
        except Exception:
            log.warning("could not request the rebuild of project %s", project_id, exc_info=True)

    def _build_locked(self, project_id: str, *, force: bool) -> ProjectIndex:
        # Read first: chunks written during the build then make the result stale.
        generation = self._store.index_generation(project_id)
        started = time.monotonic()
        previous = self._publication.previous(project_id)
        spec = BuildInput(generation, self._model, self._exact_max, previous)
        index = build_project_index(self._store, project_id, spec)
        index.manifest = self._publication.publish(project_id, index, force=force)
        took = time.monotonic() - started
        log.info(
            "built index of project %s in %.2fs: %s", project_id, took, _summary(index.manifest)
        )
        return index

    def _published_current(self, project_id: str, generation: int) -> IndexManifest | None:
        published = self._latest(project_id, fresh=True)
        if published is None or not self._is_published(project_id, published, generation):
            return None
        return published

    def _is_current(self, manifest: IndexManifest, generation: int) -> bool:
        if manifest.tokenizer_version > TOKENIZER_VERSION:
            return True  # a newer release's: this one may not replace it (see publish.py)
        return (
            manifest.generation >= generation
            and manifest.model == self._model
            and manifest.tokenizer_version == TOKENIZER_VERSION
        )

    def _is_published(
        self, project_id: str, manifest: IndexManifest | None, generation: int
    ) -> bool:
        return (
            manifest is not None
            and self._is_current(manifest, generation)
            and self._refused.get(project_id) != manifest.dir
        )

    def _lock(self, project_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(project_id, threading.Lock())


def _rebuilding_for_tokenizer(index: ProjectIndex) -> bool:
    """Whether workers are rebuilding ``index``'s generation for this release's tokenizer
    (it serves without keyword search meanwhile)."""
    return index.manifest.tokenizer_version < TOKENIZER_VERSION


def _is_safe(project_id: str) -> bool:
    try:
        check_project_id(project_id)
    except ValueError:
        return False
    return True


def _summary(manifest: IndexManifest) -> str:
    return (
        f"generation {manifest.generation} in {manifest.dir}, {manifest.chunks} chunks, "
        f"{manifest.vectors} vectors ({manifest.dense_kind}), {len(manifest.files)} files"
    )


def publication_for(store: Store, index_dir: Path, kind: str = "auto") -> Publication:
    """Where this deployment publishes generations: GridFS when the store is MongoDB
    (``auto``), else ``index_dir``. ``directory`` suits MongoDB deployments whose
    processes all share the data directory's volume."""
    if kind not in PUBLICATIONS:
        raise ValueError(f"index publication must be one of {', '.join(PUBLICATIONS)}: {kind!r}")
    if kind == "gridfs" and not isinstance(store, MongoStore):
        raise ValueError("index publication 'gridfs' needs the MongoDB store")
    if isinstance(store, MongoStore) and kind != "directory":
        return GridFSPublication(store.database, index_dir)
    return DirectoryPublication(index_dir)


def index_manager_for(
    store: Store,
    index_dir: Path,
    embedder_name: str,
    *,
    exact_max: int = DENSE_EXACT_MAX_VECTORS,
    publication: str = "auto",
) -> IndexManager:
    """The IndexManager of a server or worker process of this deployment."""
    return IndexManager(
        store,
        index_dir,
        embedder_name,
        exact_max=exact_max,
        publication=publication_for(store, index_dir, publication),
    )
