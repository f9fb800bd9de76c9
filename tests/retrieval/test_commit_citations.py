"""A commit record is cited as ``commit abc1234``: its chunks' symbol, the citation label,
and an answer that names it (verified against what the turn saw)."""

from __future__ import annotations

from projectqa.plugins.githistory import CommitRecord, FileChange, commit_document
from projectqa.server.chat.evidence import EvidenceLedger
from projectqa.server.chunking import chunk_document
from projectqa.server.retrieval.citations import citation_of
from projectqa.server.sources import DocumentKind

from ..chat.passages import chunks_of
from ..chat.test_evidence import hits_of

SHA = "3f9c2d1e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
RECORD = commit_document(
    CommitRecord(
        sha=SHA,
        parents=("0" * 40,),
        author="Ann",
        date="2024-05-06T07:08:09+00:00",
        message="Retry the upload when the connection resets\n\nFixes #41.\n",
        files=(FileChange("src/upload.py", 12, 3),),
    )
)


def test_a_commit_chunk_names_the_commit_and_its_subject() -> None:
    (chunk,) = chunk_document(RECORD)
    assert chunk.symbol == "commit 3f9c2d1 Retry the upload when the connection resets"
    assert chunk.symbol_kind == "record"
    assert "src/upload.py (+12 -3)" in chunk.text


def test_a_commit_is_cited_as_commit_and_its_short_sha() -> None:
    (chunk,) = chunks_of(RECORD.key, RECORD.text, DocumentKind.COMMIT)
    assert citation_of(chunk).label == "commit 3f9c2d1"


def test_an_answer_naming_a_seen_commit_cites_it_and_an_unseen_one_is_ignored() -> None:
    ledger = EvidenceLedger()
    ledger.add_hits(hits_of(chunks_of(RECORD.key, RECORD.text, DocumentKind.COMMIT)))

    cited = ledger.verify(
        "The retry came with commit 3f9c2d1e (May 2024); commit deadbee is unrelated."
    )

    assert [(c.citation.document_key, c.citation.label, c.verified) for c in cited] == [
        (RECORD.key, "commit 3f9c2d1", True)
    ]
