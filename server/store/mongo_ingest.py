"""The ingestion half of ``MongoStore``: runs, documents, chunks, symbols,
the embedding cache, index generations and webhook deliveries.

A mixin, so that ``mongo.py`` stays readable; it runs on the collections and
error mapping ``MongoStore`` provides. Without multi-document transactions,
every multi-step write is ordered so that a cut leaves a state the next run
redoes or cannot see (see ``write_documents`` and ``delete_documents``).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..errors import RunLost, StoreUnavailable
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
from .codec import MONGO
from .file_listing import FILE_KIND, folder_range, split_file_key
from .plumbing import MongoPlumbing

T = TypeVar("T")

_IN_BATCH = 1000  # keys per $in list: keeps each query small whatever the caller passes
_DUPLICATE_KEY = 11000
# Exists (as the connector id) only while a run is queued or running.
_ACTIVE = "active_connector"

# collection -> indexes as (keys, create_index options); created by ensure_indexes().
INGESTION_INDEXES: dict[str, list[tuple[list[str], dict[str, Any]]]] = {
    "ingestion_runs": [
        (["project_id", "_id"], {}),
        (["connector_id", "_id"], {}),
        (["connector_id", "status", "_id"], {}),
        # At most one active run per connector, atomically. Partial, not sparse:
        # partialFilterExpression supports $type but not $in on status.
        (
            [_ACTIVE],
            {"unique": True, "partialFilterExpression": {_ACTIVE: {"$type": "string"}}},
        ),
    ],
    "documents": [
        (["connector_id", "key"], {"unique": True}),
        (["project_id", "_id"], {}),
        (["project_id", "kind", "path", "connector_id"], {}),  # list_files
    ],
    "chunks": [(["project_id", "_id"], {}), (["document_id"], {}), (["connector_id"], {})],
    "symbols": [(["project_id", "_id"], {}), (["document_id"], {}), (["connector_id"], {})],
    "embeddings": [(["model", "hash"], {"unique": True})],
    "index_generations": [],  # keyed by _id = project id
    # Keyed per connector: a generic webhook's ids need only be unique per source.
    "webhook_deliveries": [(["connector_id", "delivery_id"], {"unique": True})],
}
# (collection, field) of the ingestion records deleted with their project.
PROJECT_COLLECTIONS = (
    ("ingestion_runs", "project_id"),
    ("chunks", "project_id"),
    ("symbols", "project_id"),
    ("documents", "project_id"),
    ("index_generations", "_id"),
)
# Deleted with their connector, chunks and symbols before documents (see delete_documents).
CONNECTOR_COLLECTIONS = (
    "chunks",
    "symbols",
    "documents",
    "ingestion_runs",
    "webhook_deliveries",
)
# What write_documents replaces and delete_documents removes, by document id.
DERIVED_COLLECTIONS = ("chunks", "symbols")

_RUN_FIXED = ("_id", "project_id", "connector_id", "created_at")
# Only request_cancel and request_rerun set these: a worker's write keeps them.
_RUN_REQUESTS = ("cancel_requested", "rerun_requested")


def _batches(keys: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _IN_BATCH):
        yield unique[start : start + _IN_BATCH]


def _run_doc(run: IngestionRun) -> dict[str, Any]:
    doc = MONGO.fields(run)
    if run.status.active:
        doc[_ACTIVE] = run.connector_id
    return doc


def _active_taken(run: IngestionRun) -> str:
    return f"connector {run.connector_id!r} already has a queued or running ingestion run"


def _only_duplicates(exc: BulkWriteError) -> bool:
    return all(error["code"] == _DUPLICATE_KEY for error in exc.details.get("writeErrors", []))


DocumentKey = tuple[str, str]  # (connector_id, key)


def _key(document: Document) -> DocumentKey:
    return document.connector_id, document.key


def _derived(write: DocumentWrite, document_id: str) -> dict[str, list[dict[str, Any]]]:
    """The chunks and symbols of a write as stored under the document's stored id."""
    return {
        "chunks": [{**MONGO.fields(chunk), "document_id": document_id} for chunk in write.chunks],
        "symbols": [
            {
                **MONGO.fields(symbol),
                "_id": f"{document_id}:{symbol.id.rpartition(':')[2]}",
                "document_id": document_id,
            }
            for symbol in write.symbols
        ],
    }


class MongoIngestion(MongoPlumbing):
    """Ingestion methods of ``MongoStore`` (see ``Store`` for the contracts)."""

    # ------------------------------------------------------------- runs
    def create_run(self, run: IngestionRun) -> None:
        self._insert("ingestion_runs", _run_doc(run), _active_taken(run))

    def get_run(self, run_id: str) -> IngestionRun | None:
        return self._find_one("ingestion_runs", {"_id": run_id}, MONGO.reader(IngestionRun))

    def update_run(self, run: IngestionRun) -> None:
        changes = {k: v for k, v in _run_doc(run).items() if k not in _RUN_FIXED}
        update: dict[str, Any] = {"$set": changes}
        if _ACTIVE not in changes:
            update["$unset"] = {_ACTIVE: ""}
        with self._errors(_active_taken(run)):
            self._cols["ingestion_runs"].update_one({"_id": run.id}, update)

    def write_run_if(self, run: IngestionRun, lease_seq: int) -> IngestionRun | None:
        changes = {
            k: v for k, v in _run_doc(run).items() if k not in _RUN_FIXED and k not in _RUN_REQUESTS
        }
        update: dict[str, Any] = {"$set": changes}
        if _ACTIVE not in changes:
            update["$unset"] = {_ACTIVE: ""}
        seq: dict[str, Any] = {"lease_seq": lease_seq}
        if lease_seq == 0:  # a run stored before leases has no lease_seq yet
            seq = {"$or": [seq, {"lease_seq": {"$exists": False}}]}
        query = {"_id": run.id, _ACTIVE: {"$type": "string"}, **seq}
        with self._errors(_active_taken(run)):
            doc = self._cols["ingestion_runs"].find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else MONGO.record(IngestionRun, doc)

    def request_cancel(self, run_id: str, at: datetime) -> IngestionRun | None:
        runs = self._cols["ingestion_runs"]
        cancelled = {
            "status": RunStatus.CANCELLED.value,
            "phase": "done",
            "finished_at": at,
            "updated_at": at,
        }
        with self._errors():
            queued = {"_id": run_id, "status": RunStatus.QUEUED.value}
            if runs.update_one(queued, {"$set": cancelled, "$unset": {_ACTIVE: ""}}).matched_count:
                return self.get_run(run_id)
            # Queued or running: a run handed back meanwhile is cancelled when next taken.
            active = {"_id": run_id, _ACTIVE: {"$type": "string"}}
            runs.update_one(active, {"$set": {"cancel_requested": True}})
        return self.get_run(run_id)

    def _check_fence(self, fence: RunFence | None) -> None:
        """Just before a fenced write (not in one transaction with it: see Store)."""
        if fence is None:
            return
        query = {"_id": fence.run_id, "owner": fence.owner, "status": RunStatus.RUNNING.value}
        with self._errors():
            held = self._cols["ingestion_runs"].count_documents(query, limit=1)
        if not held:
            raise RunLost(f"run {fence.run_id} is no longer run by {fence.owner}")

    def request_rerun(self, connector_id: str) -> bool:
        with self._errors():
            found = self._cols["ingestion_runs"].update_one(
                {_ACTIVE: connector_id}, {"$set": {"rerun_requested": True}}
            )
        return found.matched_count > 0

    def list_runs(
        self, project_id: str, page: PageRequest, connector_id: str | None = None
    ) -> list[IngestionRun]:
        if page.limit <= 0:  # limit(0) means "no limit" to MongoDB
            return []
        query: dict[str, Any] = {"project_id": project_id}
        if connector_id is not None:
            query["connector_id"] = connector_id
        if page.after:
            query["_id"] = {"$lt": page.after}
        with self._errors():
            cursor = self._cols["ingestion_runs"].find(query).sort("_id", DESCENDING)
            found = list(cursor.limit(page.limit))
        return [MONGO.record(IngestionRun, doc) for doc in found]

    def list_active_runs(self) -> list[IngestionRun]:
        with self._errors():
            cursor = self._cols["ingestion_runs"].find({_ACTIVE: {"$type": "string"}})
            found = list(cursor.sort("_id", ASCENDING))
        return [MONGO.record(IngestionRun, doc) for doc in found]

    def last_succeeded_run(self, connector_id: str) -> IngestionRun | None:
        query = {"connector_id": connector_id, "status": RunStatus.SUCCEEDED.value}
        with self._errors():
            doc = self._cols["ingestion_runs"].find_one(query, sort=[("_id", DESCENDING)])
        return None if doc is None else MONGO.record(IngestionRun, doc)

    # -------------------------------------------------------- documents
    def get_documents(self, connector_id: str, keys: list[str]) -> dict[str, Document]:
        found: dict[str, Document] = {}
        with self._errors():
            for part in _batches(keys):
                query = {"connector_id": connector_id, "key": {"$in": part}}
                for doc in self._cols["documents"].find(query):
                    found[doc["key"]] = MONGO.record(Document, doc)
        return found

    def write_documents(self, batch: list[DocumentWrite], fence: RunFence | None = None) -> None:
        latest = {_key(write.document): write for write in batch}
        if not latest:
            return
        self._check_fence(fence)
        ids = self._claim_documents([write.document for write in latest.values()])
        derived: dict[str, list[dict[str, Any]]] = {name: [] for name in DERIVED_COLLECTIONS}
        for key, write in latest.items():
            for name, docs in _derived(write, ids[key]).items():
                derived[name] += docs
        with self._errors():
            for name, docs in derived.items():
                self._cols[name].delete_many({"document_id": {"$in": list(ids.values())}})
                if docs:
                    self._cols[name].insert_many(docs)
            # Last: only now does a document carry its real content hash.
            for key, write in latest.items():
                fields = {k: v for k, v in MONGO.fields(write.document).items() if k != "_id"}
                self._cols["documents"].update_one({"_id": ids[key]}, {"$set": fields})

    def _claim_documents(self, documents: list[Document]) -> dict[DocumentKey, str]:
        """Stored ids by key, after marking every document as being rewritten.

        Stored documents lose their content hash; new ones are inserted as
        placeholders (empty hash, no chunks) under the given id. A write cut
        short therefore leaves documents the next run sees as changed and
        rewrites under the same id, never chunks without a document.
        """
        ids = self._stored_document_ids([_key(document) for document in documents])
        fresh = [document for document in documents if _key(document) not in ids]
        with self._errors():
            if ids:
                query = {"_id": {"$in": list(ids.values())}}
                self._cols["documents"].update_many(query, {"$set": {"content_hash": ""}})
            if not fresh:
                return ids
            placeholders = [
                {**MONGO.fields(document), "content_hash": "", "chunk_count": 0}
                for document in fresh
            ]
            try:
                self._cols["documents"].insert_many(placeholders, ordered=False)
            except BulkWriteError as exc:
                if not _only_duplicates(exc):
                    raise
                # Written meanwhile by another writer: the stored id wins.
                return self._claim_documents(documents)
        return ids | {_key(document): document.id for document in fresh}

    def _stored_document_ids(self, keys: list[DocumentKey]) -> dict[DocumentKey, str]:
        keys_by_connector: dict[str, list[str]] = defaultdict(list)
        for connector_id, key in keys:
            keys_by_connector[connector_id].append(key)
        ids: dict[DocumentKey, str] = {}
        with self._errors():
            for connector_id, connector_keys in keys_by_connector.items():
                for part in _batches(connector_keys):
                    query = {"connector_id": connector_id, "key": {"$in": part}}
                    for doc in self._cols["documents"].find(query, {"key": 1}):
                        ids[connector_id, doc["key"]] = doc["_id"]
        return ids

    def delete_documents(
        self, connector_id: str, keys: list[str], fence: RunFence | None = None
    ) -> int:
        self._check_fence(fence)
        # Chunks and symbols first: a cut leaves documents without them, which the
        # next run deletes again, never chunks the index would serve without a document.
        stored = self._stored_document_ids([(connector_id, key) for key in keys])
        ids = list(stored.values())
        deleted = 0
        with self._errors():
            for part in _batches(ids):
                for name in DERIVED_COLLECTIONS:
                    self._cols[name].delete_many({"document_id": {"$in": part}})
                deleted += self._cols["documents"].delete_many({"_id": {"$in": part}}).deleted_count
        return deleted

    def touch_documents(self, connector_id: str, keys: list[str], scan_id: str) -> None:
        with self._errors():
            for part in _batches(keys):
                query = {"connector_id": connector_id, "key": {"$in": part}}
                self._cols["documents"].update_many(query, {"$set": {"scan_id": scan_id}})

    def document_keys_not_in_scan(self, connector_id: str, scan_id: str) -> list[str]:
        query = {"connector_id": connector_id, "scan_id": {"$ne": scan_id}}
        with self._errors():
            found = self._cols["documents"].find(query, {"key": 1, "_id": 0}).sort("key", ASCENDING)
            return [doc["key"] for doc in found]

    def list_documents(self, project_id: str, page: PageRequest) -> list[Document]:
        query = {"project_id": project_id}
        return self._find_page("documents", query, "_id", page, MONGO.reader(Document))

    def list_files(self, project_id: str, page: PageRequest, prefix: str = "") -> list[Document]:
        if page.limit <= 0:  # limit(0) means "no limit" to MongoDB
            return []
        query: dict[str, Any] = {"project_id": project_id, "kind": FILE_KIND}
        if (bounds := folder_range(prefix)) is not None:
            query["path"] = {"$gte": bounds[0], "$lt": bounds[1]}
        if page.after is not None:
            path, connector_id = split_file_key(page.after)
            query["$or"] = [
                {"path": {"$gt": path}},
                {"path": path, "connector_id": {"$gt": connector_id}},
            ]
        order = [("path", ASCENDING), ("connector_id", ASCENDING)]
        with self._errors():
            found = list(self._cols["documents"].find(query).sort(order).limit(page.limit))
        return [MONGO.record(Document, doc) for doc in found]

    # ----------------------------------------------------------- chunks
    def get_chunks(self, chunk_ids: list[str]) -> list[Chunk]:
        found: dict[str, Chunk] = {}
        with self._errors():
            for part in _batches(chunk_ids):
                for doc in self._cols["chunks"].find({"_id": {"$in": part}}):
                    found[doc["_id"]] = MONGO.record(Chunk, doc)
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def list_chunks(self, project_id: str, page: PageRequest) -> list[Chunk]:
        query = {"project_id": project_id}
        return self._find_page("chunks", query, "_id", page, MONGO.reader(Chunk))

    def count_chunks(self, project_id: str) -> int:
        with self._errors():
            return self._cols["chunks"].count_documents({"project_id": project_id})

    def chunk_vectors(self, project_id: str, model: str, page: PageRequest) -> list[ChunkVector]:
        # Joined here rather than with $lookup: the cache is keyed by (model,
        # hash) and a $lookup on two fields needs let/pipeline, which mongomock
        # lacks. Chunks without a vector are skipped, so keep reading until the
        # page is full or the chunks run out.
        found: list[ChunkVector] = []
        after = page.after or ""
        while len(found) < page.limit:
            wanted = page.limit - len(found)
            query = {"project_id": project_id, "_id": {"$gt": after}}
            with self._errors():
                cursor = self._cols["chunks"].find(query, {"embed_hash": 1})
                chunks = list(cursor.sort("_id", ASCENDING).limit(wanted))
            vectors = self.get_embeddings(model, [chunk["embed_hash"] for chunk in chunks])
            found += [
                ChunkVector(chunk["_id"], vectors[chunk["embed_hash"]])
                for chunk in chunks
                if chunk["embed_hash"] in vectors
            ]
            if len(chunks) < wanted:
                break
            after = chunks[-1]["_id"]
        return found

    def chunks_without_vector(self, project_id: str, model: str, page: PageRequest) -> list[Chunk]:
        # As chunk_vectors: pages of chunks joined with the cache here, read on until the
        # page is full or the chunks run out.
        found: list[Chunk] = []
        after = page.after or ""
        read = MONGO.reader(Chunk)
        while len(found) < page.limit:
            wanted = page.limit - len(found)
            query = {"project_id": project_id, "_id": {"$gt": after}}
            with self._errors():
                docs = list(self._cols["chunks"].find(query).sort("_id", ASCENDING).limit(wanted))
            cached = self.get_embeddings(model, [doc["embed_hash"] for doc in docs])
            found += [read(doc) for doc in docs if doc["embed_hash"] not in cached]
            if len(docs) < wanted:
                break
            after = docs[-1]["_id"]
        return found

    # ---------------------------------------------------------- symbols
    def list_symbols(self, project_id: str, page: PageRequest) -> list[Symbol]:
        query = {"project_id": project_id}
        return self._find_page("symbols", query, "_id", page, MONGO.reader(Symbol))

    def count_symbols(self, project_id: str) -> int:
        with self._errors():
            return self._cols["symbols"].count_documents({"project_id": project_id})

    # -------------------------------------------------- embedding cache
    def get_embeddings(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        with self._errors():
            for part in _batches(hashes):
                query = {"model": model, "hash": {"$in": part}}
                for doc in self._cols["embeddings"].find(query, {"hash": 1, "vector": 1}):
                    found[doc["hash"]] = bytes(doc["vector"])
        return found

    def put_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        if not vectors:
            return
        docs = [
            {"model": model, "hash": content_hash, "vector": bytes(vector)}
            for content_hash, vector in vectors.items()
        ]
        with self._errors():
            try:
                self._cols["embeddings"].insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if not _only_duplicates(exc):  # an existing entry is left as it is
                    raise

    # ------------------------------------------------ index generations
    def index_generation(self, project_id: str) -> int:
        with self._errors():
            doc = self._cols["index_generations"].find_one({"_id": project_id})
        return 0 if doc is None else int(doc["generation"])

    def index_generations(self) -> dict[str, int]:
        with self._errors():
            docs = list(self._cols["index_generations"].find({"generation": {"$gt": 0}}))
        return {str(doc["_id"]): int(doc["generation"]) for doc in docs}

    def bump_index_generation(self, project_id: str) -> int:
        collection = self._cols["index_generations"]

        def bump() -> int:
            doc = collection.find_one_and_update(
                {"_id": project_id},
                {"$inc": {"generation": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:  # an upsert returning the document AFTER always finds one
                raise RuntimeError(f"index generation of {project_id} was not stored")
            return int(doc["generation"])

        with self._errors():
            try:
                return bump()
            except DuplicateKeyError:
                # A concurrent first bump inserted first; now ours matches and increments.
                return bump()

    # ----------------------------------------------- webhook deliveries
    def record_deliveries(
        self, connector_id: str, keys: Sequence[DeliveryKey], at: datetime
    ) -> str | None:
        # No transaction (a standalone server has none): the keys in order, and those
        # recorded taken back when a later one is held or cannot be written.
        recorded: list[str] = []
        try:
            for key in keys:
                if not self._record_delivery(connector_id, key, at):
                    self.delete_deliveries(connector_id, recorded)
                    return key.key
                recorded.append(key.key)
        except StoreUnavailable:
            with contextlib.suppress(StoreUnavailable):
                self.delete_deliveries(connector_id, recorded)
            raise
        return None

    def _record_delivery(self, connector_id: str, key: DeliveryKey, at: datetime) -> bool:
        query = {"connector_id": connector_id, "delivery_id": key.key}
        deliveries = self._cols["webhook_deliveries"]
        with self._errors():
            try:
                if key.stale_before is None:
                    deliveries.insert_one({**query, "received_at": codec.utc(at)})
                else:
                    # Matches only a stale record; otherwise the upsert's insert hits the
                    # unique key, so a fresh record (or a racing first one) means False.
                    stale = {**query, "received_at": {"$lt": codec.utc(key.stale_before)}}
                    deliveries.update_one(
                        stale, {"$set": {"received_at": codec.utc(at)}}, upsert=True
                    )
            except DuplicateKeyError:
                return False
        return True

    def delete_deliveries(self, connector_id: str, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        query = {"connector_id": connector_id, "delivery_id": {"$in": list(keys)}}
        with self._errors():
            return self._cols["webhook_deliveries"].delete_many(query).deleted_count

    def prune_deliveries(self, received_before: datetime, limit: int) -> int:
        deliveries = self._cols["webhook_deliveries"]
        old = {"received_at": {"$lt": codec.utc(received_before)}}
        with self._errors():
            ids = [doc["_id"] for doc in deliveries.find(old, {"_id": 1}).limit(limit)]
            if not ids:
                return 0
            return deliveries.delete_many({"_id": {"$in": ids}}).deleted_count

    def _delete_project_deliveries(self, project_id: str) -> None:
        """Deliveries know only their connector: call before the connectors go."""
        with self._errors():
            connector_ids = self._cols["connectors"].distinct("_id", {"project_id": project_id})
            for part in _batches(connector_ids):
                self._cols["webhook_deliveries"].delete_many({"connector_id": {"$in": part}})
