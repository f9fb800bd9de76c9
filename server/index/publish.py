"""Where index generations are published, and how a process gets one it can load.

A worker builds a generation, writes it into a build directory, lists each file's size
and SHA-256 in its manifest, and publishes it: files first, manifest last. A server
reads the newest manifest, gets the files (they are already there, or it downloads
them), verifies every one against the manifest and only then loads it. Two places:

- ``DirectoryPublication``: the index directory itself (``<data dir>/indexes``), for
  SQLite and for MongoDB deployments whose processes share that volume
  (layout in ``layout.py``);
- ``GridFSPublication`` (``publish_gridfs.py``): MongoDB's GridFS, for replicas that
  share no disk; the index directory is then each host's local cache.

``manager.publication_for`` picks one from the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Protocol

from .keyword import tokenizer_version_of
from .layout import (
    GenerationRefused,
    IndexManifest,
    ManifestError,
    NewerTokenizerPublished,
    generation_name,
    new_build_dir,
    project_dir,
    project_lock,
    publish_build,
    read_manifest,
    remove_unnamed,
    sum_files,
    verify_files,
    write_manifest,
)
from .project import KEYWORD_DIR, ProjectIndex
from .tokens import TOKENIZER_VERSION

READ_ATTEMPTS = 3  # reads of a manifest that publishes keep replacing


class Publication(Protocol):
    """Published generations of every project, and the lock that serialises their builds."""

    def latest(self, project_id: str, *, fresh: bool = False) -> IndexManifest:
        """The newest published manifest, with the tokenizer version of its keyword index;
        ``ManifestError`` when there is none this code can verify. ``fresh``: not from a
        cache (a backend may keep one for a few seconds)."""
        ...

    def latest_of(self, project_ids: Collection[str]) -> dict[str, IndexManifest]:
        """``latest`` of several projects at once; those without one are left out."""
        ...

    def open(self, project_id: str, manifest: IndexManifest) -> ProjectIndex:
        """The generation ``manifest`` names, verified and loaded; ``GenerationRefused`` if a
        file is missing or differs from the manifest, or the files do not load."""
        ...

    def previous(self, project_id: str) -> Path | None:
        """A local directory of the newest generation, if there is one (its token cache
        spares the next build tokenizing unchanged chunks)."""
        ...

    def building(self, project_id: str) -> contextlib.AbstractContextManager[None]:
        """Held around a build: one build of a project at a time across processes."""
        ...

    def publish(self, project_id: str, index: ProjectIndex, *, force: bool) -> IndexManifest:
        """Write and publish ``index``; its manifest, naming its directory and files.
        An older generation never replaces a newer one unless ``force`` (a rebuild asked
        for by an operator); one of an older tokenizer never replaces one of a newer
        (``NewerTokenizerPublished``), forced or not."""
        ...

    def drop(self, project_id: str) -> None:
        """Delete every generation of the project (it was deleted)."""
        ...


def refuse_older_tokenizer(
    publication: Publication, project_id: str, manifest: IndexManifest
) -> IndexManifest | None:
    """``NewerTokenizerPublished`` if the published generation's keyword tokens are of a
    newer tokenizer than ``manifest``'s: a process of an older release must not replace
    it, forced or not (its generation would be rebuilt straight away by the newer
    release, and the two would take turns). The published manifest, if any."""
    try:
        published = publication.latest(project_id, fresh=True)
    except ManifestError:
        return None
    if published.tokenizer_version > manifest.tokenizer_version:
        raise NewerTokenizerPublished(
            f"project {project_id}: generation {published.generation} is published with "
            f"tokenizer version {published.tokenizer_version}, newer than this release's "
            f"{manifest.tokenizer_version}; not replaced (upgrade this process)"
        )
    return published


def load_verified(directory: Path, manifest: IndexManifest) -> ProjectIndex:
    """The generation in ``directory``, after checking each file against ``manifest``."""
    verify_files(directory, manifest.files)
    return load_generation(directory, manifest)


def load_generation(directory: Path, manifest: IndexManifest) -> ProjectIndex:
    """The generation in ``directory`` (verified already); ``GenerationRefused`` if its
    files do not load or disagree with the manifest."""
    try:
        return ProjectIndex.load(directory, manifest)
    except Exception as exc:  # files as listed, yet unusable: the build that wrote them is bad
        raise GenerationRefused(f"{manifest.dir} does not load: {exc}") from exc


def write_build(directory: Path, index: ProjectIndex) -> tuple[Path, IndexManifest]:
    """``index`` written into a new build directory of ``directory``, and the manifest that
    will name it once published (its files listed). Nothing is left behind on failure."""
    build_dir = new_build_dir(directory)
    try:
        index.save(build_dir)
        files = sum_files(build_dir)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    name = generation_name(index.manifest.generation)
    return build_dir, dataclasses.replace(index.manifest, dir=name, files=files)


class DirectoryPublication:
    """Generations published in a directory every process reaches (see ``layout.py``).

    Builds hold the project's ``flock``, and each reads the Store's generation inside it,
    so published generations only go forward: publishing needs no compare-and-set.
    The tokenizer version of a generation is the one its ``keyword/tokenizer.json``
    records (a file the manifest lists, with its checksum): every process reads the
    generation directories here, so it is read from there.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def latest(self, project_id: str, *, fresh: bool = False) -> IndexManifest:
        directory = project_dir(self.root, project_id)
        manifest = read_manifest(directory)
        for _ in range(READ_ATTEMPTS):
            version = tokenizer_version_of(directory / manifest.dir / KEYWORD_DIR)
            if version == TOKENIZER_VERSION:
                break
            # Read again: a publish may have replaced the generation (deleting its files)
            # between reading the manifest and its tokenizer record.
            again = read_manifest(directory)
            if again == manifest:
                break
            manifest = again
        return dataclasses.replace(manifest, tokenizer_version=version)

    def latest_of(self, project_ids: Collection[str]) -> dict[str, IndexManifest]:
        found = {}
        for project_id in project_ids:
            with contextlib.suppress(ManifestError):
                found[project_id] = self.latest(project_id)
        return found

    def open(self, project_id: str, manifest: IndexManifest) -> ProjectIndex:
        return load_verified(project_dir(self.root, project_id) / manifest.dir, manifest)

    def previous(self, project_id: str) -> Path | None:
        try:
            return project_dir(self.root, project_id) / self.latest(project_id).dir
        except ManifestError:
            return None

    def building(self, project_id: str) -> contextlib.AbstractContextManager[None]:
        return project_lock(project_dir(self.root, project_id))

    def publish(self, project_id: str, index: ProjectIndex, *, force: bool) -> IndexManifest:
        directory = project_dir(self.root, project_id)
        published = refuse_older_tokenizer(self, project_id, index.manifest)
        served = directory / published.dir if published is not None else None
        try:
            build_dir, manifest = write_build(directory, index)
            publish_build(build_dir, manifest.dir)
            write_manifest(directory, manifest)
        except BaseException:
            # A full disk, say: keep only what the manifest names (complete, the last
            # good generation) and give back the space this attempt took.
            remove_unnamed(directory, keep=served.name if served else None)
            raise
        # Readers still loading an older generation notice the manifest moved on.
        remove_unnamed(directory, keep=manifest.dir)
        return manifest

    def drop(self, project_id: str) -> None:
        shutil.rmtree(project_dir(self.root, project_id), ignore_errors=True)
