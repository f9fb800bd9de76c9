"""Where a project's indexing stands, as the server answering a query sees it.

A run writes chunks first and embeds behind, publishing generations as it goes,
so the served generation may hold fewer chunks than the Store (the next
generation is not published yet) and fewer vectors than chunks (keyword search
covers every chunk of a generation, dense search only those with a vector).
Search responses and GetProjectMetadata carry this status so that clients can
say "dense index 40 % — results may improve".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..index.layout import IndexManifest
from ..store.base import Store


@dataclass(frozen=True, slots=True)
class IndexStatus:
    generation: int  # the generation served; 0 when nothing is
    chunks_indexed: int  # chunks of that generation (keyword-searchable, see below)
    chunks_embedded: int  # of which with a vector (dense-searchable)
    chunks_stored: int  # chunks in the Store now (ahead while a run writes)
    embedder: str  # whose vectors the generation holds; "" when nothing is served
    active_run_id: str  # the project's queued or running run; "" when none is
    dense_unavailable: str  # why dense search is skipped; "" when it is not
    # Why keyword search is skipped (a generation of another tokenizer version, served
    # until a worker's rebuild is published); "" when it is not.
    keyword_unavailable: str

    @property
    def complete(self) -> bool:
        """Every stored chunk is served, with a vector and its keyword tokens, and nothing
        is being ingested."""
        return (
            self.generation > 0
            and not self.active_run_id
            and not self.dense_unavailable
            and not self.keyword_unavailable
            and self.chunks_embedded >= self.chunks_indexed >= self.chunks_stored
        )


class StoredChunks:
    """``Store.count_chunks`` per project, counted again only when the project's chunks
    changed (its index generation moved): a search pays one cheap read, not a count."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._counts: dict[str, tuple[int, int]] = {}  # project -> (generation, chunks)
        self._guard = threading.Lock()

    def count(self, project_id: str) -> int:
        generation = self._store.index_generation(project_id)
        cached = self._counts.get(project_id)
        if cached is not None and cached[0] == generation:
            return cached[1]
        chunks = self._store.count_chunks(project_id)
        # The generation was read first: a write in between moves it, so the next call
        # counts again.
        with self._guard:
            self._counts[project_id] = (generation, chunks)
        return chunks


def index_status(
    store: Store,
    stored: StoredChunks,
    project_id: str,
    manifest: IndexManifest | None,
    dense_unavailable: str,
    keyword_unavailable: str = "",
) -> IndexStatus:
    """The status of ``project_id`` served from the generation ``manifest`` names."""
    run = store.active_run(project_id=project_id)
    return IndexStatus(
        generation=manifest.generation if manifest else 0,
        chunks_indexed=manifest.chunks if manifest else 0,
        chunks_embedded=manifest.vectors if manifest else 0,
        chunks_stored=stored.count(project_id),
        embedder=manifest.model if manifest else "",
        active_run_id=run.id if run else "",
        dense_unavailable=dense_unavailable,
        keyword_unavailable=keyword_unavailable,
    )
