"""kill -9 of `projectqa worker` while only part of a run's chunks have vectors (the run
writes chunks first and embeds them behind): what servers load is consistent with the
Store and does not claim to be complete, search answers by keyword meanwhile, and the
worker that takes the run over embeds the rest, and only that. The real model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from projectqa.v1 import ingestion_pb2

from .deployment import (
    Deployment,
    Run,
    admin_client,
    embeddings_count,
    ended,
    local_project,
    start_server,
    start_worker,
    store,
    stored_run,
    wait_for_run,
    write_sources,
)

pytestmark = [pytest.mark.e2e, pytest.mark.model]
FILES = 620
LEASE = {"PROJECTQA_RUN_LEASE_S": "3"}
SERVING_ONLY = {"PROJECTQA_EMBEDDED_WORKER": "off", **LEASE}


def part_embedded(run: Run) -> bool:
    counts = run.counts
    return ended(run) or 0 < counts.chunks_embedded < counts.chunks_written


def published(data: Path, project_id: str) -> tuple[dict[str, Any], list[str]]:
    """The manifest servers load, and the chunk ids of its generation."""
    project_dir = data / "indexes" / project_id
    manifest = json.loads((project_dir / "manifest.json").read_text())
    chunk_ids = json.loads((project_dir / manifest["dir"] / "chunk_ids.json").read_text())
    return manifest, chunk_ids


def stored_chunk_ids(data: Path) -> set[str]:
    with store(data) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM chunks")}


def without_vector(data: Path, model: str) -> int:
    with store(data) as conn:
        sql = (
            "SELECT count(*) FROM chunks c WHERE NOT EXISTS"
            " (SELECT 1 FROM embeddings e WHERE e.model = ? AND e.hash = c.embed_hash)"
        )
        return int(conn.execute(sql, (model,)).fetchone()[0])


def cached_models(data: Path) -> set[str]:
    with store(data) as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT model FROM embeddings")}


def test_a_worker_killed_half_way_through_its_vectors_leaves_a_consistent_index(tmp_path: Path):
    source = write_sources(tmp_path / "src", FILES, "half")
    data = tmp_path / "data"
    with Deployment() as started:
        server = started.add(start_server(data, tmp_path / "server.log", **SERVING_ONLY))
        first = started.add(start_worker(data, tmp_path / "worker-1.log", **LEASE))
        with admin_client(server, data) as qa:
            local_project(qa, "half", source)
            project_id = qa.get_project("half").id
            [run] = qa.start_ingestion("half", mode="full")
            # Published as it goes: wait until a generation with part of the vectors is out.
            part = wait_for_run(qa, run.id, part_embedded)
            assert part.status == ingestion_pb2.INGESTION_STATUS_RUNNING, "ended too soon"
            first.kill()
            manifest, chunk_ids = published(data, project_id)
            missing = without_vector(data, manifest["model"])
            vectors_at_kill = embeddings_count(data)
            killed = stored_run(data, run.id)
            answer = qa.search("half", "half_handler_3 case")  # served meanwhile
            started.add(start_worker(data, tmp_path / "worker-2.log", **LEASE))
            done = wait_for_run(qa, run.id, ended)
            final_answer = qa.search("half", "Handles half case 7")

    # At the kill: nothing half-indexed claims to be complete, nothing served is gone.
    assert 0 < missing < FILES
    assert manifest["vectors"] < manifest["chunks"] and chunk_ids
    assert set(chunk_ids) <= stored_chunk_ids(data)
    assert answer.hits
    assert cached_models(data) == {manifest["model"]}

    assert done.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, done.error
    assert done.attempts == 2 and done.counts.chunks_pending_embedding == 0
    # The rest embedded, and only the rest: what had a vector at the kill was not encoded
    # again (the count resumes from the killed worker's last record).
    assert without_vector(data, manifest["model"]) == 0
    encoded = done.counts.chunks_embedded - killed["chunks_embedded"]
    assert encoded == embeddings_count(data) - vectors_at_kill >= missing
    final, final_ids = published(data, project_id)
    assert final["vectors"] == final["chunks"] == FILES == len(final_ids)
    assert final_answer.index_generation == final["generation"]
    assert "m0007.py" in {hit.citation.path for hit in final_answer.hits}
