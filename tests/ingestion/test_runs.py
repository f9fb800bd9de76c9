"""IngestionService end to end: real server, real connectors, model, Store and indexes."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from projectqa.server.models import PageRequest
from projectqa.v1 import ingestion_pb2 as pb

from ..waiting import eventually
from .conftest import QA, commit, git, make_repo

pytestmark = pytest.mark.model
SUCCEEDED = pb.INGESTION_STATUS_SUCCEEDED

APP = '''"""The app."""
import os


class Session:
    """Keeps cookies between requests."""

    def request(self, method, url):
        """Send one request."""
        return method, url

    def close(self):
        return None


def main():
    return Session().request("GET", "/")
'''
README = "# Demo\n\nHow to run.\n\n## Install\n\nUse pip.\n"


def chunks_of(qa: QA, project_id: str) -> list:
    return qa.server.store.list_chunks(project_id, PageRequest(limit=10_000))


async def test_git_full_then_incremental_touches_only_what_changed(qa: QA, tmp_path: Path):
    repo = make_repo(
        tmp_path / "repo", {"app.py": APP, "README.md": README, "logo.png": b"\x89PNG\0\0"}
    )
    project = await qa.project("demo")
    # Files alone: the records of commits are test_git_history_search.py's.
    connector = await qa.connector(project, "git", "code", url=str(repo), history_commits=0)

    first = await qa.ingest(project, full=True)

    assert first.status == SUCCEEDED, first.error
    assert first.mode == pb.INGESTION_MODE_FULL
    assert first.revision == git(repo, "rev-parse", "HEAD")
    assert first.counts.documents_changed == 2  # app.py, README.md; the binary is skipped
    assert first.counts.chunks_written >= 3
    assert first.counts.chunks_embedded + first.counts.chunks_cached == first.counts.chunks_written
    symbols = {c.symbol for c in chunks_of(qa, project)}
    assert {"Session", "main"} <= symbols or {"Session.request", "main"} <= symbols
    manifest = qa.server.ingestion.indexes.manifest(project)
    assert manifest is not None and manifest.chunks == first.counts.chunks_written

    head = commit(
        repo,
        {
            "app.py": APP.replace("return None", "return 'closed'"),
            "README.md": None,
            "docs/guide.md": "# Guide\n\nRead me.\n",
        },
        "change",
    )
    second = await qa.ingest(project, connector)

    assert second.status == SUCCEEDED, second.error
    assert second.mode == pb.INGESTION_MODE_INCREMENTAL
    assert second.revision == head
    assert second.counts.documents_changed == 2  # app.py modified, docs/guide.md added
    assert second.counts.documents_deleted == 1  # README.md
    paths = {c.path for c in chunks_of(qa, project)}
    assert paths == {"app.py", "docs/guide.md"}
    # Unchanged functions of app.py were embedded before: their vectors come from the cache.
    assert second.counts.chunks_cached >= 1


async def test_watch_streams_progress_until_the_final_state(qa: QA, tmp_path: Path):
    # The run waits half-way until the watcher has seen it running: it would otherwise have to
    # outlast the time until the watch starts, which a loaded machine does not promise.
    gate = tmp_path / "gate"
    project = await qa.project("watched")
    await qa.connector(
        project, "scripted", "src", documents=30, checkpoint_every=5, gate=str(gate), gate_after=15
    )
    run = await qa.start(project)

    events = []
    request = pb.WatchIngestionRequest(run_id=run.id, interval_seconds=0.02)
    async for event in qa.ingestion.WatchIngestion(request, timeout=120):
        events.append(event)
        if event.run.status == pb.INGESTION_STATUS_RUNNING:
            gate.touch()

    assert events[-1].run.status == SUCCEEDED
    assert events[-1].documents_done == 30
    assert any(e.documents_total == 30 for e in events)
    dones = [e.documents_done for e in events]
    assert dones == sorted(dones)
    assert sum(1 for e in events if e.run.status == pb.INGESTION_STATUS_RUNNING) >= 1


async def test_a_bad_document_is_a_warning_not_a_failed_run(qa: QA):
    project = await qa.project("warned")
    await qa.connector(project, "scripted", "src", documents=4, bad=["mod_2.py"])

    events = await qa.events((await qa.start(project)).id)
    run = events[-1].run

    assert run.status == SUCCEEDED
    assert run.counts.documents_changed == 3 and run.counts.documents_failed == 1
    assert [(w.document_key, w.message) for w in run.warnings] == [
        ("mod_2.py", "unreadable (scripted)")
    ]
    sent = [w.document_key for e in events for w in e.new_warnings]
    assert sent == ["mod_2.py"]


async def test_a_source_error_fails_the_run_with_its_message(qa: QA):
    project = await qa.project("failing")
    await qa.connector(project, "scripted", "src", documents=5, fail_after=3)

    run = await qa.ingest(project)

    assert run.status == pb.INGESTION_STATUS_FAILED
    assert run.error == "scripted failure at document 3"
    assert run.HasField("finish_time")


async def test_a_document_of_an_unknown_kind_fails_the_run_naming_the_kinds(qa: QA):
    project = await qa.project("blogging")
    await qa.connector(project, "scripted", "src", documents=2, kind="blog")

    run = await qa.ingest(project)

    assert run.status == pb.INGESTION_STATUS_FAILED
    assert run.error.startswith("document 'mod_0.py': kind 'blog' is not one of file, issue,")


async def test_a_git_ref_that_does_not_exist_fails_the_run_clearly(qa: QA, tmp_path: Path):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    project = await qa.project("noref")
    await qa.connector(project, "git", "code", url=str(repo), branch="nope")

    run = await qa.ingest(project)

    assert run.status == pb.INGESTION_STATUS_FAILED
    assert "nope" in run.error


async def test_one_active_run_per_connector(qa: QA, tmp_path: Path):
    gate = tmp_path / "gate"
    project = await qa.project("busy")
    await qa.connector(project, "scripted", "src", documents=3, gate=str(gate))
    first = await qa.start(project)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await qa.start(project)

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already has a run in progress" in raised.value.details()
    assert first.id in raised.value.details()
    gate.touch()
    assert (await qa.finish(first.id)).status == SUCCEEDED
    assert (await qa.ingest(project)).status == SUCCEEDED  # free again once it ended


async def test_cancel_during_embedding_leaves_an_index_consistent_with_the_store(
    qa: QA, tmp_path: Path
):
    """The run publishes as it goes (chunks first, vectors behind); after the cancel the
    worker publishes the Store as it is, saying how many chunks have vectors."""
    gate = tmp_path / "gate"
    project = await qa.project("cancelled")
    connector = await qa.connector(project, "scripted", "src", documents=4)
    assert (await qa.ingest(project)).status == SUCCEEDED
    before = qa.server.ingestion.indexes.manifest(project)
    from google.protobuf import struct_pb2

    config = struct_pb2.Struct()
    config.update(
        {
            "documents": 400,
            "gate": str(gate),
            "gate_after": 300,
            "version": "v2",
            "checkpoint_every": 50,
        }
    )
    from projectqa.v1 import admin_pb2

    await qa.admin.UpdateConnector(
        admin_pb2.UpdateConnectorRequest(connector_id=connector, config=config)
    )
    run = await qa.start(project, full=True)
    await qa.wait_for(run.id, lambda r: r.counts.chunks_written > 0)

    cancelled = await qa.ingestion.CancelIngestion(pb.CancelIngestionRequest(run_id=run.id))
    final = await qa.finish(run.id)

    assert cancelled.run.id == run.id
    assert final.status == pb.INGESTION_STATUS_CANCELLED
    indexes, store = qa.server.ingestion.indexes, qa.server.store
    level = lambda: indexes.serving(project).manifest.generation == store.index_generation(project)  # noqa: E731
    assert await eventually(level, polls=2000)  # the worker's reconcile loop
    served = indexes.serving(project)
    after = served.manifest
    assert before is not None and after.generation > before.generation
    chunk_ids = [served.chunk_id(row) for row in range(len(served))]
    assert len(qa.server.store.get_chunks(chunk_ids)) == len(chunk_ids) == after.chunks
    assert after.vectors <= after.chunks
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await qa.ingestion.CancelIngestion(pb.CancelIngestionRequest(run_id=run.id))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_list_get_and_rebuild(qa: QA):
    project = await qa.project("listed")
    await qa.connector(project, "scripted", "src", documents=2)
    runs = [await qa.ingest(project) for _ in range(3)]

    listed = await qa.ingestion.ListIngestionRuns(
        pb.ListIngestionRunsRequest(project="listed", page_size=2)
    )
    rest = await qa.ingestion.ListIngestionRuns(
        pb.ListIngestionRunsRequest(project="listed", page_token=listed.next_page_token)
    )
    got = await qa.ingestion.GetIngestionRun(pb.GetIngestionRunRequest(run_id=runs[0].id))
    rebuilt = await qa.ingestion.RebuildIndexes(pb.RebuildIndexesRequest(project="listed"))

    assert [r.id for r in [*listed.runs, *rest.runs]] == [r.id for r in reversed(runs)]
    assert rest.next_page_token == ""
    assert got.run == runs[0]
    assert runs[1].counts.documents_unchanged == 2 and runs[1].counts.documents_changed == 0
    assert rebuilt.chunks == rebuilt.vectors > 0
    assert rebuilt.dense_kind == "flat"


async def test_a_connector_with_a_run_in_progress_cannot_be_deleted(qa: QA, tmp_path: Path):
    from projectqa.v1 import admin_pb2

    gate = tmp_path / "gate"
    project = await qa.project("kept")
    connector = await qa.connector(project, "scripted", "src", documents=2, gate=str(gate))
    run = await qa.start(project)
    delete = admin_pb2.DeleteConnectorRequest(connector_id=connector)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await qa.admin.DeleteConnector(delete)

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert run.id in raised.value.details()
    gate.touch()
    await qa.finish(run.id)
    await qa.admin.DeleteConnector(delete)
    assert chunks_of(qa, project) == []


async def test_deleting_drops_derived_data_indexes_and_clones(qa: QA, tmp_path: Path):
    from projectqa.v1 import admin_pb2

    repo = make_repo(tmp_path / "repo", {"a.py": "def a():\n    return 1\n"})
    project = await qa.project("gone")
    connector = await qa.connector(project, "git", "code", url=str(repo))
    assert (await qa.ingest(project)).status == SUCCEEDED
    settings = qa.server.settings
    clone, index = settings.sources_dir / connector, settings.index_dir / project
    assert clone.is_dir() and index.is_dir()

    await qa.admin.DeleteConnector(admin_pb2.DeleteConnectorRequest(connector_id=connector))
    assert not clone.exists()
    await qa.admin.DeleteProject(admin_pb2.DeleteProjectRequest(project=project))
    assert not index.exists()


async def test_content_is_never_embedded_twice_across_projects_and_runs(qa: QA):
    for slug in ("first", "second"):
        await qa.project(slug)
        await qa.connector(slug, "scripted", "src", documents=5)

    first = await qa.ingest("first")
    second = await qa.ingest("second")  # same content in another project
    again = await qa.ingest("first", full=True)  # nothing changed

    assert first.counts.chunks_embedded == first.counts.chunks_written > 0
    assert second.counts.chunks_embedded == 0
    assert (
        second.counts.chunks_cached == second.counts.chunks_written == first.counts.chunks_written
    )
    assert again.counts.documents_unchanged == 5 and again.counts.chunks_written == 0
