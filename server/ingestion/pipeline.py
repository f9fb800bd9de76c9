"""One ingestion run, start to end: read → chunk → write → (embed, publish) behind.

``execute`` is blocking and runs on an ingestion worker thread. Three more threads
work for the run:

- reading and chunking (``prepare``), ahead of the writer;
- embedding (``backfill.VectorBackfill``): each batch is written as soon as it is
  chunked, without waiting for vectors, and embedded behind the writer, so a batch is
  searchable by keyword, symbol and grep within seconds while the embedder — the
  physical limit of the whole run — works through the backlog;
- publishing (``publishing.ProgressivePublisher``): the project's index generation is
  republished during the run as chunks and vectors arrive.

Phases: "reading" while the source is read (embedding goes on behind), "embedding"
once everything is read and written and vectors are still missing, "publishing" for
the last build, then "done". The run ends only when every chunk it wrote (and every
chunk of the project left without a vector by an earlier run) has its vector.

What a crash leaves behind is always consistent: documents are written with their
chunks and symbols (one transaction on SQLite), a checkpoint is saved only after
everything before it is written (embedded or not: a resumed run embeds what is
missing first), and the index generation is bumped with every write and every slice
of vectors, so a served index built before the crash is seen to be stale.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..chunking import ChunkDraft
from ..data_guard import DataDirGuard
from ..index.layout import IndexManifest
from ..models import (
    Chunk,
    Connector,
    Document,
    DocumentWrite,
    IngestionRun,
    RunFence,
    RunMode,
    Symbol,
    new_id,
    utcnow,
)
from ..redaction import Redactor
from ..registry import ConnectorType
from ..sources import (
    Checkpoint,
    Deletion,
    Estimate,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceWarning,
)
from ..store import Store
from .backfill import TextEmbedder, VectorBackfill, embed_text, vector_hash
from .cancel import Cancellation, RunCancelled
from .prepare import Prepared, PreparedItem, Unchanged, data_dir_refusal, prepare
from .progress import RunProgress
from .publishing import ProgressivePublisher

__all__ = [
    "Cancellation",
    "IndexNotWritten",
    "IngestionPipeline",
    "RunCancelled",
    "TextEmbedder",
    "embed_text",
    "vector_hash",
]

log = logging.getLogger(__name__)
WRITE_BATCH = 256  # chunks per write


class IndexNotWritten(Exception):
    """The run's records are in the Store but its index could not be written (a full
    disk, say); searches go on with the last index that was."""


class IndexSource(Protocol):
    def ensure_published(self, project_id: str) -> object:
        """Publish the project's index as the Store has it now (no work if it is)."""
        ...

    def manifest(self, project_id: str) -> IndexManifest | None:
        """The project's published generation, None if there is none."""
        ...


@dataclass
class _Batch:
    """Documents waiting to be written together."""

    prepared: list[Prepared] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks: int = 0

    def __bool__(self) -> bool:
        return bool(self.prepared or self.unchanged)


@dataclass
class _Behind:
    """The threads that follow the writer: vectors, and publication."""

    vectors: VectorBackfill
    publisher: ProgressivePublisher

    def written(self, chunk_ids: list[str]) -> None:
        self.vectors.add(chunk_ids)
        self.publisher.changed()


class IngestionPipeline:
    """Executes runs against one Store, embedder and index manager."""

    def __init__(
        self,
        store: Store,
        embedder: TextEmbedder,
        indexes: IndexSource,
        work_root: Path,
        *,
        write_batch: int = WRITE_BATCH,
        data_dir: Path | None = None,
        local_roots: Sequence[Path] = (),
        publisher: Callable[[Callable[[], object]], ProgressivePublisher] = ProgressivePublisher,
    ) -> None:
        self._store = store
        self.embedder = embedder
        self._indexes = indexes
        self._work_root = work_root
        self._write_batch = write_batch
        self._publisher = publisher  # tests inject one with their own clock
        # Sources open server folders through it (the data directory; local roots).
        roots = tuple(local_roots)
        self._data_guard = DataDirGuard(data_dir, roots) if data_dir is not None else None

    def execute(
        self,
        progress: RunProgress,
        connector: Connector,
        ctype: ConnectorType,
        cancel: Cancellation,
        save: Callable[[], None],
    ) -> None:
        """Run to the end, raising ``RunCancelled``, ``SourceError`` or a bug's exception.

        ``save`` persists ``progress`` (counts, cursor) at every checkpoint.
        """
        run = progress.run
        self._refuse_data_dir(progress, connector, ctype)
        # Resumed after its source was read to the end: only vectors and the index are left.
        read = progress.source_read
        with self._behind(progress, cancel, backlog=read) as behind:
            if not read:
                progress.change(phase="reading")
                self._read(progress, connector, ctype, cancel, save, behind)
            progress.change(phase="embedding")
            behind.vectors.finish()
        progress.change(phase="publishing")
        save()
        self.refresh_index(run.project_id)

    def _read(
        self,
        progress: RunProgress,
        connector: Connector,
        ctype: ConnectorType,
        cancel: Cancellation,
        save: Callable[[], None],
        behind: _Behind,
    ) -> None:
        """Read, chunk and write the source to its end; checkpoint that it was."""
        run = progress.run
        source = ctype.open_source(self._context(run, connector, cancel))
        # A plugin's warnings may quote its config, and members read them.
        redact = Redactor.of_connector(connector, ctype.secret_fields)
        batch = _Batch()
        for item in prepare(source.items(), self._store, connector.id, threading.Event()):
            if cancel.is_set():
                raise RunCancelled
            behind.vectors.check()
            if isinstance(item, SourceWarning):
                item = SourceWarning(redact(item.key), redact(item.message))
            self._take(item, batch, progress, save, cancel, behind)
        self._flush(batch, progress, cancel, behind)
        if cancel.is_set():
            raise RunCancelled
        if run.mode is RunMode.FULL:
            self._delete_unseen(progress, connector.id, behind)
        current = progress.run
        progress.checkpoint(current.cursor, current.revision, source_read=True)
        progress.change(phase="embedding")
        save()

    @contextlib.contextmanager
    def _behind(
        self, progress: RunProgress, cancel: Cancellation, *, backlog: bool
    ) -> Iterator[_Behind]:
        """Embedding and publishing threads for the run; stopped however it ends.
        ``backlog``: embed the project's chunks without vectors first, whatever the
        published generation says."""
        project_id = progress.run.project_id
        publisher = self._publisher(lambda: self._publish_partial(project_id))
        vectors = VectorBackfill(
            self._store,
            self.embedder,
            project_id,
            cancel,
            progress,
            backlog=backlog or self._has_backlog(project_id),
            on_vectors=publisher.changed,
        )
        publisher.start()
        vectors.start()
        try:
            yield _Behind(vectors, publisher)
        finally:
            vectors.halt()
            publisher.stop()

    def _has_backlog(self, project_id: str) -> bool:
        """Whether chunks of the project may lack vectors of this embedder: the published
        generation says so, or cannot tell (missing, stale, of another embedder)."""
        manifest = self._indexes.manifest(project_id)
        if manifest is None or manifest.model != self.embedder.name:
            return True
        if manifest.vectors < manifest.chunks:
            return True
        return manifest.generation < self._store.index_generation(project_id)

    def _publish_partial(self, project_id: str) -> None:
        """Publish what the Store has now, unless the project is served by a generation of
        another embedder: that one stays until this run has re-embedded every chunk (its
        last build), so two embedders' vectors never mix and recall does not drop."""
        manifest = self._indexes.manifest(project_id)
        if manifest is not None and manifest.model != self.embedder.name:
            return
        self._indexes.ensure_published(project_id)

    def _refuse_data_dir(
        self, progress: RunProgress, connector: Connector, ctype: ConnectorType
    ) -> None:
        """No run reads the server's data directory, whenever its connector was saved:
        refuse, and drop what the connector indexed (it may quote the token or the logs)."""
        config = {**connector.config, **connector.secrets}
        refusal = data_dir_refusal(self._data_guard, ctype, config)
        if refusal:
            # Every document: none was seen by a scan that has not begun.
            keys = self._store.document_keys_not_in_scan(connector.id, new_id("scan"))
            if keys:
                progress.counts.documents_deleted += self._delete(progress.run, keys)
            raise SourceError(refusal)

    def refresh_index(self, project_id: str) -> None:
        """Publish the index level with the Store for every server (no work if nothing
        was written)."""
        try:
            self._indexes.ensure_published(project_id)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__  # no data directory path in the run
            raise IndexNotWritten(
                f"the index could not be written ({reason}); searches use the previous one"
            ) from exc

    def _context(
        self, run: IngestionRun, connector: Connector, cancel: Cancellation
    ) -> SourceContext:
        work_dir = self._work_root / connector.id
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return SourceContext(
            config={**connector.config, **connector.secrets},
            cursor=run.cursor or None,
            work_dir=work_dir,
            cancelled=cancel.is_set,
            full=run.mode is RunMode.FULL,
            folder_guard=self._data_guard,
        )

    def _take(
        self,
        item: PreparedItem,
        batch: _Batch,
        progress: RunProgress,
        save: Callable[[], None],
        cancel: Cancellation,
        behind: _Behind,
    ) -> None:
        counts = progress.counts
        if isinstance(item, Prepared):
            counts.documents_seen += 1
            batch.prepared.append(item)
            batch.chunks += len(item.drafts)
        elif isinstance(item, Unchanged):
            counts.documents_seen += 1
            batch.unchanged.append(item.key)
        elif isinstance(item, SourceWarning):
            progress.add_warning(item.key, item.message)
        elif isinstance(item, Estimate):
            progress.documents_total = item.documents
        elif isinstance(item, Deletion):
            self._flush(batch, progress, cancel, behind)
            counts.documents_deleted += self._delete(progress.run, [item.key])
            behind.publisher.changed()
        elif isinstance(item, Checkpoint):
            self._flush(batch, progress, cancel, behind)
            progress.checkpoint(item.cursor, item.revision or progress.run.revision)
            save()
        if batch.chunks >= self._write_batch or len(batch.unchanged) >= 4 * self._write_batch:
            self._flush(batch, progress, cancel, behind)

    def _flush(
        self, batch: _Batch, progress: RunProgress, cancel: Cancellation, behind: _Behind
    ) -> None:
        if not batch:
            return
        run, counts = progress.run, progress.counts
        if batch.unchanged:
            self._store.touch_documents(run.connector_id, batch.unchanged, run.scan_id)
            counts.documents_unchanged += len(batch.unchanged)
        if batch.prepared:
            rows = self._records(run, batch.prepared)
            if cancel.is_set():  # a worker that lost its lease must not write any more
                raise RunCancelled
            # Bumped before (a crash in between leaves the index stale) and after (a build
            # that read the generation between the two does not count as current).
            self._store.bump_index_generation(run.project_id)
            self._store.write_documents(rows, _fence(run))
            self._store.bump_index_generation(run.project_id)
            counts.documents_changed += len(rows)
            chunk_ids = [chunk.id for row in rows for chunk in row.chunks]
            counts.chunks_written += len(chunk_ids)
            behind.written(chunk_ids)
        batch.prepared, batch.unchanged, batch.chunks = [], [], 0

    def _records(self, run: IngestionRun, prepared: list[Prepared]) -> list[DocumentWrite]:
        now = utcnow()
        rows = []
        for p in prepared:
            hashes = [vector_hash(_embed_text_of(p.document, d)) for d in p.drafts]
            document = _document(run, p, now)
            chunks = _chunks(run, document, p, hashes)
            rows.append(DocumentWrite(document, chunks, _symbols(run, document, p)))
        return rows

    def _delete(self, run: IngestionRun, keys: list[str]) -> int:
        self._store.bump_index_generation(run.project_id)  # before and after: see _flush
        deleted = self._store.delete_documents(run.connector_id, keys, _fence(run))
        self._store.bump_index_generation(run.project_id)
        return deleted

    def _delete_unseen(self, progress: RunProgress, connector_id: str, behind: _Behind) -> None:
        """After a complete full scan: what the scan did not see is gone from the source."""
        keys = self._store.document_keys_not_in_scan(connector_id, progress.run.scan_id)
        if keys:
            progress.counts.documents_deleted += self._delete(progress.run, keys)
            behind.publisher.changed()


def _fence(run: IngestionRun) -> RunFence | None:
    """Writes of a run a worker holds are fenced by its ownership (see Store)."""
    return RunFence(run.id, run.owner) if run.owner else None


def _embed_text_of(doc: SourceDocument, draft: ChunkDraft) -> str:
    return embed_text(doc.path, doc.key, doc.title, draft.symbol, draft.text, doc.kind)


def _document(run: IngestionRun, p: Prepared, now: datetime) -> Document:
    doc = p.document
    return Document(
        id=p.stored.id if p.stored else new_id("doc"),
        project_id=run.project_id,
        connector_id=run.connector_id,
        key=doc.key,
        kind=str(doc.kind),
        title=doc.title,
        path=doc.path,
        url=doc.url,
        version=doc.version,
        content_hash=p.content_hash,
        language=p.language,
        metadata=doc.metadata,
        scan_id=run.scan_id,
        chunk_count=len(p.drafts),
        updated_at=now,
        line_count=p.line_count,
    )


def _chunks(run: IngestionRun, document: Document, p: Prepared, hashes: list[str]) -> list[Chunk]:
    return [
        Chunk(
            id=new_id("chk"),
            project_id=run.project_id,
            connector_id=run.connector_id,
            document_id=document.id,
            document_key=document.key,
            kind=document.kind,
            path=document.path,
            url=document.url,
            title=document.title,
            ordinal=ordinal,
            start_line=draft.start_line,
            end_line=draft.end_line,
            symbol=draft.symbol,
            symbol_kind=draft.symbol_kind,
            language=draft.language or p.language,
            text=draft.text,
            embed_hash=digest,
            references=draft.references,
        )
        for ordinal, (draft, digest) in enumerate(zip(p.drafts, hashes, strict=True))
    ]


def _symbols(run: IngestionRun, document: Document, p: Prepared) -> list[Symbol]:
    return [
        Symbol(
            # Zero-padded so a document's symbols sort in source order.
            id=f"{document.id}:{ordinal:06d}",
            project_id=run.project_id,
            connector_id=run.connector_id,
            document_id=document.id,
            path=document.path,
            name=draft.name,
            kind=draft.kind,
            start_line=draft.start_line,
            end_line=draft.end_line,
            language=draft.language,
        )
        for ordinal, draft in enumerate(p.symbols)
    ]
