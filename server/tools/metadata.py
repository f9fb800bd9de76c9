"""GetProjectMetadata: what a project holds, from the Store's records.

Everything is counted from the indexed documents (not the disk), so the figures
describe what search and citations can reach: languages with their files and
lines, documents by kind, connectors with their last successful runs, and the
top level of each connector's files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from ..models import Connector, Document, Project
from ..paging import every_page
from ..retrieval.status import IndexStatus
from ..store.base import Store
from ..store.file_listing import FILE_KIND
from .base import Checkout
from .checkouts import indexed_commit

OTHER_LANGUAGE = "other"


@dataclass(frozen=True, slots=True)
class LanguageStats:
    language: str  # "other" for files without one
    files: int
    lines: int


@dataclass(frozen=True, slots=True)
class ConnectorSummary:
    connector_id: str
    name: str
    type: str
    last_run_id: str  # "" if it never succeeded
    last_run_time: datetime | None  # when that run finished
    indexed_commit: str  # "" unless the run recorded one
    documents: int
    chunks: int
    has_checkout: bool  # whether grep and open_file can read its files


@dataclass(frozen=True, slots=True)
class LayoutEntry:
    connector_id: str
    name: str  # first path segment, e.g. "src" or "README.md"
    is_dir: bool
    files: int  # indexed files under it (1 for a file)


@dataclass(frozen=True, slots=True)
class ProjectMetadata:
    project_id: str
    slug: str
    name: str
    languages: list[LanguageStats]  # most lines first
    documents_by_kind: dict[str, int]
    chunks: int
    symbols: int
    connectors: list[ConnectorSummary]  # by name
    layout: list[LayoutEntry]  # connectors in the order above, entries by name
    index_generation: int
    index_status: IndexStatus | None = None  # where indexing stands (None: not asked)


def _counts() -> list[int]:
    return [0, 0]


@dataclass(slots=True)
class _Tally:
    """What the documents of one connector add up to."""

    documents: int = 0
    chunks: int = 0
    # first path segment of its files -> [files under it, whether it is a directory]
    top: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(_counts))

    def add(self, document: Document) -> None:
        self.documents += 1
        self.chunks += document.chunk_count
        first, slash, _ = (document.path or document.key).strip("/").partition("/")
        if document.kind == FILE_KIND and first:
            self.top[first][0] += 1
            self.top[first][1] |= bool(slash)


def project_metadata(
    store: Store,
    project: Project,
    checkouts: list[Checkout] | tuple[Checkout, ...],
    index_generation: int,
    status: IndexStatus | None = None,
) -> ProjectMetadata:
    """Describe ``project`` (``index_generation``: the generation being served; ``status``:
    where its indexing stands)."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    kinds: Counter[str] = Counter()
    languages: defaultdict[str, list[int]] = defaultdict(_counts)
    documents = every_page(lambda page: store.list_documents(project.id, page), lambda d: d.id)
    for document in documents:
        tallies[document.connector_id].add(document)
        kinds[document.kind] += 1
        if document.kind == FILE_KIND:
            stats = languages[document.language or OTHER_LANGUAGE]
            stats[0] += 1
            stats[1] += document.line_count
    connectors = sorted(store.all_connectors(project.id), key=lambda c: (c.name, c.id))
    readable = {checkout.connector_id for checkout in checkouts}
    return ProjectMetadata(
        project_id=project.id,
        slug=project.slug,
        name=project.name,
        languages=sorted(
            (LanguageStats(name, files, lines) for name, (files, lines) in languages.items()),
            key=lambda s: (-s.lines, -s.files, s.language),
        ),
        documents_by_kind=dict(sorted(kinds.items())),
        chunks=store.count_chunks(project.id),
        symbols=store.count_symbols(project.id),
        connectors=[_summary(store, c, tallies[c.id], c.id in readable) for c in connectors],
        layout=[entry for c in connectors for entry in _layout(c.id, tallies[c.id])],
        index_generation=index_generation,
        index_status=status,
    )


def _summary(store: Store, connector: Connector, tally: _Tally, readable: bool) -> ConnectorSummary:
    run = store.last_succeeded_run(connector.id)
    return ConnectorSummary(
        connector_id=connector.id,
        name=connector.name,
        type=connector.type,
        last_run_id=run.id if run else "",
        last_run_time=run.finished_at if run else None,
        indexed_commit=indexed_commit(run),
        documents=tally.documents,
        chunks=tally.chunks,
        has_checkout=readable,
    )


def _layout(connector_id: str, tally: _Tally) -> list[LayoutEntry]:
    return [
        LayoutEntry(connector_id, name, bool(is_dir), files)
        for name, (files, is_dir) in sorted(tally.top.items())
    ]
