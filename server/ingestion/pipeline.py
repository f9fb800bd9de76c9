"""One ingestion run, start to end: read → chunk → embed → write → index.

``execute`` is blocking and runs on an ingestion worker thread. Reading and
chunking happen in a second thread (``prepare``) so that the embedder — the
physical limit of the whole run — never waits for them.

What a crash leaves behind is always consistent: documents are written with
their chunks and symbols (one transaction on SQLite), a checkpoint is saved only after
everything before it is written, and the index generation is bumped with
every write, so a served index built before the crash is seen to be stale.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from ..chunking import ChunkDraft
from ..data_guard import DataDirGuard
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
from .prepare import Prepared, PreparedItem, Unchanged, data_dir_refusal, prepare
from .progress import RunProgress

log = logging.getLogger(__name__)
EMBED_BATCH = 256  # chunks per write batch
ENCODE_SLICE = 128  # chunks per encode call: sorted by length inside; a cancel waits one slice


class RunCancelled(Exception):
    """CancelIngestion was asked for this run."""


class IndexNotWritten(Exception):
    """The run's records are in the Store but its index could not be written (a full
    disk, say); searches go on with the last index that was."""


class Cancellation(Protocol):
    """Set when the run must stop: cancelled, its worker stopping, or its lease lost."""

    def is_set(self) -> bool: ...


class TextEmbedder(Protocol):
    @property
    def name(self) -> str: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


class IndexSource(Protocol):
    def ensure_published(self, project_id: str) -> object:
        """Publish the project's index as the Store has it now (no work if it is)."""
        ...


def embed_text(path: str, key: str, title: str, symbol: str, text: str) -> str:
    """The text embedded for a chunk: where it lives and what it is, then the passage."""
    where = path or f"{key} {title}".strip()
    return f"{where} :: {symbol}\n{text}" if symbol else f"{where}\n{text}"


def vector_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class _Batch:
    """Documents waiting to be embedded and written together."""

    prepared: list[Prepared] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks: int = 0

    def __bool__(self) -> bool:
        return bool(self.prepared or self.unchanged)


class IngestionPipeline:
    """Executes runs against one Store, embedder and index manager."""

    def __init__(
        self,
        store: Store,
        embedder: TextEmbedder,
        indexes: IndexSource,
        work_root: Path,
        *,
        embed_batch: int = EMBED_BATCH,
        data_dir: Path | None = None,
        local_roots: Sequence[Path] = (),
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._indexes = indexes
        self._work_root = work_root
        self._embed_batch = embed_batch
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
        source = ctype.open_source(self._context(run, connector, cancel))
        # A plugin's warnings may quote its config, and members read them.
        redact = Redactor.of_connector(connector, ctype.secret_fields)
        stop = threading.Event()
        batch = _Batch()
        for item in prepare(source.items(), self._store, connector.id, stop):
            if cancel.is_set():
                raise RunCancelled
            if isinstance(item, SourceWarning):
                item = SourceWarning(redact(item.key), redact(item.message))
            self._take(item, batch, progress, save, cancel)
        self._flush(batch, progress, cancel)
        if cancel.is_set():
            raise RunCancelled
        if run.mode is RunMode.FULL:
            self._delete_unseen(progress, connector.id)
        progress.change(phase="indexing")
        save()
        self.refresh_index(run.project_id)

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
            self._flush(batch, progress, cancel)
            counts.documents_deleted += self._delete(progress.run, [item.key])
        elif isinstance(item, Checkpoint):
            self._flush(batch, progress, cancel)
            progress.checkpoint(item.cursor, item.revision or progress.run.revision)
            save()
        if batch.chunks >= self._embed_batch or len(batch.unchanged) >= 4 * self._embed_batch:
            self._flush(batch, progress, cancel)

    def _flush(self, batch: _Batch, progress: RunProgress, cancel: Cancellation) -> None:
        if not batch:
            return
        run, counts = progress.run, progress.counts
        if batch.unchanged:
            self._store.touch_documents(run.connector_id, batch.unchanged, run.scan_id)
            counts.documents_unchanged += len(batch.unchanged)
        if batch.prepared:
            rows = self._records(run, batch.prepared, progress, cancel)
            if cancel.is_set():  # a worker that lost its lease must not write any more
                raise RunCancelled
            # Bumped before (a crash in between leaves the index stale) and after (a build
            # that read the generation between the two does not count as current).
            self._store.bump_index_generation(run.project_id)
            self._store.write_documents(rows, _fence(run))
            self._store.bump_index_generation(run.project_id)
            counts.documents_changed += len(rows)
            counts.chunks_written += sum(len(row.chunks) for row in rows)
        batch.prepared, batch.unchanged, batch.chunks = [], [], 0

    def _records(
        self,
        run: IngestionRun,
        prepared: list[Prepared],
        progress: RunProgress,
        cancel: Cancellation,
    ) -> list[DocumentWrite]:
        texts = [[_embed_text_of(p.document, d) for d in p.drafts] for p in prepared]
        hashes = [[vector_hash(t) for t in doc_texts] for doc_texts in texts]
        self._embed_missing(texts, hashes, progress, cancel)
        now = utcnow()
        rows = []
        for p, doc_hashes in zip(prepared, hashes, strict=True):
            document = _document(run, p, now)
            chunks = _chunks(run, document, p, doc_hashes)
            rows.append(DocumentWrite(document, chunks, _symbols(run, document, p)))
        return rows

    def _embed_missing(
        self,
        texts: list[list[str]],
        hashes: list[list[str]],
        progress: RunProgress,
        cancel: Cancellation,
    ) -> None:
        by_hash: dict[str, str] = {}
        for doc_texts, doc_hashes in zip(texts, hashes, strict=True):
            by_hash.update(zip(doc_hashes, doc_texts, strict=True))
        model = self._embedder.name
        cached = self._store.get_embeddings(model, list(by_hash))
        missing = [h for h in by_hash if h not in cached]
        # Encode in slices so that a cancel is seen within one slice's time.
        for start in range(0, len(missing), ENCODE_SLICE):
            if cancel.is_set():
                raise RunCancelled
            part = missing[start : start + ENCODE_SLICE]
            vectors = np.ascontiguousarray(
                self._embedder.encode([by_hash[h] for h in part]), dtype="<f4"
            )
            self._store.put_embeddings(
                model, {h: v.tobytes() for h, v in zip(part, vectors, strict=True)}
            )
        total = sum(len(h) for h in hashes)
        fresh = set(missing)
        embedded = sum(1 for doc_h in hashes for h in doc_h if h in fresh)
        progress.counts.chunks_embedded += embedded
        progress.counts.chunks_cached += total - embedded

    def _delete(self, run: IngestionRun, keys: list[str]) -> int:
        self._store.bump_index_generation(run.project_id)  # before and after: see _flush
        deleted = self._store.delete_documents(run.connector_id, keys, _fence(run))
        self._store.bump_index_generation(run.project_id)
        return deleted

    def _delete_unseen(self, progress: RunProgress, connector_id: str) -> None:
        """After a complete full scan: what the scan did not see is gone from the source."""
        keys = self._store.document_keys_not_in_scan(connector_id, progress.run.scan_id)
        if keys:
            progress.counts.documents_deleted += self._delete(progress.run, keys)


def _fence(run: IngestionRun) -> RunFence | None:
    """Writes of a run a worker holds are fenced by its ownership (see Store)."""
    return RunFence(run.id, run.owner) if run.owner else None


def _embed_text_of(doc: SourceDocument, draft: ChunkDraft) -> str:
    return embed_text(doc.path, doc.key, doc.title, draft.symbol, draft.text)


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
