"""The ingestion half of ``SqliteStore``: runs, documents, chunks, symbols,
the embedding cache, index generations and webhook deliveries.

A mixin, so that ``sqlite.py`` stays readable; it runs on the connection
plumbing ``SqliteStore`` provides (``_write``, ``_rows``, ``_one``, ``_many``).
Schema: ``migrations/0002_ingestion.sql``, ``0003_symbols.sql`` and later ones.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from ..errors import RunLost
from ..models import (
    Chunk,
    ChunkVector,
    Document,
    DocumentWrite,
    IngestionRun,
    PageRequest,
    RunFence,
    RunStatus,
    Symbol,
)
from . import codec
from .base import DeliveryKey
from .codec import SQLITE
from .file_listing import FILE_KIND, folder_range, split_file_key
from .plumbing import SqlitePlumbing

T = TypeVar("T")

# Keys per ``IN (...)`` list: below the smallest variable limit SQLite builds
# use (999 before 3.32), whatever the caller passes.
_IN_BATCH = 500

# (table, column) of the ingestion records deleted with their project.
PROJECT_TABLES = (
    ("ingestion_runs", "project_id"),
    ("documents", "project_id"),
    ("chunks", "project_id"),
    ("symbols", "project_id"),
    ("index_generations", "project_id"),
)
# Tables whose rows are deleted with their connector (by ``connector_id``).
CONNECTOR_TABLES = ("ingestion_runs", "documents", "chunks", "symbols", "webhook_deliveries")
_RECORD_DELIVERY = (
    "INSERT OR IGNORE INTO webhook_deliveries (connector_id, delivery_id, received_at)"
    " VALUES (?, ?, ?)"
)
# An upsert whose update is skipped (no row changed) while the record is still fresh.
_RECORD_DELIVERY_UNLESS_FRESH = (
    "INSERT INTO webhook_deliveries (connector_id, delivery_id, received_at) VALUES (?, ?, ?)"
    " ON CONFLICT (connector_id, delivery_id) DO UPDATE SET received_at = excluded.received_at"
    " WHERE webhook_deliveries.received_at < ?"
)
# Oldest first, a bounded number per call (no index on received_at: a scan, but of a table
# that pruning keeps to the records of the retention period).
_PRUNE_DELIVERIES = (
    "DELETE FROM webhook_deliveries WHERE (connector_id, delivery_id) IN"
    " (SELECT connector_id, delivery_id FROM webhook_deliveries WHERE received_at < ? LIMIT ?)"
)
# Deliveries know only their connector: run this before the connectors go.
DELETE_PROJECT_DELIVERIES = (
    "DELETE FROM webhook_deliveries"
    " WHERE connector_id IN (SELECT id FROM connectors WHERE project_id = ?)"
)


def _batches(keys: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _IN_BATCH):
        yield unique[start : start + _IN_BATCH]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    values = ", ".join(f":{name}" for name in columns)
    quoted = ", ".join(f'"{name}"' for name in columns)  # chunks."references" is a keyword
    return f"INSERT INTO {table} ({quoted}) VALUES ({values})"


def _names(cls: type) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]


_RUN_FIXED = ("id", "project_id", "connector_id", "created_at")
_RUN_COLUMNS = [*_names(IngestionRun), "active_connector"]
_INSERT_RUN = _insert_sql("ingestion_runs", _RUN_COLUMNS)
_UPDATE_RUN = (
    "UPDATE ingestion_runs SET "
    + ", ".join(f"{name} = :{name}" for name in _RUN_COLUMNS if name not in _RUN_FIXED)
    + " WHERE id = :id"
)
# Only request_cancel and request_rerun set these: a worker's write keeps them.
_RUN_REQUESTS = ("cancel_requested", "rerun_requested")
_WRITE_RUN_IF = (
    "UPDATE ingestion_runs SET "
    + ", ".join(
        f"{name} = :{name}"
        for name in _RUN_COLUMNS
        if name not in _RUN_FIXED and name not in _RUN_REQUESTS
    )
    + " WHERE id = :id AND lease_seq = :expected_seq AND active_connector IS NOT NULL"
    + " RETURNING *"
)
_CANCEL_QUEUED = (
    "UPDATE ingestion_runs SET status = :cancelled, phase = 'done', finished_at = :at,"
    " updated_at = :at, active_connector = NULL WHERE id = :id AND status = :queued"
)
_FLAG_CANCEL = (
    "UPDATE ingestion_runs SET cancel_requested = 1 WHERE id = :id AND active_connector IS NOT NULL"
)

_DOCUMENT_KEY = ("id", "project_id", "connector_id", "key")
# The stored id wins over the given one, so chunks always point at the
# document's one id however the caller came by it.
_UPSERT_DOCUMENT = (
    _insert_sql("documents", _names(Document))
    + " ON CONFLICT (connector_id, key) DO UPDATE SET "
    + ", ".join(
        f"{name} = excluded.{name}" for name in _names(Document) if name not in _DOCUMENT_KEY
    )
    + " RETURNING id"
)
_INSERT_CHUNK = _insert_sql("chunks", _names(Chunk))
_INSERT_SYMBOL = _insert_sql("symbols", _names(Symbol))

_CHUNK_VECTORS = (
    "SELECT c.id, e.vector FROM chunks c"
    " JOIN embeddings e ON e.model = ? AND e.hash = c.embed_hash"
    " WHERE c.project_id = ? AND c.id > ? ORDER BY c.id LIMIT ?"
)
# NOT EXISTS on the cache's primary key: one index probe per chunk of the page.
_CHUNKS_WITHOUT_VECTOR = (
    "SELECT c.* FROM chunks c WHERE c.project_id = ? AND c.id > ? AND NOT EXISTS"
    " (SELECT 1 FROM embeddings e WHERE e.model = ? AND e.hash = c.embed_hash)"
    " ORDER BY c.id LIMIT ?"
)
_BUMP_GENERATION = (
    "INSERT INTO index_generations (project_id, generation) VALUES (?, 1)"
    " ON CONFLICT (project_id) DO UPDATE SET generation = generation + 1"
    " RETURNING generation"
)


def _run_fields(run: IngestionRun) -> codec.Fields:
    fields = SQLITE.fields(run)
    fields["active_connector"] = run.connector_id if run.status.active else None
    return fields


def _active_taken(run: IngestionRun) -> str:
    return f"connector {run.connector_id!r} already has a queued or running ingestion run"


def _chunk_fields(chunk: Chunk, document_id: str) -> codec.Fields:
    fields = SQLITE.fields(chunk)
    fields["document_id"] = document_id
    return fields


def _symbol_fields(symbol: Symbol, document_id: str) -> codec.Fields:
    """A symbol under its document's stored id: ``<document id>:<ordinal>``."""
    fields = SQLITE.fields(symbol)
    fields["id"] = f"{document_id}:{symbol.id.rpartition(':')[2]}"
    fields["document_id"] = document_id
    return fields


def _check_fence(conn: sqlite3.Connection, fence: RunFence | None) -> None:
    """Inside the write's transaction: the run is still running and ``fence.owner``'s."""
    if fence is None:
        return
    sql = "SELECT 1 FROM ingestion_runs WHERE id = ? AND owner = ? AND status = ?"
    if not conn.execute(sql, (fence.run_id, fence.owner, RunStatus.RUNNING.value)).fetchall():
        raise RunLost(f"run {fence.run_id} is no longer run by {fence.owner}")


class SqliteIngestion(SqlitePlumbing):
    """Ingestion methods of ``SqliteStore`` (see ``Store`` for the contracts)."""

    # ------------------------------------------------------------- runs
    def create_run(self, run: IngestionRun) -> None:
        with self._write(_active_taken(run)) as conn:
            conn.execute(_INSERT_RUN, _run_fields(run))

    def get_run(self, run_id: str) -> IngestionRun | None:
        sql = "SELECT * FROM ingestion_runs WHERE id = ?"
        return self._one(sql, (run_id,), SQLITE.reader(IngestionRun))

    def update_run(self, run: IngestionRun) -> None:
        with self._write(_active_taken(run)) as conn:
            conn.execute(_UPDATE_RUN, _run_fields(run))

    def write_run_if(self, run: IngestionRun, lease_seq: int) -> IngestionRun | None:
        params = {**_run_fields(run), "expected_seq": lease_seq}
        with self._write(_active_taken(run)) as conn:
            # fetchall: the RETURNING statement must be finished before COMMIT.
            rows = conn.execute(_WRITE_RUN_IF, params).fetchall()
        return SQLITE.record(IngestionRun, rows[0]) if rows else None

    def request_cancel(self, run_id: str, at: datetime) -> IngestionRun | None:
        params = {
            "id": run_id,
            "at": codec.time_to_text(at),
            "queued": RunStatus.QUEUED.value,
            "cancelled": RunStatus.CANCELLED.value,
        }
        with self._write() as conn:
            if not conn.execute(_CANCEL_QUEUED, params).rowcount:
                conn.execute(_FLAG_CANCEL, params)
        return self.get_run(run_id)

    def request_rerun(self, connector_id: str) -> bool:
        sql = "UPDATE ingestion_runs SET rerun_requested = 1 WHERE active_connector = ?"
        return self._execute(sql, (connector_id,)) > 0

    def list_runs(
        self, project_id: str, page: PageRequest, connector_id: str | None = None
    ) -> list[IngestionRun]:
        sql, args = "SELECT * FROM ingestion_runs WHERE project_id = ?", [project_id]
        if connector_id is not None:
            sql, args = sql + " AND connector_id = ?", [*args, connector_id]
        if page.after:
            sql, args = sql + " AND id < ?", [*args, page.after]
        sql += " ORDER BY id DESC LIMIT ?"
        return self._many(sql, [*args, max(page.limit, 0)], SQLITE.reader(IngestionRun))

    def list_active_runs(self) -> list[IngestionRun]:
        # active_connector is set exactly while a run is queued or running.
        sql = "SELECT * FROM ingestion_runs WHERE active_connector IS NOT NULL ORDER BY id"
        return self._many(sql, (), SQLITE.reader(IngestionRun))

    def last_succeeded_run(self, connector_id: str) -> IngestionRun | None:
        sql = "SELECT * FROM ingestion_runs WHERE connector_id = ? AND status = ?"
        sql += " ORDER BY id DESC LIMIT 1"
        args = (connector_id, RunStatus.SUCCEEDED.value)
        return self._one(sql, args, SQLITE.reader(IngestionRun))

    # -------------------------------------------------------- documents
    def get_documents(self, connector_id: str, keys: list[str]) -> dict[str, Document]:
        found: dict[str, Document] = {}
        for part in _batches(keys):
            sql = f"SELECT * FROM documents WHERE connector_id = ? AND key IN ({_marks(len(part))})"
            for document in self._many(sql, (connector_id, *part), SQLITE.reader(Document)):
                found[document.key] = document
        return found

    def write_documents(self, batch: list[DocumentWrite], fence: RunFence | None = None) -> None:
        with self._write() as conn:
            _check_fence(conn, fence)
            for write in batch:
                fields = SQLITE.fields(write.document)
                (stored_id,) = conn.execute(_UPSERT_DOCUMENT, fields).fetchall()[0]
                conn.execute("DELETE FROM chunks WHERE document_id = ?", (stored_id,))
                conn.execute("DELETE FROM symbols WHERE document_id = ?", (stored_id,))
                chunks = [_chunk_fields(chunk, stored_id) for chunk in write.chunks]
                conn.executemany(_INSERT_CHUNK, chunks)
                symbols = [_symbol_fields(symbol, stored_id) for symbol in write.symbols]
                conn.executemany(_INSERT_SYMBOL, symbols)

    def delete_documents(
        self, connector_id: str, keys: list[str], fence: RunFence | None = None
    ) -> int:
        deleted = 0
        with self._write() as conn:
            _check_fence(conn, fence)
            for part in _batches(keys):
                where = f"connector_id = ? AND key IN ({_marks(len(part))})"
                args = (connector_id, *part)
                doomed = f"SELECT id FROM documents WHERE {where}"
                conn.execute(f"DELETE FROM chunks WHERE document_id IN ({doomed})", args)
                conn.execute(f"DELETE FROM symbols WHERE document_id IN ({doomed})", args)
                deleted += conn.execute(f"DELETE FROM documents WHERE {where}", args).rowcount
        return deleted

    def touch_documents(self, connector_id: str, keys: list[str], scan_id: str) -> None:
        with self._write() as conn:
            for part in _batches(keys):
                sql = "UPDATE documents SET scan_id = ?"
                sql += f" WHERE connector_id = ? AND key IN ({_marks(len(part))})"
                conn.execute(sql, (scan_id, connector_id, *part))

    def document_keys_not_in_scan(self, connector_id: str, scan_id: str) -> list[str]:
        sql = "SELECT key FROM documents WHERE connector_id = ? AND scan_id <> ? ORDER BY key"
        return [row[0] for row in self._rows(sql, (connector_id, scan_id))]

    def list_documents(self, project_id: str, page: PageRequest) -> list[Document]:
        sql = "SELECT * FROM documents WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
        args = (project_id, page.after or "", max(page.limit, 0))
        return self._many(sql, args, SQLITE.reader(Document))

    def list_files(self, project_id: str, page: PageRequest, prefix: str = "") -> list[Document]:
        where = ["project_id = ?", "kind = ?"]
        args: list[str | int] = [project_id, FILE_KIND]
        if (bounds := folder_range(prefix)) is not None:
            where.append("path >= ? AND path < ?")
            args += bounds
        if page.after is not None:
            where.append("(path, connector_id) > (?, ?)")
            args += split_file_key(page.after)
        sql = f"SELECT * FROM documents WHERE {' AND '.join(where)}"
        sql += " ORDER BY path, connector_id LIMIT ?"
        return self._many(sql, (*args, max(page.limit, 0)), SQLITE.reader(Document))

    # ----------------------------------------------------------- chunks
    def get_chunks(self, chunk_ids: list[str]) -> list[Chunk]:
        found: dict[str, Chunk] = {}
        for part in _batches(chunk_ids):
            sql = f"SELECT * FROM chunks WHERE id IN ({_marks(len(part))})"
            found.update((c.id, c) for c in self._many(sql, part, SQLITE.reader(Chunk)))
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def list_chunks(self, project_id: str, page: PageRequest) -> list[Chunk]:
        sql = "SELECT * FROM chunks WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
        args = (project_id, page.after or "", max(page.limit, 0))
        return self._many(sql, args, SQLITE.reader(Chunk))

    def count_chunks(self, project_id: str) -> int:
        return self._rows("SELECT COUNT(*) FROM chunks WHERE project_id = ?", (project_id,))[0][0]

    def chunk_vectors(self, project_id: str, model: str, page: PageRequest) -> list[ChunkVector]:
        args = (model, project_id, page.after or "", max(page.limit, 0))
        return [ChunkVector(row[0], row[1]) for row in self._rows(_CHUNK_VECTORS, args)]

    def chunks_without_vector(self, project_id: str, model: str, page: PageRequest) -> list[Chunk]:
        args = (project_id, page.after or "", model, max(page.limit, 0))
        return self._many(_CHUNKS_WITHOUT_VECTOR, args, SQLITE.reader(Chunk))

    # ---------------------------------------------------------- symbols
    def list_symbols(self, project_id: str, page: PageRequest) -> list[Symbol]:
        sql = "SELECT * FROM symbols WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
        args = (project_id, page.after or "", max(page.limit, 0))
        return self._many(sql, args, SQLITE.reader(Symbol))

    def count_symbols(self, project_id: str) -> int:
        sql = "SELECT COUNT(*) FROM symbols WHERE project_id = ?"
        return self._rows(sql, (project_id,))[0][0]

    # -------------------------------------------------- embedding cache
    def get_embeddings(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for part in _batches(hashes):
            sql = "SELECT hash, vector FROM embeddings"
            sql += f" WHERE model = ? AND hash IN ({_marks(len(part))})"
            found.update((row[0], row[1]) for row in self._rows(sql, (model, *part)))
        return found

    def put_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        rows = [(model, content_hash, bytes(vector)) for content_hash, vector in vectors.items()]
        with self._write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO embeddings (model, hash, vector) VALUES (?, ?, ?)", rows
            )

    # ------------------------------------------------ index generations
    def index_generation(self, project_id: str) -> int:
        sql = "SELECT generation FROM index_generations WHERE project_id = ?"
        found = self._rows(sql, (project_id,))
        return found[0][0] if found else 0

    def index_generations(self) -> dict[str, int]:
        sql = "SELECT project_id, generation FROM index_generations WHERE generation > 0"
        return {row[0]: row[1] for row in self._rows(sql, ())}

    def bump_index_generation(self, project_id: str) -> int:
        with self._write() as conn:
            # fetchall: the RETURNING statement must be finished before COMMIT.
            return conn.execute(_BUMP_GENERATION, (project_id,)).fetchall()[0][0]

    # ----------------------------------------------- webhook deliveries
    def record_deliveries(
        self, connector_id: str, keys: Sequence[DeliveryKey], at: datetime
    ) -> str | None:
        try:
            with self._write() as conn:  # one transaction: every key or none
                for key in keys:
                    if not conn.execute(*_record_delivery(connector_id, key, at)).rowcount:
                        raise _KeyHeld(key.key)
        except _KeyHeld as held:
            return held.key
        return None

    def delete_deliveries(self, connector_id: str, keys: Sequence[str]) -> int:
        sql = "DELETE FROM webhook_deliveries WHERE connector_id = ? AND delivery_id = ?"
        with self._write() as conn:
            return sum(conn.execute(sql, (connector_id, key)).rowcount for key in keys)

    def prune_deliveries(self, received_before: datetime, limit: int) -> int:
        with self._write() as conn:
            return conn.execute(
                _PRUNE_DELIVERIES, (codec.time_to_text(received_before), limit)
            ).rowcount


class _KeyHeld(Exception):
    """A delivery key the connector already holds: the transaction is rolled back."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _record_delivery(
    connector_id: str, key: DeliveryKey, at: datetime
) -> tuple[str, tuple[str, ...]]:
    """The statement recording ``key``; it changes no row when the key is held."""
    values = (connector_id, key.key, codec.time_to_text(at))
    if key.stale_before is None:
        return _RECORD_DELIVERY, values
    # Fixed-width ISO text: comparing it orders times.
    return _RECORD_DELIVERY_UNLESS_FRESH, (*values, codec.time_to_text(key.stale_before))
