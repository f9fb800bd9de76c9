"""The ``local`` connector: the files of a folder on the server's disk.

Cursors:

- during a full run, every ``CHECKPOINT_EVERY`` files: ``{"after": key}``; a run
  resumed with it skips the keys up to and including ``key``;
- at the end of any run: ``{"manifest": {key: [size, mtime_ns]}}`` for the files
  indexed. An incremental run re-reads only files whose size or mtime changed
  and yields a ``Deletion`` for indexed keys that are gone or now skipped.

A file modified within ``RACY_NS`` of the scan could change again without its
mtime moving (git's "racy clean" problem), so it is recorded with mtime ``-1``
and re-read next time; the pipeline drops unchanged content by its hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from projectqa.server.data_guard import FolderRefused, open_folder
from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import (
    Checkpoint,
    Deletion,
    SourceContext,
    SourceError,
    SourceItem,
    SourceWarning,
)

from .files import (
    CONFIG_PROPERTIES,
    FileRules,
    FileSkipped,
    check_patterns,
    content_sha1,
    decode_text,
    file_document,
)
from .folder import FolderTree, FoundFile, list_folder

CHECKPOINT_EVERY = 200
RACY_NS = 2_000_000_000
UNTRUSTED_MTIME = -1

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1, "description": "Absolute path of the folder."},
        **CONFIG_PROPERTIES,
    },
    "required": ["path"],
    "additionalProperties": False,
}

Manifest = dict[str, list[int]]


class FolderSource:
    """One pass over a folder (see the module doc for cursors)."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context
        self.rules = FileRules.from_config(context.config)
        cursor = context.cursor or {}
        self.after: str | None = cursor.get("after")
        incremental = not context.full and self.after is None and "manifest" in cursor
        self.previous: Manifest | None = cursor["manifest"] if incremental else None

    def items(self) -> Iterator[SourceItem]:
        with self._open_root() as tree:  # closed also when the run stops iterating
            yield from self._items(tree)

    def _items(self, tree: FolderTree) -> Iterator[SourceItem]:
        listing = list_folder(tree, self.rules)
        yield from (w for w in listing.warnings if self.after is None or w.key > self.after)
        started_ns = time.time_ns()
        manifest: Manifest = {}
        for position, found in enumerate(listing.files, start=1):
            if self.context.cancelled():
                return
            yield from self._file_items(tree, found, manifest, started_ns)
            if self.previous is None and position % CHECKPOINT_EVERY == 0:
                yield Checkpoint({"after": found.key})
        if self.previous is not None:
            yield from (Deletion(key) for key in sorted(self.previous.keys() - manifest.keys()))
        yield Checkpoint({"manifest": manifest})

    def _open_root(self) -> FolderTree:
        """The root, opened once and judged by the server's rules (the data directory,
        the local roots): failing here is the one OS error that fails the run."""
        raw = self.context.config.get("path", "")
        if not Path(raw).is_absolute():
            raise SourceError(f"path {raw!r} must be an absolute path")
        try:
            opened = open_folder(raw, self.context.folder_guard, own=self.context.work_dir)
        except FolderRefused as refused:
            raise SourceError(str(refused)) from None
        except (FileNotFoundError, NotADirectoryError):
            raise SourceError(f"folder {raw} does not exist or is not a folder") from None
        except PermissionError:
            raise SourceError(f"folder {raw} cannot be read: permission denied") from None
        except OSError as exc:  # ELOOP: a symlink swapped into the path; EINVAL: realpath raced
            raise SourceError(f"folder {raw} cannot be opened: {exc.strerror}") from None
        tree = FolderTree(opened)
        if not tree.readable():
            tree.close()
            raise SourceError(f"folder {raw} cannot be read: permission denied")
        return tree

    def _file_items(
        self, tree: FolderTree, found: FoundFile, manifest: Manifest, started_ns: int
    ) -> Iterator[SourceItem]:
        if self.after is not None and found.key <= self.after:
            # Indexed before the resume; re-read it next time rather than trust its stat now.
            if found.size <= self.rules.max_file_bytes:
                manifest[found.key] = [found.size, UNTRUSTED_MTIME]
            return
        recorded = (self.previous or {}).get(found.key)
        if recorded is not None and list(recorded) == [found.size, found.mtime_ns]:
            manifest[found.key] = [found.size, found.mtime_ns]
            return
        try:
            data, info = tree.read_file(found.key, self.rules.max_file_bytes)
            text = decode_text(data)
        except FileSkipped as skipped:
            if not skipped.quiet:
                yield SourceWarning(found.key, str(skipped))
            return
        racy = info.st_mtime_ns >= started_ns - RACY_NS
        manifest[found.key] = [info.st_size, UNTRUSTED_MTIME if racy else info.st_mtime_ns]
        yield file_document(found.key, text, size=len(data), version=content_sha1(data))


def _checkout(config: dict[str, Any], cursor: dict[str, Any] | None, work_dir: Path) -> Path:
    """The folder itself: tools read it as it is now, not as last indexed."""
    return Path(config["path"])


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    register(
        ConnectorType(
            name="local",
            description="Files of a folder on the server's disk (honours .gitignore files).",
            config_schema=CONFIG_SCHEMA,
            open_source=FolderSource,
            local_paths=lambda config: [config["path"]],
            checkout=_checkout,
            validate_config=check_patterns,
        )
    )
