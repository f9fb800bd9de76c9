"""What a connector yields: the plugin-facing side of ingestion.

A connector type (``registry.ConnectorType``) carries an ``open_source``
factory. For each ingestion run the server calls it with a
:class:`SourceContext` and iterates the returned :class:`Source`, which yields,
in any mix:

- :class:`SourceDocument` — a file, issue, pull request, ticket or page, whole;
- :class:`Deletion` — a document that no longer exists at the source;
- :class:`SourceWarning` — one document could not be read (skipped, reported);
- :class:`Checkpoint` — everything yielded before it is final; if the run dies,
  the next run is opened with this cursor and carries on from there;
- :class:`Estimate` — optional: how many documents the run will yield in all,
  so progress can show a total and an ETA.

The last checkpoint of a successful run is the connector's cursor for the next
incremental run (``SourceContext.cursor``). A source raises
:class:`SourceError` when it cannot go on at all (bad credentials, a ref that
does not exist): the run fails with that message.

Sources run in a worker thread; they may block on I/O but should check
``SourceContext.cancelled()`` between slow steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from .data_guard import DataDirGuard


class DocumentKind(StrEnum):
    """What a document is; chunking and citations depend on it."""

    FILE = "file"  # a file of a repository or folder: code, docs, config
    ISSUE = "issue"  # a GitHub issue
    PULL_REQUEST = "pull_request"  # a GitHub pull request
    TICKET = "ticket"  # a Jira issue
    PAGE = "page"  # a Confluence page
    COMMIT = "commit"  # a commit of a git repository's history (message, files changed)


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One document, whole, as the source has it now.

    ``key`` identifies the document within its connector across runs: the
    POSIX path for files (``src/app.py``), ``issues/12``, ``PROJ-7``,
    ``pages/12345``. For files, ``path`` equals ``key``.
    """

    key: str
    kind: DocumentKind
    text: str
    title: str = ""
    path: str = ""  # repository-relative POSIX path (files only)
    url: str = ""  # where a person opens it (issue, ticket, page, or web view of a file)
    version: str = ""  # the source's own revision marker (blob sha, updated time, page version)
    metadata: dict[str, Any] = field(default_factory=dict)  # status, labels, author, parent, …

    def __post_init__(self) -> None:
        # A plugin may give the kind as its value ("issue"). A kind outside the closed set
        # would make documents that no kind filter (SearchFilter.kinds) can find, so the
        # document is refused where the plugin made it, naming the kinds there are.
        if isinstance(self.kind, DocumentKind):
            return
        try:
            object.__setattr__(self, "kind", DocumentKind(self.kind))
        except ValueError:
            known = ", ".join(kind.value for kind in DocumentKind)
            raise UnknownDocumentKind(
                f"document {self.key!r}: kind {self.kind!r} is not one of {known}"
            ) from None


@dataclass(frozen=True, slots=True)
class Deletion:
    """The document with this key is gone from the source."""

    key: str


@dataclass(frozen=True, slots=True)
class SourceWarning:
    """A document that was skipped (unreadable, binary, too large, …) and why."""

    key: str
    message: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A resumable position. ``revision`` names what was indexed (a commit sha), if any."""

    cursor: dict[str, Any]
    revision: str = ""


@dataclass(frozen=True, slots=True)
class Estimate:
    """The source expects to yield about ``documents`` documents in this run (may repeat)."""

    documents: int


SourceItem = SourceDocument | Deletion | SourceWarning | Checkpoint | Estimate


class SourceError(Exception):
    """The source cannot be read at all; the message is shown to the user as the run's error."""


class UnknownDocumentKind(SourceError, ValueError):
    """A document's kind is outside :class:`DocumentKind`: the run fails with this message."""


@dataclass(frozen=True)
class SourceContext:
    """Everything a source gets for one run."""

    config: dict[str, Any]  # the connector's config with its secrets merged in
    cursor: dict[str, Any] | None  # resume/incremental position; None for a full run
    work_dir: Path  # a private, persistent directory for this connector (clones, caches)
    cancelled: Callable[[], bool] = lambda: False
    full: bool = True  # False: an incremental run (only changes since ``cursor`` are needed)
    # How server folders (``ConnectorType.local_paths``) are opened and judged: open them
    # with ``data_guard.open_folder(path, folder_guard, own=work_dir)`` and read only
    # through the descriptor. None: no data directory to keep out (tests).
    folder_guard: DataDirGuard | None = None


class Source(Protocol):
    """One pass over a connector's documents."""

    def items(self) -> Iterator[SourceItem]:
        """Yield documents, deletions, warnings and checkpoints (see module doc)."""
        ...


OpenSource = Callable[[SourceContext], Source]
