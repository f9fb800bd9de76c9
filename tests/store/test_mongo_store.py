"""MongoStore: the contract on mongomock and, when configured, a real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import mongomock
import pytest
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure

from projectqa.server.errors import StoreError, StoreUnavailable
from projectqa.server.store import MongoStore

from ..full_disk import OUT_OF_DISK_SPACE, MongoOutOfSpace
from .contract import StoreContract, make_user
from .contract_chat import ChatStoreContract
from .contract_files import FileListingContract
from .contract_ingestion import (
    IngestionStoreContract,
    every_symbol,
    make_document,
    with_chunks,
    with_symbols,
)

REAL_SERVER_URI = os.environ.get("PROJECTQA_TEST_MONGODB_URI")


class TestMongomockStore(
    StoreContract, IngestionStoreContract, ChatStoreContract, FileListingContract
):
    @pytest.fixture
    def full_disk(self) -> MongoOutOfSpace:
        return MongoOutOfSpace()

    @pytest.fixture
    def store(self) -> Iterator[MongoStore]:
        store = MongoStore(mongomock.MongoClient(), "projectqa_test")
        store.ensure_indexes()
        yield store
        store.close()


@pytest.mark.mongodb
class TestRealMongoStore(
    StoreContract, IngestionStoreContract, ChatStoreContract, FileListingContract
):
    @pytest.fixture
    def full_disk(self) -> MongoOutOfSpace:
        return MongoOutOfSpace()

    @pytest.fixture
    def store(self) -> Iterator[MongoStore]:
        if not REAL_SERVER_URI:
            pytest.skip("PROJECTQA_TEST_MONGODB_URI is not set")
        database = f"projectqa_test_{uuid.uuid4().hex[:12]}"
        store = MongoStore.from_uri(REAL_SERVER_URI, database, timeout_ms=5000)
        store.ensure_indexes()
        yield store
        store.close()
        with MongoClient(REAL_SERVER_URI, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(database)


def test_ensure_indexes_is_idempotent() -> None:
    store = MongoStore(mongomock.MongoClient(), "projectqa_test")
    store.ensure_indexes()
    store.ensure_indexes()
    store.create_user(make_user("alice"))
    assert store.count_users() == 1


@pytest.fixture
def mongomock_store() -> Iterator[MongoStore]:
    store = MongoStore(mongomock.MongoClient(), "projectqa_test")
    store.ensure_indexes()
    yield store
    store.close()


def test_one_active_run_index_is_partial_and_unique(mongomock_store: MongoStore) -> None:
    indexes = mongomock_store._cols["ingestion_runs"].index_information()
    (active,) = [spec for spec in indexes.values() if spec["key"] == [("active_connector", 1)]]
    assert active["unique"] is True
    assert active["partialFilterExpression"] == {"active_connector": {"$type": "string"}}


def test_vectors_are_stored_as_binary(mongomock_store: MongoStore) -> None:
    mongomock_store.put_embeddings("m", {"h": b"\x00\x01\xff"})
    raw = mongomock_store._cols["embeddings"].find_one({"model": "m", "hash": "h"})
    assert raw is not None
    assert isinstance(raw["vector"], bytes) and raw["vector"] == b"\x00\x01\xff"


@pytest.mark.parametrize("cut_at", ["chunks", "symbols"])
def test_write_cut_short_leaves_documents_the_next_run_redoes(
    mongomock_store: MongoStore, monkeypatch: pytest.MonkeyPatch, cut_at: str
) -> None:
    """No transactions: a failure before the last step must not leave a document whose
    content hash claims chunks or symbols it does not have, nor any without a document."""
    store = mongomock_store
    stored = make_document("con_1", "old.py")
    store.write_documents([with_symbols(with_chunks(stored, 2), "old")])
    rewrite = with_symbols(with_chunks(stored, 3), "new", "newer")
    fresh = with_symbols(with_chunks(make_document("con_1", "new.py"), 1), "fresh")

    def unreachable(*args: object, **kwargs: object) -> None:
        raise AutoReconnect("connection reset")

    monkeypatch.setattr(store._cols[cut_at], "insert_many", unreachable)
    with pytest.raises(StoreUnavailable):
        store.write_documents([rewrite, fresh])
    monkeypatch.undo()

    found = store.get_documents("con_1", ["old.py", "new.py"])
    assert {key: doc.content_hash for key, doc in found.items()} == {"old.py": "", "new.py": ""}
    assert found["new.py"].id == fresh.document.id
    store.write_documents([rewrite, fresh])
    assert store.get_documents("con_1", ["old.py", "new.py"]) == {
        "old.py": rewrite.document,
        "new.py": fresh.document,
    }
    assert store.count_chunks("prj_1") == 4
    written = sorted(rewrite.symbols + fresh.symbols, key=lambda symbol: symbol.id)
    assert every_symbol(store, "prj_1") == written


@pytest.mark.parametrize(
    "refusal",
    [
        OperationFailure("No space left on device", OUT_OF_DISK_SPACE),
        BulkWriteError({"writeErrors": [{"index": 0, "code": OUT_OF_DISK_SPACE}]}),
    ],
    ids=["write", "bulk-write"],
)
def test_a_server_out_of_disk_space_is_store_unavailable(
    mongomock_store: MongoStore, monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    """Space can come back: the caller should hear "unavailable", not an internal error."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise refusal

    monkeypatch.setattr(mongomock_store._cols["embeddings"], "insert_many", refuse)
    with pytest.raises(StoreUnavailable, match="out of disk space"):
        mongomock_store.put_embeddings("model", {"h": b"\x00"})


def test_symbol_indexes_exist(mongomock_store: MongoStore) -> None:
    indexes = mongomock_store._cols["symbols"].index_information()
    keys = {tuple(spec["key"]) for spec in indexes.values()}
    assert {(("project_id", 1), ("_id", 1)), (("document_id", 1),)} <= keys


def test_unreachable_server_is_store_unavailable_quickly() -> None:
    uri = "mongodb://user:s3cret@127.0.0.1:1"  # nothing listens on port 1
    store = MongoStore.from_uri(uri, "x", timeout_ms=300)
    # "Quickly" is the client's timeouts, checked as settings: a bound on elapsed time would
    # fail on a loaded machine. Without them pymongo waits 30 s per call.
    options = store._client.options
    assert options.server_selection_timeout == 0.3
    assert options.pool_options.connect_timeout == options.pool_options.socket_timeout == 0.3
    try:
        with pytest.raises(StoreUnavailable) as pinged:
            store.ping()
        with pytest.raises(StoreUnavailable) as read:
            store.get_project("prj_1")
    finally:
        store.close()
    for error in (pinged.value, read.value):
        message = str(error)
        assert "s3cret" not in message
        assert "mongodb://" not in message
        assert "127.0.0.1" not in message


def test_invalid_uri_is_store_error_without_password() -> None:
    with pytest.raises(StoreError) as info:
        MongoStore.from_uri("mongodb://user:s3cret@host:notaport", "x", timeout_ms=300)
    assert "s3cret" not in str(info.value)


def test_references_are_a_list_and_chunks_stored_without_them_read_with_none(
    mongomock_store: MongoStore,
) -> None:
    document = make_document("con_1", "a.py")
    write = with_chunks(document, 2)
    first = replace(write.chunks[0], references=("call:f", "import:a.b"))
    mongomock_store.write_documents([replace(write, chunks=[first, write.chunks[1]])])
    chunks = mongomock_store._cols["chunks"]
    assert chunks.find_one({"_id": first.id})["references"] == ["call:f", "import:a.b"]

    chunks.update_one({"_id": first.id}, {"$unset": {"references": ""}})  # written before

    assert [c.references for c in mongomock_store.get_chunks([first.id])] == [()]
