"""The history signal (server/retrieval/history.py): files changed by past changes whose
records resemble the question, over a real SQLite Store and a real index generation."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.plugins.githistory import CommitRecord, FileChange, commit_document
from projectqa.server.chunking import chunk_document
from projectqa.server.index import IndexManager
from projectqa.server.index.project import ProjectIndex
from projectqa.server.models import Chunk, Document, DocumentWrite, Project, new_id, utcnow
from projectqa.server.retrieval.history import (
    HistoryWeights,
    current_files,
    history_prior,
    similar_change_scores,
)
from projectqa.server.retrieval.ops import CitedResult
from projectqa.server.retrieval.query import SearchFilter, SearchMode, SearchQuery
from projectqa.server.retrieval.search import SearchResult
from projectqa.server.sources import DocumentKind, SourceDocument
from projectqa.server.store import SqliteStore

MODEL = "all-MiniLM-L6-v2"
PROJECT = "prj_history"
GIT = "con_git"
GITHUB = "con_github"
FILES = ["src/upload.py", "src/retry.py", "src/parser.py", "src/cli.py", "docs/guide.md"]


def commit(sha_seed: str, message: str, *paths: str, merge: bool = False) -> SourceDocument:
    sha = hashlib.sha1(sha_seed.encode()).hexdigest()
    parents = ("a" * 40, "b" * 40) if merge else ("a" * 40,)
    files = () if merge else tuple(FileChange(p, 3, 1) for p in paths)
    record = CommitRecord(sha, parents, "Ann", "2024-01-02T03:04:05+00:00", message, files=files)
    return commit_document(record)


def write(store: SqliteStore, connector: str, doc: SourceDocument) -> None:
    document = Document(
        id=new_id("doc"),
        project_id=PROJECT,
        connector_id=connector,
        key=doc.key,
        kind=str(doc.kind),
        title=doc.title,
        path=doc.path,
        url=doc.url,
        version=doc.version,
        content_hash=hashlib.sha256(doc.text.encode()).hexdigest(),
        language="",
        metadata=doc.metadata,
        scan_id="scan",
        chunk_count=0,
        updated_at=utcnow(),
    )
    chunks = [
        Chunk(
            id=new_id("chk"),
            project_id=PROJECT,
            connector_id=connector,
            document_id=document.id,
            document_key=doc.key,
            kind=str(doc.kind),
            path=doc.path,
            url=doc.url,
            title=doc.title,
            ordinal=n,
            start_line=draft.start_line,
            end_line=draft.end_line,
            symbol=draft.symbol,
            symbol_kind=draft.symbol_kind,
            language=draft.language,
            text=draft.text,
            embed_hash=hashlib.sha256(draft.text.encode()).hexdigest(),
        )
        for n, draft in enumerate(chunk_document(doc))
    ]
    store.write_documents(
        [DocumentWrite(dataclasses.replace(document, chunk_count=len(chunks)), chunks)]
    )


def a_file(path: str) -> SourceDocument:
    return SourceDocument(path, DocumentKind.FILE, f"# {path}\nVALUE = 1\n", path=path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    for path in FILES:
        write(store, GIT, a_file(path))
    yield store
    store.close()


def served(store: SqliteStore, root: Path) -> ProjectIndex:
    store.bump_index_generation(PROJECT)
    return IndexManager(store, root, MODEL).serving(PROJECT)


def test_files_of_similar_commits_score_and_better_ranked_commits_score_higher(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, GIT, commit("1", "Retry the upload when the connection resets", "src/upload.py"))
    write(store, GIT, commit("2", "Upload: log the connection error", "src/retry.py"))
    write(store, GIT, commit("3", "Parse empty config files", "src/parser.py"))

    found = similar_change_scores(
        served(store, tmp_path), store, "upload fails when the connection resets"
    )

    ranked = found.ranked()
    assert [path for path, _ in ranked] == ["src/upload.py", "src/retry.py"]
    assert 0 < ranked[1][1] < ranked[0][1] < 1
    assert [c.rank for c in found.changes] == [0, 1]
    assert found.changes[0].key.startswith("commits/")


def test_scores_are_bounded_however_many_changes_agree(store: SqliteStore, tmp_path: Path) -> None:
    for number in range(40):
        write(
            store,
            GIT,
            commit(f"c{number}", f"Fix the upload retry, take {number}", "src/upload.py"),
        )

    found = similar_change_scores(served(store, tmp_path), store, "upload retry")

    assert len(found.changes) == HistoryWeights().changes
    assert 0.9 < found.scores["src/upload.py"] < 1.0


def test_a_change_of_many_files_gives_each_less_than_a_focused_one(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, GIT, commit("wide", "Reformat the upload code", *FILES[:4]))
    write(store, GIT, commit("narrow", "Reformat the upload code", "src/cli.py"))

    scores = similar_change_scores(served(store, tmp_path), store, "reformat upload code").scores

    assert scores["src/cli.py"] > scores["src/parser.py"]


def test_merges_deleted_files_and_unrelated_questions_give_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, GIT, commit("m", "Merge branch 'upload-fix'", merge=True))
    write(store, GIT, commit("gone", "Upload via the old transport", "src/transport.py"))
    index = served(store, tmp_path)

    assert similar_change_scores(index, store, "upload transport").scores == {}
    assert similar_change_scores(index, store, "zebra quokka").changes == []


def test_a_project_without_history_records_has_no_evidence(
    store: SqliteStore, tmp_path: Path
) -> None:
    found = similar_change_scores(served(store, tmp_path), store, "upload")
    assert found.scores == {} and found.changes == []


def test_an_issue_votes_with_the_files_of_the_pull_requests_that_closed_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    issue = SourceDocument(
        "issues/7",
        DocumentKind.ISSUE,
        "Crash when the parser meets a tab\n",
        title="Crash when the parser meets a tab",
        metadata={"closed_by": ["pulls/9"]},
    )
    pull = SourceDocument(
        "pulls/9",
        DocumentKind.PULL_REQUEST,
        "Handle tabs\n",
        title="Handle tabs",
        metadata={"files": [{"path": "src/parser.py", "added": 4, "removed": 1}]},
    )
    write(store, GITHUB, issue)
    write(store, GITHUB, pull)

    found = similar_change_scores(served(store, tmp_path), store, "parser crash on a tab")

    assert list(found.scores) == ["src/parser.py"]
    assert (found.changes[0].key, found.changes[0].kind) == ("issues/7", "issue")


def test_the_search_filter_restricts_connectors_and_files(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, GIT, commit("1", "Upload retries", "src/upload.py", "docs/guide.md"))
    index = served(store, tmp_path)

    only_src = similar_change_scores(
        index, store, "upload retries", search_filter=SearchFilter(path_globs=("src/**",))
    )
    other_connector = similar_change_scores(
        index, store, "upload retries", search_filter=SearchFilter(connectors=(GITHUB,))
    )

    assert list(only_src.scores) == ["src/upload.py"]
    assert other_connector.scores == {}
    assert current_files(index) == set(FILES)


def test_current_files_among_given_paths_agrees_with_the_whole_table(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, GIT, commit("1", "Upload retries", "src/upload.py"))
    index = served(store, tmp_path)
    among = {"src/upload.py", "docs/guide.md", "src/gone.py", "commits/1"}
    for search_filter in (
        None,
        SearchFilter(path_globs=("src/**",)),
        SearchFilter(languages=("python",)),
        SearchFilter(languages=("markdown",), path_globs=("docs/",)),
    ):
        whole = current_files(index, search_filter)
        assert current_files(index, search_filter, among) == whole & among


def test_weights_are_checked() -> None:
    with pytest.raises(ValueError):
        HistoryWeights(changes=0)


def test_as_a_file_search_prior_it_scores_the_generation_that_answered(
    store: SqliteStore, tmp_path: Path
) -> None:
    write(store, GIT, commit("1", "Retry the upload", "src/upload.py"))
    index = served(store, tmp_path)
    project = Project(PROJECT, "history", "History", "", utcnow(), utcnow())
    query = SearchQuery.checked("upload retry", search_filter=SearchFilter(path_globs=("src/**",)))
    searched = CitedResult(project, SearchResult([], SearchMode.HYBRID, 1, index=index), [])

    prior = history_prior(store, weight=0.3)(searched, query)

    assert prior.weight == 0.3
    assert dict(prior.scores) == similar_change_scores(index, store, "upload retry").scores
    unanswered = CitedResult(project, SearchResult([], SearchMode.HYBRID, 0), [])
    assert dict(history_prior(store)(unanswered, query).scores) == {}


def test_a_change_to_a_file_renamed_since_votes_for_where_it_is_now(
    store: SqliteStore, tmp_path: Path
) -> None:
    sha = hashlib.sha1(b"renamed").hexdigest()
    moved = FileChange("src/old_upload.py", 3, 1, now="src/upload.py")
    record = CommitRecord(
        sha, ("a" * 40,), "Ann", "2024-01-02T03:04:05+00:00", "Upload retry", files=(moved,)
    )
    write(store, GIT, commit_document(record))

    found = similar_change_scores(served(store, tmp_path), store, "upload retry")

    assert list(found.scores) == ["src/upload.py"]
