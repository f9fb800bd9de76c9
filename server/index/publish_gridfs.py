"""Index generations published in MongoDB's GridFS, for replicas that share no disk.

In the database beside the store::

    index_files.files/.chunks  GridFS bucket: one file per generation file, its metadata
                               {project, dir, path, uploaded_at}
    index_manifests            one document per project: {_id: project, generation,
                               manifest, retired: [{dir, at}]}
    index_build_leases         {_id: project, owner, expires_at}: one build at a time

A worker uploads a generation's files, then replaces the project's manifest document
with a compare-and-set on ``generation``: an older build never replaces a newer one
(``force`` does, for an operator's rebuild). The generation it replaced is ``retired``
and its files are deleted ``grace_s`` later, so a server still downloading it finishes;
files nobody published (a build that lost or crashed) go the same way, counted from
their upload.

A server reads the manifest document (cached for ``manifest_ttl_s``, so a query costs
no round trip), downloads the files into its index directory, which is only a cache
here, checks each against the manifest while writing it, and loads it. Processes on one
host sharing that directory take its ``.cache-lock`` for downloading, loading and
pruning, and its ``.lock`` (with the lease) for building.

Times are the wall clocks of the hosts: skew between them shortens or lengthens a lease
or a grace period, which costs a duplicate build or an early delete (the server then
finds the manifest moved on and loads the new one); correctness rests on the
compare-and-set and on the checksums, not on time.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..errors import StoreUnavailable
from .layout import (
    GenerationRefused,
    IndexManifest,
    ManifestError,
    copy_verified,
    manifest_from_json,
    manifest_to_json,
    new_build_dir,
    project_dir,
    project_lock,
    publish_build,
    remove_unnamed,
    verify_files,
)
from .project import ProjectIndex
from .publish import load_generation, write_build

log = logging.getLogger(__name__)

FILES_BUCKET = "index_files"
MANIFESTS = "index_manifests"
LEASES = "index_build_leases"
MANIFEST_TTL_S = 2.0  # how stale a server's view of the newest manifest may be
GRACE_S = 600.0  # a replaced generation's files stay this long for servers downloading it
LEASE_S = 900.0  # a build lease nobody released (its worker died) expires after this
LEASE_POLL_S = 0.2
CACHE_LOCK = ".cache-lock"

Doc = dict[str, Any]


@contextlib.contextmanager
def _mongo() -> Iterator[None]:
    try:
        yield
    except (NoFile, CorruptGridFile, DuplicateKeyError):
        raise  # answers, not outages: callers handle them
    except PyMongoError as exc:
        # Never str(exc): it may name hosts.
        raise StoreUnavailable(f"MongoDB is unavailable ({type(exc).__name__})") from exc


class GridFSPublication:
    """Generations published in GridFS; ``cache_root`` holds this host's local copies."""

    def __init__(
        self,
        database: Database[Doc],
        cache_root: Path,
        *,
        manifest_ttl_s: float = MANIFEST_TTL_S,
        grace_s: float = GRACE_S,
        lease_s: float = LEASE_S,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket = GridFSBucket(database, bucket_name=FILES_BUCKET)
        self._manifests = database.get_collection(MANIFESTS)
        self._leases = database.get_collection(LEASES)
        self.root = Path(cache_root)
        self._ttl, self._grace, self._lease_s = manifest_ttl_s, grace_s, lease_s
        self._wall, self._monotonic, self._sleep = wall, monotonic, sleep
        # project -> (until when, the manifest or why there is none)
        self._cached: dict[str, tuple[float, IndexManifest | str]] = {}

    # ------------------------------------------------------------- reading
    def latest(self, project_id: str, *, fresh: bool = False) -> IndexManifest:
        hit = self._cached.get(project_id)
        if fresh or hit is None or self._monotonic() >= hit[0]:
            with _mongo():
                doc = self._manifests.find_one({"_id": project_id})
            hit = self._remember(project_id, doc)
        if isinstance(hit[1], str):
            raise ManifestError(hit[1])
        return hit[1]

    def latest_of(self, project_ids: Collection[str]) -> dict[str, IndexManifest]:
        with _mongo():
            docs = {d["_id"]: d for d in self._manifests.find({"_id": {"$in": list(project_ids)}})}
        found = {}
        for project_id in project_ids:
            manifest = self._remember(project_id, docs.get(project_id))[1]
            if not isinstance(manifest, str):
                found[project_id] = manifest
        return found

    def _remember(self, project_id: str, doc: Doc | None) -> tuple[float, IndexManifest | str]:
        manifest: IndexManifest | str
        try:
            manifest = _parse(doc)
        except ManifestError as exc:
            manifest = str(exc)
        hit = (self._monotonic() + self._ttl, manifest)
        self._cached[project_id] = hit
        return hit

    def open(self, project_id: str, manifest: IndexManifest) -> ProjectIndex:
        directory = project_dir(self.root, project_id)
        with project_lock(directory, CACHE_LOCK):
            local = directory / manifest.dir
            if not _intact(local, manifest):
                shutil.rmtree(local, ignore_errors=True)
                self._download(project_id, manifest, local)
            index = load_generation(local, manifest)
            _prune(directory, keep=manifest.dir)
        return index

    def _download(self, project_id: str, manifest: IndexManifest, local: Path) -> None:
        """The generation's files into ``local``, each checked while it is written."""
        query = {"metadata.project": project_id, "metadata.dir": manifest.dir}
        with _mongo():
            stored = {f.metadata["path"]: f._id for f in self._bucket.find(query)}
        temp = new_build_dir(local.parent)
        try:
            for entry in manifest.files:
                if entry.path not in stored:
                    raise GenerationRefused(f"{entry.path} is missing from GridFS")
                try:
                    with _mongo(), self._bucket.open_download_stream(stored[entry.path]) as src:
                        copy_verified(src, temp / entry.path, entry)
                except (NoFile, CorruptGridFile) as exc:
                    raise GenerationRefused(f"{entry.path}: {exc}") from exc
            temp.rename(local)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def previous(self, project_id: str) -> Path | None:
        try:
            local = project_dir(self.root, project_id) / self.latest(project_id).dir
        except (ManifestError, StoreUnavailable):
            return None
        return local if local.is_dir() else None

    # ------------------------------------------------------------ building
    @contextlib.contextmanager
    def building(self, project_id: str) -> Iterator[None]:
        with project_lock(project_dir(self.root, project_id)):
            owner = self._take_lease(project_id)
            try:
                yield
            finally:
                with contextlib.suppress(StoreUnavailable), _mongo():
                    self._leases.delete_one({"_id": project_id, "owner": owner})

    def _take_lease(self, project_id: str) -> str:
        """Wait until no other host builds the project (or its lease expired); take it."""
        owner = secrets.token_hex(8)
        while True:
            now = self._wall()
            try:
                with _mongo():
                    self._leases.find_one_and_update(
                        {"_id": project_id, "expires_at": {"$lt": now}},
                        {"$set": {"owner": owner, "expires_at": now + self._lease_s}},
                        upsert=True,
                    )
                return owner
            except DuplicateKeyError:  # held and not expired: the upsert collided
                self._sleep(LEASE_POLL_S)

    def publish(self, project_id: str, index: ProjectIndex, *, force: bool) -> IndexManifest:
        directory = project_dir(self.root, project_id)
        build_dir, manifest = write_build(directory, index)
        try:
            self._upload(project_id, build_dir, manifest)
            won = self._swap_manifest(project_id, manifest, force)
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            self._delete_files({"metadata.project": project_id, "metadata.dir": manifest.dir})
            raise
        if not won:
            log.info("index of project %s: a newer generation is published already", project_id)
            shutil.rmtree(build_dir, ignore_errors=True)
            self._delete_files({"metadata.project": project_id, "metadata.dir": manifest.dir})
            return manifest
        self._keep_locally(directory, build_dir, manifest.dir)
        self._collect(project_id)
        return manifest

    def _upload(self, project_id: str, build_dir: Path, manifest: IndexManifest) -> None:
        for entry in manifest.files:
            metadata = {
                "project": project_id,
                "dir": manifest.dir,
                "path": entry.path,
                "uploaded_at": self._wall(),
            }
            name = f"{project_id}/{manifest.dir}/{entry.path}"
            with open(build_dir / entry.path, "rb") as file, _mongo():
                self._bucket.upload_from_stream(name, file, metadata=metadata)

    def _swap_manifest(self, project_id: str, manifest: IndexManifest, force: bool) -> bool:
        """Publish ``manifest`` unless a newer generation is; retire the one it replaces."""
        query: Doc = {"_id": project_id}
        if not force:
            query["generation"] = {"$lte": manifest.generation}
        update = {"generation": manifest.generation, "manifest": manifest_to_json(manifest)}
        try:
            with _mongo():
                before = self._manifests.find_one_and_update(
                    query, {"$set": update}, upsert=True, return_document=ReturnDocument.BEFORE
                )
        except DuplicateKeyError:
            return False  # the document exists and holds a newer generation
        self._cached.pop(project_id, None)
        old = (before or {}).get("manifest", {}).get("dir")
        if old and old != manifest.dir:
            retired = {"dir": old, "at": self._wall()}
            with _mongo():
                self._manifests.update_one({"_id": project_id}, {"$push": {"retired": retired}})
        return True

    def _keep_locally(self, directory: Path, build_dir: Path, name: str) -> None:
        """The published build becomes this host's cached copy (no download needed)."""
        with project_lock(directory, CACHE_LOCK):
            try:
                publish_build(build_dir, name)
            except OSError as exc:  # published already; servers download it instead
                log.warning("could not keep index generation %s locally: %s", name, exc)
                shutil.rmtree(build_dir, ignore_errors=True)
            # Under both locks: no build or download of this host is in progress.
            remove_unnamed(directory, keep=name)

    def _collect(self, project_id: str) -> None:
        """Delete files of generations retired (or never published) ``grace_s`` ago."""
        now = self._wall()
        with _mongo():
            doc = self._manifests.find_one({"_id": project_id}) or {}
            current = doc.get("manifest", {}).get("dir")
            retired = {r["dir"]: r["at"] for r in doc.get("retired", [])}
            for stored in self._bucket.find({"metadata.project": project_id}):
                name = stored.metadata["dir"]
                since = retired.get(name, stored.metadata.get("uploaded_at", 0.0))
                if name != current and now - since >= self._grace:
                    self._bucket.delete(stored._id)
            expired = {"retired": {"at": {"$lte": now - self._grace}}}
            self._manifests.update_one({"_id": project_id}, {"$pull": expired})

    def _delete_files(self, query: Doc) -> None:
        try:
            with _mongo():
                for stored in self._bucket.find(query):
                    self._bucket.delete(stored._id)
        except (StoreUnavailable, NoFile):
            log.warning("could not delete index files %s; they go after the grace period", query)

    def drop(self, project_id: str) -> None:
        self._cached.pop(project_id, None)
        with _mongo():
            self._manifests.delete_one({"_id": project_id})
            self._leases.delete_one({"_id": project_id})
        self._delete_files({"metadata.project": project_id})
        shutil.rmtree(project_dir(self.root, project_id), ignore_errors=True)


def _parse(doc: Doc | None) -> IndexManifest:
    if doc is None:
        raise ManifestError("no manifest")
    return manifest_from_json(doc.get("manifest"))


def _intact(local: Path, manifest: IndexManifest) -> bool:
    if not local.is_dir():
        return False
    try:
        verify_files(local, manifest.files)
    except GenerationRefused as exc:
        log.warning("local copy of index generation %s is damaged, downloading: %s", local, exc)
        return False
    return True


def _prune(directory: Path, keep: str) -> None:
    """Local generations but ``keep``: loaded ones live in memory, builds are left alone."""
    for entry in directory.iterdir():
        if entry.is_dir() and entry.name.startswith("g") and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)
