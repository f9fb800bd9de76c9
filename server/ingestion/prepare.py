"""Stage one of a run: read the source, skip what is unchanged, chunk what changed
and find its symbols.

Runs in its own thread so chunking overlaps with embedding; hands the
consumer an ordered stream of ``Prepared`` / ``Unchanged`` documents and the
source's own deletions, warnings, checkpoints and estimates.

Before any of that, ``data_dir_refusal`` says whether the source may be read at
all: no run reads a server path (``ConnectorType.local_paths``) that is, holds or
lies inside the server's data directory, whenever its connector was saved and
whatever has been mounted since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..chunking import ChunkDraft, SymbolDraft, language_of, read_document, split_lines
from ..data_guard import DataDirGuard
from ..models import Document
from ..registry import ConnectorType
from ..sources import DocumentKind, SourceDocument, SourceItem, SourceWarning
from ..store import Store

log = logging.getLogger(__name__)
LOOKUP_BATCH = 64  # documents looked up in the Store at once
QUEUE_DEPTH = 8  # lookup batches buffered ahead of the embedder
# What chunking of files stores, part of their change key: a file chunked by an older
# format is chunked again by the next run that reads it (every file, on a full run).
# Its vectors stay in the embedding cache. 2: chunks carry their references.
CHUNK_FORMAT = 2


@dataclass(frozen=True, slots=True)
class Prepared:
    """A new or changed document, its chunks and symbols (``stored``: the previous record)."""

    document: SourceDocument
    content_hash: str
    language: str
    drafts: list[ChunkDraft]
    stored: Document | None
    symbols: list[SymbolDraft]
    line_count: int


@dataclass(frozen=True, slots=True)
class Unchanged:
    key: str


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None = None


PreparedItem = Prepared | Unchanged | SourceItem


def data_dir_refusal(
    guard: DataDirGuard | None, ctype: ConnectorType, config: dict[str, Any]
) -> str:
    """Why a run of a connector of ``ctype`` with ``config`` may not read its source
    ("" if it may): a server path it reads overlaps the data directory."""
    if guard is None or ctype.local_paths is None:
        return ""
    return guard.refusal(ctype.local_paths(config))


def content_hash(doc: SourceDocument) -> str:
    """What decides a document's chunks and citations; equal hash, nothing to redo."""
    head = json.dumps([doc.kind, doc.key, doc.title, doc.path, doc.url], ensure_ascii=False)
    if doc.kind is DocumentKind.FILE and CHUNK_FORMAT > 1:  # format 1 added nothing
        head += f"\0chunks:{CHUNK_FORMAT}"
    digest = hashlib.sha256(head.encode())
    digest.update(b"\0")
    digest.update(doc.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def prepare(
    items: Iterable[SourceItem], store: Store, connector_id: str, stop: threading.Event
) -> Iterator[PreparedItem]:
    """Run the reading and chunking in a thread; yield its results in source order."""
    out: queue.Queue[list[PreparedItem] | _End] = queue.Queue(QUEUE_DEPTH)
    worker = threading.Thread(
        target=_produce,
        args=(items, store, connector_id, stop, out),
        name="projectqa-prepare",
        daemon=True,
    )
    worker.start()
    try:
        while True:
            batch = out.get()
            if isinstance(batch, _End):
                if batch.error is not None:
                    raise batch.error
                return
            yield from batch
    finally:
        stop.set()  # the consumer is gone (done, failed or cancelled): stop reading
        _drain(out)
        worker.join()


def _produce(
    items: Iterable[SourceItem],
    store: Store,
    connector_id: str,
    stop: threading.Event,
    out: queue.Queue[list[PreparedItem] | _End],
) -> None:
    end = _End()
    try:
        pending: list[SourceItem] = []
        for item in items:
            if stop.is_set():
                break
            pending.append(item)
            if len(pending) >= LOOKUP_BATCH or not isinstance(item, SourceDocument):
                _put(out, _prepare_batch(pending, store, connector_id), stop)
                pending = []
        if pending and not stop.is_set():
            _put(out, _prepare_batch(pending, store, connector_id), stop)
    except BaseException as exc:  # handed to the consumer, which fails the run with it
        end = _End(exc)
    _put(out, end, stop, force=True)


def _put(
    out: queue.Queue[list[PreparedItem] | _End],
    value: list[PreparedItem] | _End,
    stop: threading.Event,
    force: bool = False,
) -> None:
    while True:
        try:
            out.put(value, timeout=0.2)
            return
        except queue.Full:
            if stop.is_set() and not force:
                return


def _drain(out: queue.Queue[list[PreparedItem] | _End]) -> None:
    while True:
        try:
            out.get_nowait()
        except queue.Empty:
            return


def _prepare_batch(items: list[SourceItem], store: Store, connector_id: str) -> list[PreparedItem]:
    docs = {item.key: item for item in items if isinstance(item, SourceDocument)}
    stored = store.get_documents(connector_id, list(docs)) if docs else {}
    return [
        _prepare_one(item, stored.get(item.key)) if isinstance(item, SourceDocument) else item
        for item in items
    ]


def _prepare_one(doc: SourceDocument, stored: Document | None) -> PreparedItem:
    digest = content_hash(doc)
    if stored is not None and stored.content_hash == digest:
        return Unchanged(doc.key)
    try:
        drafts, symbols = read_document(doc)  # one parse for both
    except Exception as exc:  # one document that cannot be chunked is a warning
        log.warning("chunking failed", extra={"key": doc.key}, exc_info=True)
        return SourceWarning(doc.key, f"could not be chunked: {exc}")
    language = language_of(doc.path) if doc.kind is DocumentKind.FILE else ""
    line_count = len(split_lines(doc.text))
    return Prepared(doc, digest, language, drafts, stored, symbols, line_count)
