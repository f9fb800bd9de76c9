"""Index generations published in MongoDB's GridFS, for replicas that share no disk.

In the database beside the store::

    index_files.files/.chunks  GridFS bucket: one file per generation file, its metadata
                               {project, dir, path, uploaded_at}
    index_manifests            one document per project: {_id: project, generation,
                               manifest, tokenizer: {version, dir}, retired: [{dir, at}]}
    index_build_leases         {_id: project, owner, seq}: one build at a time

A worker uploads a generation's files, then replaces the project's manifest document
with a compare-and-set on ``generation``: an older build never replaces a newer one
(``force`` does, for an operator's rebuild), nor one of an older tokenizer one of a
newer. ``tokenizer`` records the keyword tokenizer version of the generation ``dir``
names; a release before it replaces ``manifest`` and leaves ``tokenizer`` alone, so a
record naming another directory means version 1. The generation it replaced is ``retired``
and its files are deleted ``grace_s`` later, so a server still downloading it finishes;
files nobody published (a build that lost or crashed) go the same way, counted from
their upload.

A server reads the manifest document (cached for ``manifest_ttl_s``, so a query costs
no round trip), downloads the files into its index directory, which is only a cache
here, checks each against the manifest while writing it, and loads it. Processes on one
host sharing that directory take its ``.cache-lock`` for downloading, loading and
pruning, and its ``.lock`` (with the lease) for building.

A build holds its project's lease, which its holder renews every ``lease_s / 3`` (a
compare-and-set on its owner that moves ``seq`` on). A waiting builder takes the lease
over once it has watched ``seq`` stand still for ``lease_s`` by its own monotonic clock
(as workers do with run leases), or at once when the holder was a process of this host
that is gone: no wall clock is compared across hosts. A holder whose lease was taken
notices at its next renewal, and before publishing: it does not publish.

The grace period still uses the hosts' wall clocks: skew deletes a retired generation
early (a server downloading it finds the manifest moved on and loads the new one) or
late; uploads of a build in progress are only ever collected from a holder that lost its
lease, which no longer publishes. Correctness rests on the compare-and-sets and on the
checksums, not on time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ReturnDocument
from pymongo.collection import Collection as MongoCollection
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
from .publish import load_generation, refuse_older_tokenizer, write_build

log = logging.getLogger(__name__)

FILES_BUCKET = "index_files"
MANIFESTS = "index_manifests"
LEASES = "index_build_leases"
MANIFEST_TTL_S = 2.0  # how stale a server's view of the newest manifest may be
GRACE_S = 600.0  # a replaced generation's files stay this long for servers downloading it
LEASE_S = 30.0  # a build lease that stood still this long (its worker died) is taken over
LEASE_POLL_S = 0.2
CACHE_LOCK = ".cache-lock"

Doc = dict[str, Any]
# every(step, interval): calls step every interval seconds until the returned stop is called
Every = Callable[[Callable[[], object], float], Callable[[], None]]


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
        every: Every | None = None,
    ) -> None:
        self._bucket = GridFSBucket(database, bucket_name=FILES_BUCKET)
        self._manifests = database.get_collection(MANIFESTS)
        self._leases = database.get_collection(LEASES)
        self.root = Path(cache_root)
        self._ttl, self._grace, self._lease_s = manifest_ttl_s, grace_s, lease_s
        self._wall, self._monotonic, self._sleep = wall, monotonic, sleep
        self._every = every or _in_thread
        self._held: dict[str, _BuildLease] = {}  # project -> the lease this process holds
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
        with project_lock(project_dir(self.root, project_id)), contextlib.ExitStack() as held:
            lease = self._take_lease(project_id)
            held.callback(lease.release)  # undone in reverse: stop renewing, then release
            held.callback(self._every(lease.renew_quietly, self._lease_s / 3))
            self._held[project_id] = lease
            held.callback(self._held.pop, project_id)
            yield

    def _take_lease(self, project_id: str) -> _BuildLease:
        """Wait until no other process builds the project, or its holder stopped renewing
        (``lease_s`` of this process's clock without a renewal); take the lease."""
        lease = _BuildLease(self._leases, project_id, _new_owner())
        watch = _Watch()
        while True:
            holder = lease.take_or_look()
            if holder is None:
                return lease
            if not holder:
                continue  # released a moment ago: try again at once
            if self._may_take_over(holder, watch) and lease.take_over(holder):
                return lease
            self._sleep(LEASE_POLL_S)

    def _may_take_over(self, holder: Doc, watch: _Watch) -> bool:
        if _owner_is_dead(holder["owner"]):
            log.info("index build lease of project %s: its holder is gone", holder["_id"])
            return True
        still = watch.idle_for((holder["owner"], holder.get("seq")), self._monotonic())
        if still < self._lease_s:
            return False
        log.warning(
            "index build lease of project %s was not renewed for %.0f s: taking it over",
            holder["_id"],
            still,
        )
        return True

    def _holds_lease(self, project_id: str) -> bool:
        """Right before publishing: the build's lease is still this process's (renewed
        now, so no one may take it over for ``lease_s``). True outside ``building``."""
        lease = self._held.get(project_id)
        return lease is None or lease.renew()

    def publish(self, project_id: str, index: ProjectIndex, *, force: bool) -> IndexManifest:
        directory = project_dir(self.root, project_id)
        seen = refuse_older_tokenizer(self, project_id, index.manifest)
        build_dir, manifest = write_build(directory, index)
        try:
            self._upload(project_id, build_dir, manifest)
            holds = self._holds_lease(project_id)
            won = holds and self._swap_manifest(project_id, manifest, force, seen)
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            self._delete_files({"metadata.project": project_id, "metadata.dir": manifest.dir})
            raise
        if not won:
            if holds:
                log.info("index of project %s: a newer generation is published already", project_id)
            else:
                log.warning(
                    "index of project %s: another process took the build over; "
                    "generation %d not published",
                    project_id,
                    manifest.generation,
                )
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

    def _swap_manifest(
        self, project_id: str, manifest: IndexManifest, force: bool, seen: IndexManifest | None
    ) -> bool:
        """Publish ``manifest`` unless a newer generation is, or the published one moved
        on from ``seen`` (its tokenizer was checked); retire the one it replaces."""
        query: Doc = {"_id": project_id}
        if not force:
            query["generation"] = {"$lte": manifest.generation}
        if seen is not None:
            query["manifest.dir"] = seen.dir
        tokenizer = {"version": manifest.tokenizer_version, "dir": manifest.dir}
        update = {
            "generation": manifest.generation,
            "manifest": manifest_to_json(manifest),
            "tokenizer": tokenizer,
        }
        try:
            with _mongo():
                before = self._manifests.find_one_and_update(
                    query, {"$set": update}, upsert=True, return_document=ReturnDocument.BEFORE
                )
        except DuplicateKeyError:
            return False  # the document exists and holds a newer (or another) generation
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


@dataclass
class _BuildLease:
    """This process's side of a project's build lease: ``owner`` is its token, and every
    write moves ``seq`` on so that waiters see the lease is alive."""

    leases: MongoCollection[Doc]
    project_id: str
    owner: str
    lost: bool = False
    released: bool = False

    def take_or_look(self) -> Doc | None:
        """None: taken (nobody held it). Else the holder's document ({} if it was just
        released)."""
        try:
            with _mongo():
                self.leases.insert_one({"_id": self.project_id, "owner": self.owner, "seq": 0})
            return None
        except DuplicateKeyError:
            with _mongo():
                return self.leases.find_one({"_id": self.project_id}) or {}

    def take_over(self, holder: Doc) -> bool:
        """Compare-and-set on what the waiter watched: a renewal in between wins."""
        seen = {"_id": self.project_id, "owner": holder["owner"], "seq": holder.get("seq")}
        seq = (holder.get("seq") or 0) + 1
        with _mongo():
            taken = self.leases.find_one_and_update(
                seen, {"$set": {"owner": self.owner, "seq": seq}}
            )
        return taken is not None

    def renew(self) -> bool:
        """Move the lease on; False once it is no longer this process's (taken over, or
        the project dropped)."""
        with _mongo():
            renewed = self.leases.update_one(
                {"_id": self.project_id, "owner": self.owner}, {"$inc": {"seq": 1}}
            )
        if renewed.matched_count == 0 and not self.released and not self.lost:
            log.warning(
                "index build lease of project %s was taken over: this build will not be published",
                self.project_id,
            )
        self.lost = renewed.matched_count == 0
        return not self.lost

    def renew_quietly(self) -> bool:
        """The renewal thread's step: an unreachable store is tried again at the next one
        (a waiter reaching it takes over only after ``lease_s``, and publishing checks)."""
        try:
            return self.renew()
        except StoreUnavailable:
            log.warning("could not renew the index build lease of project %s", self.project_id)
            return True

    def release(self) -> None:
        self.released = True
        with contextlib.suppress(StoreUnavailable), _mongo():
            self.leases.delete_one({"_id": self.project_id, "owner": self.owner})


@dataclass
class _Watch:
    """When this process first saw a build lease as it is now (owner, seq)."""

    state: tuple[str, int | None] | None = None
    since: float = 0.0

    def idle_for(self, state: tuple[str, int | None], now: float) -> float:
        """How long the lease has stood still, as far as this process has watched."""
        if state != self.state:
            self.state, self.since = state, now
            return 0.0
        return now - self.since


def _in_thread(step: Callable[[], object], interval: float) -> Callable[[], None]:
    """Calls ``step`` every ``interval`` seconds in a daemon thread until it returns a
    false value or the returned function is called."""
    stopped = threading.Event()

    def run() -> None:
        while not stopped.wait(interval) and step():
            pass

    threading.Thread(target=run, name="index-build-lease", daemon=True).start()
    return stopped.set


def _new_owner() -> str:
    # Imported here: the ingestion package imports this one.
    from ..ingestion.owner import this_owner

    return f"{this_owner()}:{secrets.token_hex(4)}"


def _owner_is_dead(owner: str) -> bool:
    from ..ingestion.owner import owner_is_dead

    return owner_is_dead(owner)


def _parse(doc: Doc | None) -> IndexManifest:
    if doc is None:
        raise ManifestError("no manifest")
    manifest = manifest_from_json(doc.get("manifest"))
    record = doc.get("tokenizer")
    version = record.get("version") if isinstance(record, dict) else None
    if not isinstance(record, dict) or record.get("dir") != manifest.dir:
        version = 1  # published by a release that recorded no tokenizer: unstemmed
    elif not isinstance(version, int):
        version = 0
    return dataclasses.replace(manifest, tokenizer_version=version)


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
