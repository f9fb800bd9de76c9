"""Vectors filled in behind the writer.

A run writes each batch of chunks as soon as it is read and chunked (keyword search,
symbols and grep have them at once); ``VectorBackfill``, a thread of the run, embeds
them behind it, slice by slice, because the embedder is far slower than reading,
chunking and writing. It takes first the project's chunks written before the run
without vectors (a run cut short by a crash or a cancel, an embedder switch), then
those the run writes, by id: only ids wait in memory, the texts are read back from
the Store when their turn comes.

Every slice of vectors is put in the embedding cache and bumps the project's index
generation: a generation built before the vectors arrived is then stale, and a newer
one, with them, is published.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from ..chunking.machine_made import embedded_passage
from ..models import Chunk, PageRequest, new_id
from ..sources import DocumentKind
from ..store import Store
from .cancel import Cancellation, RunCancelled

log = logging.getLogger(__name__)
ENCODE_SLICE = 128  # chunks per encode call: sorted by length inside; a stop waits one slice
SCAN_PAGE = 512  # chunks without a vector read at once from the Store
WAIT_S = 0.2  # how often a waiting thread looks whether it must stop


class TextEmbedder(Protocol):
    @property
    def name(self) -> str: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def embed_text(path: str, key: str, title: str, symbol: str, text: str, kind: str = "") -> str:
    """The text embedded for a chunk: where it lives and what it is, then the passage
    (none for machine-made chunks: docs/RETRIEVAL.md, "What gets embedded"; none for a
    commit record, embedded by its subject: its message and files are for keyword
    search, and cost the embedder 3-4 times as much, docs/HISTORY.md)."""
    passage = "" if kind == DocumentKind.COMMIT else embedded_passage(path, text)
    return _embed_text(path, key, title, symbol, passage)


def _embed_text(path: str, key: str, title: str, symbol: str, passage: str) -> str:
    where = path or f"{key} {title}".strip()
    return f"{where} :: {symbol}\n{passage}" if symbol else f"{where}\n{passage}"


def vector_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def chunk_embed_text(chunk: Chunk) -> str:
    """What was hashed into ``chunk.embed_hash`` when it was written: a chunk written
    before machine-made passages were left out had its whole passage hashed, and its
    vector must be of that text (the cache is keyed by the hash)."""
    text = embed_text(
        chunk.path, chunk.document_key, chunk.title, chunk.symbol, chunk.text, chunk.kind
    )
    if vector_hash(text) == chunk.embed_hash:
        return text
    return _embed_text(chunk.path, chunk.document_key, chunk.title, chunk.symbol, chunk.text)


class VectorSink(Protocol):
    """What counts a run's vectors (its ``RunProgress``)."""

    def embedding_pending(self, count: int) -> None:
        """``count`` more chunks wait for a vector (negative: fewer)."""
        ...

    def embedding_done(self, embedded: int, cached: int) -> None:
        """Of the chunks waiting, ``embedded`` were encoded, ``cached`` had a vector."""
        ...


def embed_chunks(
    store: Store,
    embedder: TextEmbedder,
    chunks: Iterable[Chunk],
    stopped: Callable[[], bool],
    done: Callable[[int, int], None],
) -> None:
    """Cache a vector under ``embedder.name`` for each of ``chunks`` that has none; after
    each slice, ``done(encoded, cached)`` in chunks. ``RunCancelled`` when ``stopped()``
    says so between two slices."""
    texts: dict[str, str] = {}
    per_hash: collections.Counter[str] = collections.Counter()
    for chunk in chunks:
        texts.setdefault(chunk.embed_hash, chunk_embed_text(chunk))
        per_hash[chunk.embed_hash] += 1
    model = embedder.name
    known = store.get_embeddings(model, list(texts))
    missing = [h for h in texts if h not in known]
    cached = sum(per_hash[h] for h in known)
    if cached:
        done(0, cached)
    for start in range(0, len(missing), ENCODE_SLICE):
        if stopped():
            raise RunCancelled
        part = missing[start : start + ENCODE_SLICE]
        vectors = np.ascontiguousarray(embedder.encode([texts[h] for h in part]), dtype="<f4")
        store.put_embeddings(model, {h: v.tobytes() for h, v in zip(part, vectors, strict=True)})
        done(sum(per_hash[h] for h in part), 0)


def embed_project(
    store: Store, embedder: TextEmbedder, project_id: str, stopped: Callable[[], bool]
) -> bool:
    """Give every chunk of the project a vector of ``embedder`` (a switch of embedder);
    True when none is left without one, False when ``stopped()`` first."""
    after = ""
    while not stopped():
        page = store.chunks_without_vector(project_id, embedder.name, PageRequest(SCAN_PAGE, after))
        if not page:
            if not after:
                return True
            after = ""  # one more pass from the start: it must find nothing left
            continue
        try:
            embed_chunks(store, embedder, page, stopped, lambda embedded, cached: None)
        except RunCancelled:
            return False
        after = page[-1].id
    return False


class VectorBackfill:
    """The embedding thread of one run over ``project_id``.

    ``add`` hands it the ids of chunks just written; ``close`` says no more will come;
    ``finish`` waits until every one has a vector. ``halt`` stops it (within one slice).
    ``backlog``: first embed the project's chunks that were written without vectors
    before this run (the run's own, written later, come through ``add``).
    """

    def __init__(
        self,
        store: Store,
        embedder: TextEmbedder,
        project_id: str,
        cancel: Cancellation,
        sink: VectorSink,
        *,
        backlog: bool,
        on_vectors: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._project_id = project_id
        self._cancel = cancel
        self._sink = sink
        self._on_vectors = on_vectors  # the index is stale: tell the publisher
        # Chunks written from now on have greater ids (new_id is monotonic in a process):
        # the backlog stops short of them, so none is counted twice.
        self._backlog_before = new_id("chk") if backlog else ""
        self._ids: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._halt = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="projectqa-embed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, chunk_ids: list[str]) -> None:
        """Chunks just written: embed them once the ones before are."""
        if chunk_ids:
            self._sink.embedding_pending(len(chunk_ids))
            self._ids.put(chunk_ids)

    def close(self) -> None:
        """No chunk will be added any more."""
        self._ids.put(None)

    def check(self) -> None:
        """Raise what stopped the thread, if it failed (a Store outage, an encode error)."""
        if self._error is not None:
            raise self._error

    def finish(self) -> None:
        """Wait until every chunk added (and of the backlog) has a vector; ``RunCancelled``
        if the run is stopped first."""
        self.close()
        while self._thread.is_alive():
            self._thread.join(WAIT_S)
        self.check()

    def halt(self) -> None:
        """Stop within one slice and wait for the thread (a run ending for any reason)."""
        self._halt.set()
        if self._thread.ident is not None:
            self._thread.join()

    # ---------------------------------------------------------------- thread
    def _stopped(self) -> bool:
        return self._halt.is_set() or self._cancel.is_set()

    def _run(self) -> None:
        try:
            if self._backlog_before:
                self._embed_backlog(self._backlog_before)
            while (ids := self._next_ids()) is not None:
                self._embed(self._store.get_chunks(ids), len(ids))
            if self._backlog_before:
                # Every chunk of the run has its vector now: one more pass, unbounded,
                # finds what the bound hid (chunks of a worker whose clock runs ahead).
                self._embed_backlog("")
        except RunCancelled as exc:
            self._error = exc
        except BaseException as exc:  # handed to the run's thread, which fails the run
            log.warning("embedding behind the run stopped", exc_info=True)
            self._error = exc

    def _next_ids(self) -> list[str] | None:
        while True:
            if self._stopped():
                raise RunCancelled
            try:
                return self._ids.get(timeout=WAIT_S)
            except queue.Empty:
                continue

    def _embed_backlog(self, before: str) -> None:
        """The project's chunks without a vector (with ids below ``before`` if given),
        page by page."""
        model, after = self._embedder.name, ""
        while True:
            page = self._store.chunks_without_vector(
                self._project_id, model, PageRequest(SCAN_PAGE, after)
            )
            older = [chunk for chunk in page if not before or chunk.id < before]
            if not older:
                return
            if not after:
                log.info(
                    "embedding the chunks written without vectors before this run",
                    extra={"project": self._project_id, "model": model},
                )
            self._sink.embedding_pending(len(older))
            self._embed(older, len(older))
            if len(older) < len(page) or len(page) < SCAN_PAGE:
                return
            after = page[-1].id

    def _embed(self, chunks: list[Chunk], queued: int) -> None:
        """Embed ``chunks`` (``queued`` were waiting: some may have been deleted since)."""
        left = queued

        def done(embedded: int, cached: int) -> None:
            nonlocal left
            left -= embedded + cached
            self._sink.embedding_done(embedded, cached)
            if embedded:
                # The published generation lacks these vectors: make it stale.
                self._store.bump_index_generation(self._project_id)
                self._on_vectors()

        embed_chunks(self._store, self._embedder, chunks, self._stopped, done)
        if left > 0:  # deleted before their turn: nothing to wait for
            self._sink.embedding_pending(-left)
