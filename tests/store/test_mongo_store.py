"""MongoStore: the contract on mongomock and, when configured, a real server."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import mongomock
import pytest
from pymongo import MongoClient

from projectqa.server.errors import StoreError, StoreUnavailable
from projectqa.server.store import MongoStore

from .contract import StoreContract, make_user

REAL_SERVER_URI = os.environ.get("PROJECTQA_TEST_MONGODB_URI")


class TestMongomockStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[MongoStore]:
        store = MongoStore(mongomock.MongoClient(), "projectqa_test")
        store.ensure_indexes()
        yield store
        store.close()


@pytest.mark.mongodb
class TestRealMongoStore(StoreContract):
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


def test_unreachable_server_is_store_unavailable_quickly() -> None:
    uri = "mongodb://user:s3cret@127.0.0.1:1"  # nothing listens on port 1
    store = MongoStore.from_uri(uri, "x", timeout_ms=300)
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable) as pinged:
            store.ping()
        with pytest.raises(StoreUnavailable) as read:
            store.get_project("prj_1")
    finally:
        store.close()
    assert time.monotonic() - started < 5
    for error in (pinged.value, read.value):
        message = str(error)
        assert "s3cret" not in message
        assert "mongodb://" not in message
        assert "127.0.0.1" not in message


def test_invalid_uri_is_store_error_without_password() -> None:
    with pytest.raises(StoreError) as info:
        MongoStore.from_uri("mongodb://user:s3cret@host:notaport", "x", timeout_ms=300)
    assert "s3cret" not in str(info.value)
