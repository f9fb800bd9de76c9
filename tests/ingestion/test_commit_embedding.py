"""A commit record is embedded by its header alone (key, subject and symbol): its message
and file list are for keyword search. The whole text cost the embedder 3-4 times as much
(bench/history_ingest.py, --embed-sample; docs/HISTORY.md)."""

from __future__ import annotations

from projectqa.plugins.githistory import CommitRecord, FileChange, commit_document
from projectqa.server.chunking import chunk_document
from projectqa.server.ingestion.backfill import embed_text

SHA = "3f9c2d1e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d"


def test_a_commit_chunk_is_embedded_by_its_subject_not_its_body() -> None:
    record = commit_document(
        CommitRecord(
            SHA,
            ("0" * 40,),
            "Ann",
            "2024-05-06T07:08:09+00:00",
            "Retry the upload\n\nA long explanation.\n",
            files=(FileChange("src/upload.py", 12, 3),),
        )
    )
    (draft,) = chunk_document(record)

    embedded = embed_text(
        record.path, record.key, record.title, draft.symbol, draft.text, record.kind
    )

    assert embedded == f"commits/{SHA} Retry the upload :: commit 3f9c2d1 Retry the upload\n"


def test_a_file_under_a_folder_named_commits_is_embedded_whole() -> None:
    text = "def f():\n    pass\n"
    assert embed_text("commits/f.py", "commits/f.py", "f.py", "f", text).endswith(text)
