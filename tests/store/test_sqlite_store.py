"""SqliteStore: the contract on a real file, plus SQLite-only behaviour."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from projectqa.server.errors import AlreadyExists, StoreError, StoreUnavailable
from projectqa.server.models import DocumentWrite, PageRequest, RunStatus
from projectqa.server.store import SqliteStore
from projectqa.server.store.codec import SQLITE
from projectqa.server.store.sqlite_schema import known_migrations

from ..full_disk import PageLimit, can_mount, small_disk
from .contract import StoreContract, make_user
from .contract_chat import ChatStoreContract
from .contract_files import FileListingContract
from .contract_ingestion import IngestionStoreContract, make_chunk, make_document, make_run


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(db_path).open()
    yield store
    store.close()


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


class TestSqliteStore(
    StoreContract, IngestionStoreContract, ChatStoreContract, FileListingContract
):
    @pytest.fixture
    def full_disk(self) -> PageLimit:
        return PageLimit()


def test_a_full_disk_is_store_unavailable_until_space_is_back(tmp_path: Path) -> None:
    """A real full filesystem under the database, WAL included (root only: mount(2))."""
    if not can_mount():
        pytest.skip("mounting a small tmpfs needs root")
    with small_disk(tmp_path / "disk", 4 << 20) as disk:
        store = SqliteStore(disk.path / "store.db").open()
        try:
            run = make_run("prj_1", "con_1", RunStatus.RUNNING)
            store.create_run(run)
            disk.fill()
            with pytest.raises(StoreUnavailable, match="database or disk is full"):
                store.update_run(replace(run, status=RunStatus.FAILED))
            assert store.active_run(connector_id="con_1") == run
            disk.free()
            store.update_run(replace(run, status=RunStatus.FAILED))
            assert store.active_run(connector_id="con_1") is None
        finally:
            store.close()


def test_database_uses_wal(store: SqliteStore, db_path: Path) -> None:
    assert pragma(db_path, "journal_mode") == "wal"


def test_migrations_recorded_and_reopen_is_idempotent(store: SqliteStore, db_path: Path) -> None:
    latest = len(known_migrations())
    assert latest >= 1
    assert pragma(db_path, "user_version") == latest
    user = make_user("alice")
    store.create_user(user)
    store.close()

    reopened = SqliteStore(db_path).open()
    try:
        assert pragma(db_path, "user_version") == latest
        assert reopened.get_user(user.id) == user
    finally:
        reopened.close()


def test_newer_schema_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match="999"):
        SqliteStore(db_path).open()


def test_parent_that_is_a_file_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    path = blocker / "store.db"
    with pytest.raises(StoreError) as info:
        SqliteStore(path).open()
    assert str(path) in str(info.value)
    assert "not a directory" in str(info.value)


def test_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"store\.db"):
        SqliteStore(path).open()


def test_use_before_open_or_after_close(db_path: Path) -> None:
    store = SqliteStore(db_path)
    with pytest.raises(StoreError, match="open"):
        store.ping()
    store.open()
    store.close()
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_concurrent_creates_from_threads(store: SqliteStore) -> None:
    def create_many(worker: int) -> None:
        for i in range(50):
            store.create_user(make_user(f"w{worker}-u{i}"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(create_many, range(4)))
    assert store.count_users() == 200
    names = {user.name for user in store.list_users(PageRequest(limit=500))}
    assert names == {f"w{w}-u{i}" for w in range(4) for i in range(50)}


def test_two_stores_on_one_file_see_each_other(store: SqliteStore, db_path: Path) -> None:
    other = SqliteStore(db_path).open()
    try:
        user = make_user("alice")
        other.create_user(user)
        assert store.get_user(user.id) == user
    finally:
        other.close()


def test_database_and_its_directory_are_private(tmp_path) -> None:
    """The file holds connector secrets and API keys: owner-only, whatever the umask."""
    data_dir = tmp_path / "data"
    store = SqliteStore(data_dir / "db.sqlite3").open()
    store.count_users()  # creates -wal and -shm
    modes = {p.name: p.stat().st_mode & 0o777 for p in data_dir.iterdir()}
    store.close()
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert modes["db.sqlite3"] == 0o600
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


def test_generation_bumps_from_threads_and_processes_add_up(
    store: SqliteStore, db_path: Path
) -> None:
    other = SqliteStore(db_path).open()  # a second connection, as another process has
    try:

        def bump_many(worker: int) -> list[int]:
            target = store if worker % 2 else other
            return [target.bump_index_generation("prj_1") for _ in range(25)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            seen = [value for values in pool.map(bump_many, range(4)) for value in values]
    finally:
        other.close()
    assert sorted(seen) == list(range(1, 101))
    assert store.index_generation("prj_1") == 100


def test_one_active_run_wins_a_race(store: SqliteStore, db_path: Path) -> None:
    stores = [store, SqliteStore(db_path).open()]
    runs = [make_run("prj_1", "con_1") for _ in range(8)]

    def create(index: int) -> bool:
        try:
            stores[index % 2].create_run(runs[index])
        except AlreadyExists:
            return False
        return True

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            created = list(pool.map(create, range(8)))
    finally:
        stores[1].close()
    assert created.count(True) == 1
    assert [run.id for run in store.list_active_runs()] == [runs[created.index(True)].id]


def test_vectors_are_stored_as_blobs(store: SqliteStore, db_path: Path) -> None:
    store.put_embeddings("m", {"h": b"\x00\x01\xff"})
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT typeof(vector), vector FROM embeddings").fetchone()
    finally:
        conn.close()
    assert row == ("blob", b"\x00\x01\xff")


def test_migrating_a_version_1_database_keeps_its_records(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    version, sql = known_migrations()[0]
    user = make_user("alice")
    fields = SQLITE.fields(user)
    conn = sqlite3.connect(db_path)
    conn.executescript(f"{sql};\nPRAGMA user_version = {version};")
    marks = ", ".join("?" * len(fields))
    conn.execute(f"INSERT INTO users ({', '.join(fields)}) VALUES ({marks})", list(fields.values()))
    conn.commit()
    conn.close()

    store = SqliteStore(db_path).open()
    try:
        assert pragma(db_path, "user_version") == len(known_migrations())
        assert store.get_user(user.id) == user
        assert store.bump_index_generation("prj_1") == 1
    finally:
        store.close()


def test_chunks_written_before_references_read_with_none(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    document = make_document("con_1", "a.py")
    chunk = make_chunk(document, 0)
    conn = sqlite3.connect(db_path)
    for version, sql in known_migrations()[:8]:  # 0009 added chunks.references
        conn.executescript(f"{sql};\nPRAGMA user_version = {version};")
    fields = {k: v for k, v in SQLITE.fields(chunk).items() if k != "references"}
    marks = ", ".join("?" * len(fields))
    columns = ", ".join(fields)
    conn.execute(f"INSERT INTO chunks ({columns}) VALUES ({marks})", list(fields.values()))
    conn.commit()
    conn.close()

    store = SqliteStore(db_path).open()
    try:
        assert store.get_chunks([chunk.id]) == [chunk]
        assert store.get_chunks([chunk.id])[0].references == ()
    finally:
        store.close()


def test_references_are_one_text_column(store: SqliteStore, db_path: Path) -> None:
    document = make_document("con_1", "a.py")
    references = ("call:f", "import:a.b")
    chunks = [make_chunk(document, 0, references=references), make_chunk(document, 1)]
    store.write_documents([DocumentWrite(document, chunks)])
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute('SELECT typeof("references"), "references" FROM chunks ORDER BY id')
        stored = rows.fetchall()
    finally:
        conn.close()
    assert stored == [("text", '["call:f","import:a.b"]'), ("text", "")]
