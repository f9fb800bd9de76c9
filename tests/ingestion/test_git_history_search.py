"""Commit records end to end: a real server ingests a real repository with the git
connector, Search finds the commit that explains a change and cites it as
``commit abc1234``, an incremental run adds a new commit, and the history signal
scores the files it changed (SQLite and MongoDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.server.retrieval.history import similar_change_scores
from projectqa.v1 import ingestion_pb2 as pb
from projectqa.v1 import retrieval_pb2

from .conftest import QA, commit, make_repo

pytestmark = pytest.mark.model
SUCCEEDED = pb.INGESTION_STATUS_SUCCEEDED


async def search_commits(qa: QA, project: str, query: str) -> retrieval_pb2.SearchResponse:
    request = retrieval_pb2.SearchRequest(
        project=project,
        query=query,
        top_k=5,
        filter=retrieval_pb2.SearchFilter(kinds=["commit"]),
    )
    return await qa.retrieval.Search(request)


async def test_commits_are_searchable_cited_and_added_incrementally(qa: QA, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"src/upload.py": "def upload():\n    pass\n"})
    fix = commit(
        repo,
        {"src/upload.py": "def upload():\n    retry()\n"},
        "Retry the upload when the connection resets\n\nThe server drops idle sockets.",
    )
    commit(repo, {"README.md": "# Uploader\n"}, "Describe the project")
    project = await qa.project("history")  # the id
    await qa.connector(project, "git", "code", url=str(repo))
    assert (await qa.ingest(project)).status == SUCCEEDED

    found = await search_commits(qa, project, "why does upload retry after a connection reset?")

    top = found.hits[0]
    assert top.citation.kind == "commit"
    assert top.citation.label == f"commit {fix[:7]}"
    assert top.citation.document_key == f"commits/{fix}"
    assert top.symbol == f"commit {fix[:7]} Retry the upload when the connection resets"
    assert "src/upload.py (+1 -1)" in top.snippet

    later = commit(repo, {"src/parser.py": "TABS = 4\n"}, "Expand tabs in the parser")
    assert (await qa.ingest(project)).status == SUCCEEDED
    again = await search_commits(qa, project, "parser tabs")
    assert again.hits[0].citation.label == f"commit {later[:7]}"

    index = qa.server.ingestion.indexes.serving(project)
    scores = similar_change_scores(index, qa.server.store, "upload retry connection").scores
    assert max(scores, key=scores.__getitem__) == "src/upload.py"


async def search(qa: QA, project: str, query: str) -> retrieval_pb2.SearchResponse:
    request = retrieval_pb2.SearchRequest(project=project, query=query, top_k=5)
    return await qa.retrieval.Search(request)


async def test_commits_step_back_unless_the_question_asks_for_history(
    qa: QA, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"src/upload.py": "def upload(data):\n    send(data)\n"})
    fix = commit(
        repo,
        {
            "src/upload.py": "def upload(data):\n"
            "    for attempt in range(3):  # the connection resets when idle\n"
            "        if send(data):\n"
            "            return\n"
        },
        "Retry the upload when the connection resets",
    )
    project = await qa.project("history-intent")
    await qa.connector(project, "git", "code", url=str(repo))
    assert (await qa.ingest(project)).status == SUCCEEDED

    where = await search(qa, project, "where does the upload retry when the connection resets?")
    which = await search(qa, project, "which commit made the upload retry on connection resets?")

    assert where.hits[0].citation.path == "src/upload.py"
    assert where.hits[0].citation.kind == "file"
    assert which.hits[0].citation.label == f"commit {fix[:7]}"
