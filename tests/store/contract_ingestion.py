"""The ingestion part of the Store contract: runs, documents, chunks, symbols,
the embedding cache, index generations and webhook deliveries.

Mixed into the per-backend test classes next to ``StoreContract``; they
provide the ``store`` fixture.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from projectqa.server.errors import AlreadyExists, RunLost, StoreUnavailable
from projectqa.server.models import (
    Chunk,
    ChunkVector,
    Document,
    DocumentWrite,
    IngestionRun,
    PageRequest,
    RunFence,
    RunMode,
    RunStatus,
    RunTrigger,
    Symbol,
    new_id,
    utcnow,
)
from projectqa.server.store import Store
from projectqa.server.store.base import DeliveryKey

from ..full_disk import FullDisk
from .contract import all_pages, make_connector, make_project

MODEL = "all-MiniLM-L6-v2"
EVERY_BYTE = bytes(range(256)) * 6  # 1,536 bytes, like 384 float32, NULs included


# ------------------------------------------------------------------ records
def make_run(
    project_id: str, connector_id: str, status: RunStatus = RunStatus.QUEUED, **changes: Any
) -> IngestionRun:
    now = utcnow()
    run = IngestionRun(
        id=new_id("run"),
        project_id=project_id,
        connector_id=connector_id,
        mode=RunMode.FULL,
        trigger=RunTrigger.MANUAL,
        status=status,
        phase="queued",
        created_at=now,
        updated_at=now,
    )
    return replace(run, **changes)


def make_document(
    connector_id: str, key: str, project_id: str = "prj_1", **changes: Any
) -> Document:
    document = Document(
        id=new_id("doc"),
        project_id=project_id,
        connector_id=connector_id,
        key=key,
        kind="file",
        title=key.rsplit("/", 1)[-1],
        path=key,
        url="",
        version="v1",
        content_hash="sha256:" + key,
        language="python",
        metadata={"size": 10},
        scan_id="scan_1",
        chunk_count=0,
        updated_at=utcnow(),
    )
    return replace(document, **changes)


def make_chunk(document: Document, ordinal: int, **changes: Any) -> Chunk:
    chunk = Chunk(
        id=new_id("chk"),
        project_id=document.project_id,
        connector_id=document.connector_id,
        document_id=document.id,
        document_key=document.key,
        kind=document.kind,
        path=document.path,
        url=document.url,
        title=document.title,
        ordinal=ordinal,
        start_line=ordinal * 10 + 1,
        end_line=ordinal * 10 + 10,
        symbol=f"f{ordinal}",
        symbol_kind="function",
        language=document.language,
        text=f"def f{ordinal}():\n    return {ordinal}\n",
        embed_hash=f"{document.key}#{ordinal}",
    )
    return replace(chunk, **changes)


def with_chunks(document: Document, count: int) -> DocumentWrite:
    chunks = [make_chunk(document, ordinal) for ordinal in range(count)]
    return DocumentWrite(replace(document, chunk_count=count), chunks)


def make_symbol(document: Document, ordinal: int, name: str, kind: str = "function") -> Symbol:
    return Symbol(
        id=f"{document.id}:{ordinal:06d}",
        project_id=document.project_id,
        connector_id=document.connector_id,
        document_id=document.id,
        path=document.path,
        name=name,
        kind=kind,
        start_line=ordinal * 3 + 1,
        end_line=ordinal * 3 + 2,
        language=document.language,
    )


def make_write(connector_id: str, key: str, project_id: str = "prj_1") -> DocumentWrite:
    return with_chunks(make_document(connector_id, key, project_id=project_id), 1)


def with_symbols(write: DocumentWrite, *names: str) -> DocumentWrite:
    symbols = [make_symbol(write.document, i, name) for i, name in enumerate(names)]
    return replace(write, symbols=symbols)


def among_many(keys: list[str]) -> list[str]:
    """``keys`` spread over 1,200 lookups (more than any backend puts in one query)."""
    many = [f"absent{i:04d}" for i in range(1200)]
    for position, key in zip(range(0, 1200, 1200 // len(keys)), keys, strict=False):
        many[position] = key
    return many


def ids(records: list[Any]) -> list[str]:
    return [record.id for record in records]


def every_chunk(store: Store, project_id: str) -> list[Chunk]:
    return [c for page in all_pages(lambda p: store.list_chunks(project_id, p), 50) for c in page]


def every_symbol(store: Store, project_id: str) -> list[Symbol]:
    pages = all_pages(lambda page: store.list_symbols(project_id, page), 50)
    return [symbol for page in pages for symbol in page]


class IngestionStoreContract:
    # -------------------------------------------------------------- runs
    def test_run_round_trips(self, store: Store) -> None:
        now = utcnow()
        run = make_run(
            "prj_1",
            "con_1",
            RunStatus.FAILED,
            mode=RunMode.INCREMENTAL,
            trigger=RunTrigger.WEBHOOK,
            phase="embedding",
            started_at=now,
            finished_at=now + timedelta(seconds=3),
            owner="host-1:123",
            scan_id="run_0",
            cursor={"sha": "abc", "pages": [1, 2], "nested": {"ü": None}},
            revision="abc123",
            documents_seen=9,
            documents_changed=3,
            documents_unchanged=5,
            documents_deleted=1,
            documents_failed=1,
            chunks_written=30,
            chunks_embedded=20,
            chunks_cached=10,
            warnings=[{"key": "a.py", "message": "too large"}],
            warning_count=4,
            error="boom",
            cancel_requested=True,
            lease_seq=7,
            attempts=2,
            model="all-MiniLM-L6-v2",
            documents_total=12,
            checkpoint_counts={"documents_seen": 4},
            rerun_requested=True,
        )
        store.create_run(run)
        assert store.get_run(run.id) == run
        assert store.get_run("run_missing") is None

    def test_one_active_run_per_connector(self, store: Store) -> None:
        queued = make_run("prj_1", "con_1")
        store.create_run(queued)
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            clash = make_run("prj_1", "con_1", status)
            with pytest.raises(AlreadyExists, match="con_1"):
                store.create_run(clash)
            assert store.get_run(clash.id) is None
        # Terminal runs never block, and other connectors are independent.
        for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            store.create_run(make_run("prj_1", "con_1", status))
        store.create_run(make_run("prj_1", "con_2", RunStatus.RUNNING))

        store.update_run(replace(queued, status=RunStatus.RUNNING))
        with pytest.raises(AlreadyExists):
            store.create_run(make_run("prj_1", "con_1"))
        store.update_run(replace(queued, status=RunStatus.SUCCEEDED))
        after = make_run("prj_1", "con_1", RunStatus.RUNNING)
        store.create_run(after)
        assert store.get_run(after.id) == after

    def test_reactivating_a_run_next_to_an_active_one_raises(self, store: Store) -> None:
        finished = make_run("prj_1", "con_1", RunStatus.FAILED)
        active = make_run("prj_1", "con_1", RunStatus.RUNNING)
        store.create_run(finished)
        store.create_run(active)
        with pytest.raises(AlreadyExists):
            store.update_run(replace(finished, status=RunStatus.QUEUED, phase="again"))
        assert store.get_run(finished.id) == finished
        store.update_run(replace(active, status=RunStatus.CANCELLED))
        store.update_run(replace(finished, status=RunStatus.QUEUED))
        assert [r.id for r in store.list_active_runs()] == [finished.id]

    def test_a_run_ends_in_one_write_or_not_at_all(self, store: Store, full_disk: FullDisk) -> None:
        """The run record, the connector's active-run key and the listing never disagree,
        even when the write that ends a run is refused for lack of space."""
        run = make_run("prj_1", "con_1", RunStatus.RUNNING)
        store.create_run(run)
        # Large enough to need more room than the store has left (SQLite: overflow pages).
        warnings = [{"key": f"k{i}.py", "message": "too large " * 20} for i in range(100)]
        ended = replace(run, status=RunStatus.FAILED, phase="done", warnings=warnings)
        full_disk.fill(store)
        try:
            with pytest.raises(StoreUnavailable):
                store.update_run(ended)
            assert store.get_run(run.id) == run  # reading still works
            assert store.active_run(connector_id="con_1") == run
            assert store.list_runs("prj_1", PageRequest(limit=5)) == [run]
        finally:
            full_disk.free()
        store.update_run(ended)
        assert store.get_run(run.id) == ended
        assert store.active_run(connector_id="con_1") is None
        assert store.list_runs("prj_1", PageRequest(limit=5)) == [ended]
        store.create_run(make_run("prj_1", "con_1"))  # the connector is free again

    def test_update_run_keeps_identity_fields(self, store: Store) -> None:
        run = make_run("prj_1", "con_1")
        store.create_run(run)
        later = run.updated_at + timedelta(seconds=5)
        changed = replace(
            run,
            status=RunStatus.SUCCEEDED,
            phase="done",
            updated_at=later,
            finished_at=later,
            cursor={"sha": "def"},
            documents_seen=7,
            warnings=[{"key": "k", "message": "m"}],
        )
        store.update_run(
            replace(changed, project_id="prj_x", connector_id="con_x", created_at=later)
        )
        assert store.get_run(run.id) == changed

    def test_list_runs_newest_first_in_pages(self, store: Store) -> None:
        runs = [make_run("prj_1", f"con_{i % 2}", RunStatus.SUCCEEDED) for i in range(5)]
        for run in [*runs, make_run("prj_2", "con_0", RunStatus.SUCCEEDED)]:
            store.create_run(run)
        pages = all_pages(lambda page: store.list_runs("prj_1", page), limit=2)
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [r.id for page in pages for r in page] == sorted(ids(runs), reverse=True)

        of_one = all_pages(lambda page: store.list_runs("prj_1", page, "con_1"), limit=1)
        expected = sorted((r.id for r in runs if r.connector_id == "con_1"), reverse=True)
        assert [r.id for page in of_one for r in page] == expected
        assert store.list_runs("prj_1", PageRequest(limit=0)) == []
        assert store.list_runs("prj_none", PageRequest(limit=5)) == []

    def test_list_active_runs_oldest_first(self, store: Store) -> None:
        active = [
            make_run("prj_2", "con_a", RunStatus.RUNNING),
            make_run("prj_1", "con_b", RunStatus.QUEUED),
            make_run("prj_1", "con_c", RunStatus.RUNNING),
        ]
        finished = [make_run("prj_1", "con_b", status) for status in RunStatus if not status.active]
        for run in [active[0], *finished, *active[1:]]:
            store.create_run(run)
        assert store.list_active_runs() == active

    # ------------------------------------------------------------ leases
    def test_write_run_if_is_a_compare_and_set_on_lease_seq(self, store: Store) -> None:
        queued = make_run("prj_1", "con_1", lease_seq=4)
        store.create_run(queued)
        claimed = replace(queued, status=RunStatus.RUNNING, owner="w1", lease_seq=5, attempts=1)
        assert store.write_run_if(claimed, 4) == claimed
        # A second worker that saw the queued run loses: exactly one claim wins.
        rival = replace(claimed, owner="w2")
        assert store.write_run_if(rival, 4) is None
        assert store.get_run(queued.id) == claimed
        renewed = replace(claimed, lease_seq=6, documents_seen=3, checkpoint_counts={"a": 1})
        assert store.write_run_if(renewed, 5) == renewed
        ended = replace(renewed, status=RunStatus.SUCCEEDED, phase="done", lease_seq=7)
        assert store.write_run_if(ended, 6) == ended
        assert store.active_run(connector_id="con_1") is None
        # An ended run is nobody's to write, whatever the sequence says.
        assert store.write_run_if(replace(ended, lease_seq=8), 7) is None

    def test_a_workers_write_keeps_the_request_flags(self, store: Store) -> None:
        run = make_run("prj_1", "con_1", RunStatus.RUNNING, owner="w1", lease_seq=1)
        store.create_run(run)
        flagged = store.request_cancel(run.id, utcnow())
        assert flagged is not None and flagged.cancel_requested
        assert store.request_rerun("con_1") is True
        assert store.request_rerun("con_other") is False
        stored = store.write_run_if(replace(run, lease_seq=2, documents_seen=1), 1)
        assert stored is not None
        assert stored.cancel_requested and stored.rerun_requested
        assert stored.status is RunStatus.RUNNING  # a running run is only flagged

    def test_cancel_of_a_queued_run_and_its_claim_exclude_each_other(self, store: Store) -> None:
        at = utcnow()
        queued = make_run("prj_1", "con_1")
        store.create_run(queued)
        cancelled = store.request_cancel(queued.id, at)
        assert cancelled is not None and cancelled.status is RunStatus.CANCELLED
        assert cancelled.finished_at == at and cancelled.phase == "done"
        assert store.active_run(connector_id="con_1") is None
        claim = replace(queued, status=RunStatus.RUNNING, owner="w1", lease_seq=1)
        assert store.write_run_if(claim, 0) is None
        assert store.request_cancel("run_missing", at) is None
        assert store.request_rerun("con_1") is False

    def test_last_succeeded_run(self, store: Store) -> None:
        assert store.last_succeeded_run("con_1") is None
        statuses = [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.RUNNING]
        runs = [make_run("prj_1", "con_1", status) for status in statuses]
        for run in [*runs, make_run("prj_1", "con_2", RunStatus.CANCELLED)]:
            store.create_run(run)
        assert store.last_succeeded_run("con_1") == runs[1]
        assert store.last_succeeded_run("con_2") is None

    # --------------------------------------------------------- documents
    def test_fenced_writes_land_only_while_the_owner_runs_the_run(self, store: Store) -> None:
        run = make_run("prj_1", "con_1", RunStatus.RUNNING, owner="w1", lease_seq=3)
        store.create_run(run)
        store.write_documents([make_write("con_1", "a.py")], RunFence(run.id, "w1"))
        assert store.get_documents("con_1", ["a.py"])
        # Taken over by another worker: the first one writes and deletes nothing more.
        store.write_run_if(replace(run, owner="w2", lease_seq=4), 3)
        with pytest.raises(RunLost):
            store.write_documents([make_write("con_1", "b.py")], RunFence(run.id, "w1"))
        with pytest.raises(RunLost):
            store.delete_documents("con_1", ["a.py"], RunFence(run.id, "w1"))
        assert list(store.get_documents("con_1", ["a.py", "b.py"])) == ["a.py"]
        assert store.delete_documents("con_1", ["a.py"], RunFence(run.id, "w2")) == 1

    def test_written_documents_and_chunks_round_trip(self, store: Store) -> None:
        first = with_chunks(make_document("con_1", "src/a.py"), 3)
        second = with_chunks(make_document("con_1", "docs/ü.md", kind="markdown"), 2)
        store.write_documents([first, second])
        found = store.get_documents("con_1", ["src/a.py", "docs/ü.md", "missing"])
        assert found == {"src/a.py": first.document, "docs/ü.md": second.document}
        expected = sorted(first.chunks + second.chunks, key=lambda c: c.id)
        assert every_chunk(store, "prj_1") == expected
        assert store.get_documents("con_other", ["src/a.py"]) == {}

    def test_chunk_references_round_trip(self, store: Store) -> None:
        document = make_document("con_1", "src/a.py")
        references = ("call:$get", "call:Ärger", "import:pkg.a.m", "import:src/lib/x y.h")
        chunks = [make_chunk(document, 0, references=references), make_chunk(document, 1)]
        store.write_documents([DocumentWrite(replace(document, chunk_count=2), chunks)])

        assert every_chunk(store, "prj_1") == chunks
        assert [c.references for c in store.get_chunks(ids(chunks))] == [references, ()]

    def test_rewrite_replaces_chunks_and_keeps_other_documents(self, store: Store) -> None:
        rewritten = make_document("con_1", "a.py")
        kept = with_chunks(make_document("con_1", "b.py"), 2)
        old = with_chunks(rewritten, 3)
        store.write_documents([old, kept])

        changed = replace(rewritten, content_hash="sha256:new", title="A", version="v2")
        new = with_chunks(changed, 1)
        store.write_documents([new])
        found = store.get_documents("con_1", ["a.py", "b.py"])
        assert found == {"a.py": new.document, "b.py": kept.document}
        assert store.get_chunks(ids(old.chunks)) == []
        assert every_chunk(store, "prj_1") == sorted(new.chunks + kept.chunks, key=lambda c: c.id)
        assert store.count_chunks("prj_1") == 3

    def test_rewrite_keeps_the_stored_document_id(self, store: Store) -> None:
        original = make_document("con_1", "a.py")
        store.write_documents([with_chunks(original, 1)])
        again = replace(original, id=new_id("doc"), content_hash="sha256:v2")
        write = with_chunks(again, 2)
        store.write_documents([write])
        stored = store.get_documents("con_1", ["a.py"])["a.py"]
        assert stored == replace(write.document, id=original.id)
        assert {c.document_id for c in every_chunk(store, "prj_1")} == {original.id}
        assert store.list_documents("prj_1", PageRequest(limit=10)) == [stored]

    def test_get_documents_by_thousands_of_keys(self, store: Store) -> None:
        documents = [make_document("con_1", f"f{i:02d}.py") for i in range(12)]
        store.write_documents([DocumentWrite(document, []) for document in documents])
        found = store.get_documents("con_1", among_many([d.key for d in documents]))
        assert found == {d.key: d for d in documents}

    def test_delete_documents_removes_their_chunks(self, store: Store) -> None:
        doomed = [with_chunks(make_document("con_1", f"d{i}.py"), 2) for i in range(3)]
        kept = with_chunks(make_document("con_1", "kept.py"), 2)
        same_key_elsewhere = with_chunks(make_document("con_2", "d0.py"), 1)
        store.write_documents([*doomed, kept, same_key_elsewhere])

        keys = [write.document.key for write in doomed]
        assert store.delete_documents("con_1", [*keys, "missing.py"]) == 3
        assert store.get_documents("con_1", [*keys, "kept.py"]) == {"kept.py": kept.document}
        assert store.get_chunks([c.id for write in doomed for c in write.chunks]) == []
        remaining = sorted(kept.chunks + same_key_elsewhere.chunks, key=lambda c: c.id)
        assert every_chunk(store, "prj_1") == remaining
        assert store.delete_documents("con_1", keys) == 0

    def test_delete_documents_by_thousands_of_keys(self, store: Store) -> None:
        doomed = [with_chunks(make_document("con_1", f"f{i:02d}.py"), 1) for i in range(12)]
        kept = with_chunks(make_document("con_1", "kept.py"), 1)
        store.write_documents([*doomed, kept])
        doomed_keys = [write.document.key for write in doomed]
        assert store.delete_documents("con_1", among_many(doomed_keys)) == 12
        assert store.document_keys_not_in_scan("con_1", "other") == ["kept.py"]
        assert every_chunk(store, "prj_1") == kept.chunks

    def test_touch_and_keys_not_in_scan(self, store: Store) -> None:
        keys = ["k1", "k2", "k3", "k4"]
        store.write_documents([DocumentWrite(make_document("con_1", key), []) for key in keys])
        store.write_documents([DocumentWrite(make_document("con_2", "k1"), [])])
        assert store.document_keys_not_in_scan("con_1", "scan_1") == []

        store.touch_documents("con_1", ["k3", "k1", "missing"], "scan_2")
        assert store.document_keys_not_in_scan("con_1", "scan_2") == ["k2", "k4"]
        assert store.get_documents("con_1", ["k1"])["k1"].scan_id == "scan_2"
        assert store.get_documents("con_2", ["k1"])["k1"].scan_id == "scan_1"
        assert store.document_keys_not_in_scan("con_2", "scan_2") == ["k1"]

    def test_touch_documents_by_thousands_of_keys(self, store: Store) -> None:
        documents = [make_document("con_1", f"f{i:02d}") for i in range(12)]
        store.write_documents([DocumentWrite(document, []) for document in documents])
        store.write_documents([DocumentWrite(make_document("con_1", "untouched"), [])])
        store.touch_documents("con_1", among_many([d.key for d in documents]), "scan_2")
        assert store.document_keys_not_in_scan("con_1", "scan_2") == ["untouched"]

    def test_list_documents_pages_by_project(self, store: Store) -> None:
        mine = [make_document("con_1", f"f{i}") for i in range(5)]
        theirs = make_document("con_9", "f0", project_id="prj_2")
        store.write_documents([DocumentWrite(document, []) for document in [*mine, theirs]])
        pages = all_pages(lambda page: store.list_documents("prj_1", page), limit=2)
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [d for page in pages for d in page] == sorted(mine, key=lambda d: d.id)
        assert store.list_documents("prj_1", PageRequest(limit=0)) == []

    def test_empty_inputs(self, store: Store) -> None:
        store.write_documents([])
        store.touch_documents("con_1", [], "scan")
        store.put_embeddings(MODEL, {})
        assert store.get_documents("con_1", []) == {}
        assert store.delete_documents("con_1", []) == 0
        assert store.get_chunks([]) == []
        assert store.get_embeddings(MODEL, []) == {}
        assert store.document_keys_not_in_scan("con_1", "scan") == []

    # ------------------------------------------------------------ chunks
    def test_get_chunks_in_the_given_order(self, store: Store) -> None:
        write = with_chunks(make_document("con_1", "a.py"), 4)
        store.write_documents([write])
        chunks = write.chunks
        wanted = [chunks[3].id, "chk_missing", chunks[0].id, chunks[2].id]
        assert store.get_chunks(wanted) == [chunks[3], chunks[0], chunks[2]]

    def test_get_chunks_by_thousands_of_ids(self, store: Store) -> None:
        write = with_chunks(make_document("con_1", "big.py"), 1100)
        store.write_documents([write])
        chunks = write.chunks
        wanted = [chunk.id for chunk in reversed(chunks)]
        assert store.get_chunks(wanted) == list(reversed(chunks))

    def test_list_chunks_pages_and_count_by_project(self, store: Store) -> None:
        mine = [with_chunks(make_document("con_1", f"f{i}"), 3) for i in range(3)]
        theirs = with_chunks(make_document("con_9", "x", project_id="prj_2"), 2)
        store.write_documents([*mine, theirs])
        pages = all_pages(lambda page: store.list_chunks("prj_1", page), limit=4)
        assert [len(page) for page in pages] == [4, 4, 1]
        expected = sorted((c for write in mine for c in write.chunks), key=lambda c: c.id)
        assert [c for page in pages for c in page] == expected
        assert store.count_chunks("prj_1") == 9
        assert store.count_chunks("prj_2") == 2
        assert store.count_chunks("prj_none") == 0
        assert store.list_chunks("prj_1", PageRequest(limit=0)) == []

    def test_chunk_vectors_join_the_cache_by_model(self, store: Store) -> None:
        write = with_chunks(make_document("con_1", "a.py"), 6)
        chunks = write.chunks
        chunks[5] = replace(chunks[5], embed_hash=chunks[0].embed_hash)  # same content
        store.write_documents([write])
        other = with_chunks(make_document("con_9", "a.py", project_id="prj_2"), 1)
        other_chunks = other.chunks
        store.write_documents([other])
        vectors = {c.embed_hash: f"v{c.ordinal}".encode() * 8 for c in [*chunks, *other_chunks]}
        missing = chunks[2].embed_hash
        store.put_embeddings(MODEL, {h: v for h, v in vectors.items() if h != missing})
        store.put_embeddings("other-model", {missing: b"other"})

        expected = [
            ChunkVector(c.id, vectors[c.embed_hash]) for c in chunks if c.embed_hash != missing
        ]
        listed, after = [], None
        while page := store.chunk_vectors("prj_1", MODEL, PageRequest(limit=2, after=after)):
            assert len(page) <= 2
            listed += page
            after = page[-1].chunk_id
        assert listed == expected
        assert store.chunk_vectors("prj_1", "other-model", PageRequest(limit=9)) == [
            ChunkVector(chunks[2].id, b"other")
        ]
        # A page skips chunks without a vector yet still fills up.
        after_first = PageRequest(limit=2, after=chunks[1].id)
        assert store.chunk_vectors("prj_1", MODEL, after_first) == expected[2:4]
        assert store.chunk_vectors("prj_1", MODEL, PageRequest(limit=0)) == []
        assert store.chunk_vectors("prj_1", "no-model", PageRequest(limit=9)) == []

    def test_chunks_without_vector_are_those_left_to_embed_under_the_model(
        self, store: Store
    ) -> None:
        write = with_chunks(make_document("con_1", "a.py"), 7)
        chunks = write.chunks
        chunks[6] = replace(chunks[6], embed_hash=chunks[1].embed_hash)  # same content as 1
        store.write_documents([write])
        store.write_documents([with_chunks(make_document("con_9", "a.py", project_id="prj_2"), 2)])
        embedded = {chunks[i].embed_hash: b"v" * 8 for i in (0, 3, 4)}
        store.put_embeddings(MODEL, embedded)
        store.put_embeddings("other-model", {chunks[2].embed_hash: b"o" * 8})

        expected = [c for c in chunks if c.embed_hash not in embedded]
        listed, after = [], None
        while page := store.chunks_without_vector("prj_1", MODEL, PageRequest(2, after)):
            assert len(page) <= 2
            listed += page
            after = page[-1].id
        assert listed == expected  # whole chunks, in id order; other projects left out
        # A page skips chunks that have a vector yet still fills up.
        assert store.chunks_without_vector("prj_1", MODEL, PageRequest(2, chunks[2].id)) == [
            chunks[5],
            chunks[6],
        ]
        other = store.chunks_without_vector("prj_1", "other-model", PageRequest(9))
        assert [c.id for c in other] == [c.id for c in chunks if c is not chunks[2]]
        assert store.chunks_without_vector("prj_1", MODEL, PageRequest(limit=0)) == []
        store.put_embeddings(MODEL, {c.embed_hash: b"v" * 8 for c in chunks})
        assert store.chunks_without_vector("prj_1", MODEL, PageRequest(9)) == []

    # ----------------------------------------------------------- symbols
    def test_symbols_and_line_count_round_trip(self, store: Store) -> None:
        document = make_document("con_1", "src/sessions.py", line_count=812)
        write = with_symbols(with_chunks(document, 2), "Session", "Session.request", "ü")
        write = replace(
            write,
            symbols=[replace(write.symbols[0], kind="class", end_line=300), *write.symbols[1:]],
        )
        store.write_documents([write, with_symbols(with_chunks(make_document("con_1", "b.py"), 1))])

        stored = store.get_documents("con_1", ["src/sessions.py"])["src/sessions.py"]
        assert stored.line_count == 812 and stored == write.document
        assert every_symbol(store, "prj_1") == write.symbols
        assert store.count_symbols("prj_1") == 3
        assert store.count_symbols("prj_none") == 0

    def test_line_count_defaults_to_zero(self, store: Store) -> None:
        document = make_document("con_1", "a.py")
        store.write_documents([DocumentWrite(document, [])])
        assert store.get_documents("con_1", ["a.py"])["a.py"].line_count == 0

    def test_rewrite_replaces_symbols_and_keeps_other_documents(self, store: Store) -> None:
        rewritten = with_symbols(with_chunks(make_document("con_1", "a.py"), 1), "old", "gone")
        kept = with_symbols(with_chunks(make_document("con_1", "b.py"), 1), "kept")
        store.write_documents([rewritten, kept])

        changed = replace(rewritten.document, content_hash="sha256:new")
        new = with_symbols(with_chunks(changed, 1), "new")
        store.write_documents([new])
        expected = sorted(new.symbols + kept.symbols, key=lambda s: s.id)
        assert every_symbol(store, "prj_1") == expected
        store.write_documents([with_chunks(changed, 1)])  # no symbols any more
        assert every_symbol(store, "prj_1") == kept.symbols

    def test_rewrite_moves_symbols_to_the_stored_document_id(self, store: Store) -> None:
        original = make_document("con_1", "a.py")
        store.write_documents([with_symbols(with_chunks(original, 1), "f")])
        again = replace(original, id=new_id("doc"), content_hash="sha256:v2")
        store.write_documents([with_symbols(with_chunks(again, 1), "f", "g")])
        symbols = every_symbol(store, "prj_1")
        assert [s.id for s in symbols] == [f"{original.id}:000000", f"{original.id}:000001"]
        assert {s.document_id for s in symbols} == {original.id}
        assert [s.name for s in symbols] == ["f", "g"]

    def test_delete_documents_removes_their_symbols(self, store: Store) -> None:
        doomed = with_symbols(with_chunks(make_document("con_1", "d.py"), 1), "d1", "d2")
        kept = with_symbols(with_chunks(make_document("con_1", "k.py"), 1), "k")
        elsewhere = with_symbols(with_chunks(make_document("con_2", "d.py"), 1), "e")
        store.write_documents([doomed, kept, elsewhere])

        assert store.delete_documents("con_1", ["d.py"]) == 1
        remaining = sorted(kept.symbols + elsewhere.symbols, key=lambda s: s.id)
        assert every_symbol(store, "prj_1") == remaining
        assert store.count_symbols("prj_1") == 2

    def test_list_symbols_pages_in_id_order_by_project(self, store: Store) -> None:
        names = [f"f{i}" for i in range(12)]  # ordinals past 9 still sort after 1..9
        mine = [
            with_symbols(with_chunks(make_document("con_1", f"m{i}.py"), 0), *names)
            for i in range(3)
        ]
        theirs = with_symbols(make_write("con_9", "x.py", "prj_2"), "other")
        store.write_documents([*mine, theirs])

        pages = all_pages(lambda page: store.list_symbols("prj_1", page), limit=10)
        assert [len(page) for page in pages] == [10, 10, 10, 6]
        listed = [symbol for page in pages for symbol in page]
        by_document = sorted(mine, key=lambda write: write.document.id)
        assert listed == [symbol for write in by_document for symbol in write.symbols]
        assert [s.name for s in listed[:12]] == names
        assert store.list_symbols("prj_2", PageRequest(limit=5)) == theirs.symbols
        assert store.list_symbols("prj_1", PageRequest(limit=0)) == []

    # --------------------------------------------------- embedding cache
    def test_embeddings_insert_or_ignore(self, store: Store) -> None:
        store.put_embeddings(MODEL, {"h1": b"first"})
        store.put_embeddings(MODEL, {"h1": b"second", "h2": b"two"})
        store.put_embeddings("other-model", {"h1": b"other"})
        assert store.get_embeddings(MODEL, ["h1", "h2", "h3"]) == {"h1": b"first", "h2": b"two"}
        assert store.get_embeddings("other-model", ["h1", "h2"]) == {"h1": b"other"}

    def test_embeddings_by_thousands_of_hashes(self, store: Store) -> None:
        vectors = {f"h{i:02d}": i.to_bytes(4, "little") for i in range(12)}
        store.put_embeddings(MODEL, vectors)
        assert store.get_embeddings(MODEL, among_many(list(vectors))) == vectors

    def test_vector_bytes_round_trip_exactly(self, store: Store) -> None:
        write = with_chunks(make_document("con_1", "a.py"), 1)
        store.write_documents([write])
        chunks = write.chunks
        store.put_embeddings(MODEL, {chunks[0].embed_hash: EVERY_BYTE})
        cached = store.get_embeddings(MODEL, [chunks[0].embed_hash])[chunks[0].embed_hash]
        assert type(cached) is bytes and cached == EVERY_BYTE
        (joined,) = store.chunk_vectors("prj_1", MODEL, PageRequest(limit=5))
        assert type(joined.vector) is bytes and joined.vector == EVERY_BYTE

    # ------------------------------------------------- index generations
    def test_index_generations_start_at_zero_and_bump(self, store: Store) -> None:
        assert store.index_generation("prj_1") == 0
        assert store.bump_index_generation("prj_1") == 1
        assert store.bump_index_generation("prj_1") == 2
        assert store.index_generation("prj_1") == 2
        assert store.index_generation("prj_2") == 0
        assert store.bump_index_generation("prj_2") == 1
        assert store.index_generations() == {"prj_1": 2, "prj_2": 1}

    # ------------------------------------------------ webhook deliveries
    def test_record_delivery_once_per_connector(self, store: Store) -> None:
        now = utcnow()
        assert store.record_delivery("d-1", "con_1", now) is True
        assert store.record_delivery("d-1", "con_1", now + timedelta(seconds=1)) is False
        assert store.record_delivery("d-2", "con_1", now) is True
        assert store.record_delivery("d-1", "con_2", now) is True

    def test_a_record_older_than_stale_before_is_replaced(self, store: Store) -> None:
        """What bounds a replayed webhook body: one record per key and window, atomically."""
        window, start = timedelta(minutes=10), utcnow()

        def record(key: str, connector_id: str, at: datetime) -> bool:
            return store.record_delivery(key, connector_id, at, stale_before=at - window)

        assert record("#body:aa", "con_1", start) is True
        assert record("#body:aa", "con_1", start + window) is False  # the window includes its end
        assert record("#body:bb", "con_1", start + window) is True
        assert record("#body:aa", "con_2", start + window) is True
        later = start + window + timedelta(milliseconds=1)
        assert record("#body:aa", "con_1", later) is True
        assert record("#body:aa", "con_1", later + window / 2) is False  # the window restarted
        assert store.delete_delivery("#body:aa", "con_1") is True

    def test_delete_delivery_lets_a_redelivery_through(self, store: Store) -> None:
        now = utcnow()
        assert store.record_delivery("d-9", "con_1", now) is True
        assert store.delete_delivery("d-9", "con_1") is True
        assert store.delete_delivery("d-9", "con_1") is False
        assert store.record_delivery("d-9", "con_1", now) is True

    def test_a_delivery_records_its_keys_all_or_none(self, store: Store) -> None:
        """A delivery's id and body hash: when one is held, the other is not left behind."""
        now, window = utcnow(), timedelta(minutes=10)
        body = DeliveryKey("#body:aa", stale_before=now - window)
        assert store.record_deliveries("con_1", [body, DeliveryKey("d-1")], now) is None
        # A replay with a fresh id: the body is held, and the fresh id is not recorded.
        assert store.record_deliveries("con_1", [body, DeliveryKey("d-2")], now) == "#body:aa"
        assert store.record_delivery("d-2", "con_1", now) is True
        # A redelivery of d-1 with another body: held by its id; the new body stays free.
        other = DeliveryKey("#body:bb", stale_before=now - window)
        assert store.record_deliveries("con_1", [other, DeliveryKey("d-1")], now) == "d-1"
        assert store.record_delivery("#body:bb", "con_1", now) is True

    def test_delete_deliveries_forgets_every_key_at_once(self, store: Store) -> None:
        now = utcnow()
        keys = [DeliveryKey("#body:cc"), DeliveryKey("d-3")]
        assert store.record_deliveries("con_1", keys, now) is None
        assert store.delete_deliveries("con_1", ["#body:cc", "d-3", "d-never"]) == 2
        assert store.record_deliveries("con_1", keys, now) is None

    def test_prune_deliveries_forgets_old_records_a_bounded_number_at_a_time(
        self, store: Store
    ) -> None:
        start = utcnow()
        for number in range(5):
            store.record_delivery(f"old-{number}", f"con_{number % 2}", start)
        store.record_delivery("new", "con_1", start + timedelta(hours=1))
        cutoff = start + timedelta(minutes=1)
        assert store.prune_deliveries(cutoff, 3) == 3
        assert store.prune_deliveries(cutoff, 3) == 2
        assert store.prune_deliveries(cutoff, 3) == 0
        assert store.record_delivery("old-0", "con_0", start) is True  # forgotten
        assert store.record_delivery("new", "con_1", start) is False  # kept

    # ----------------------------------------------------------- cascade
    def test_delete_project_removes_its_ingestion_records(self, store: Store) -> None:
        doomed, kept = make_project("doomed"), make_project("kept")
        filled = {}
        for project in (doomed, kept):
            store.create_project(project)
            filled[project.id] = self._ingest(store, project.id)
        store.put_embeddings(MODEL, {"shared": b"vector"})

        assert store.delete_project(doomed.id) is True
        self._assert_ingestion_gone(store, doomed.id, filled[doomed.id])
        self._assert_ingestion_kept(store, kept.id, filled[kept.id])
        assert store.get_embeddings(MODEL, ["shared"]) == {"shared": b"vector"}

    def test_delete_connector_removes_its_ingestion_records(self, store: Store) -> None:
        project = make_project("alpha")
        store.create_project(project)
        doomed = self._ingest(store, project.id, "doomed")
        kept = self._ingest(store, project.id, "kept")
        store.put_embeddings(MODEL, {"shared": b"vector"})

        assert store.delete_connector(doomed["connector"]) is True
        assert store.get_connector(doomed["connector"]) is None
        connector_id = doomed["connector"]
        assert store.get_run(doomed["run"]) is None
        assert store.get_documents(connector_id, ["a.py"]) == {}
        assert store.get_chunks(doomed["chunks"]) == []
        assert store.record_delivery("d-1", connector_id, utcnow()) is True
        self._assert_ingestion_kept(store, project.id, kept)
        assert store.list_runs(project.id, PageRequest(limit=9)) == [store.get_run(kept["run"])]
        assert store.count_chunks(project.id) == len(kept["chunks"])
        assert ids(every_symbol(store, project.id)) == kept["symbols"]
        assert store.count_symbols(project.id) == len(kept["symbols"])
        assert store.get_embeddings(MODEL, ["shared"]) == {"shared": b"vector"}
        assert store.delete_connector(connector_id) is False

    @staticmethod
    def _ingest(store: Store, project_id: str, name: str = "repo") -> dict[str, Any]:
        connector = make_connector(project_id, name)
        store.create_connector(connector)
        run = make_run(project_id, connector.id, RunStatus.RUNNING)
        store.create_run(run)
        document = make_document(connector.id, "a.py", project_id=project_id)
        write = with_symbols(with_chunks(document, 2), "A", "A.run")
        store.write_documents([write])
        store.bump_index_generation(project_id)
        assert store.record_delivery("d-1", connector.id, utcnow()) is True
        return {
            "connector": connector.id,
            "run": run.id,
            "chunks": ids(write.chunks),
            "symbols": ids(write.symbols),
        }

    @staticmethod
    def _assert_ingestion_gone(store: Store, project_id: str, filled: dict[str, Any]) -> None:
        page = PageRequest(limit=10)
        assert store.get_run(filled["run"]) is None
        assert store.list_runs(project_id, page) == []
        assert all(run.project_id != project_id for run in store.list_active_runs())
        assert store.list_documents(project_id, page) == []
        assert store.get_documents(filled["connector"], ["a.py"]) == {}
        assert store.list_chunks(project_id, page) == []
        assert store.get_chunks(filled["chunks"]) == []
        assert store.count_chunks(project_id) == 0
        assert store.list_symbols(project_id, page) == []
        assert store.count_symbols(project_id) == 0
        assert store.index_generation(project_id) == 0
        assert store.record_delivery("d-1", filled["connector"], utcnow()) is True

    @staticmethod
    def _assert_ingestion_kept(store: Store, project_id: str, filled: dict[str, Any]) -> None:
        run = store.get_run(filled["run"])
        assert run is not None and run.project_id == project_id
        assert run in store.list_active_runs()
        assert ids(store.get_chunks(filled["chunks"])) == filled["chunks"]
        assert set(filled["symbols"]) <= set(ids(every_symbol(store, project_id)))
        assert store.get_documents(filled["connector"], ["a.py"]) != {}
        assert store.index_generation(project_id) >= 1
        assert store.record_delivery("d-1", filled["connector"], utcnow()) is False
