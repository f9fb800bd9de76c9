"""Markdown and reStructuredText by section, issues, tickets and pages by record."""

from __future__ import annotations

from itertools import pairwise

import pytest

from projectqa.server.chunking import chunk_document
from projectqa.server.sources import DocumentKind, SourceDocument

from .contract import assert_contract, file_doc, outline, source

MARKDOWN = source("""
    ---
    title: Guide
    ---
    Intro text.

    # Guide

    ## Install

    Run the installer.

    ```sh
    # not a heading
    make install
    ```

    ### Linux
    Use apt.

    Usage
    -----

    Call it.
    """)


def test_markdown_is_split_by_headings_with_their_path() -> None:
    doc = file_doc("docs/guide.md", MARKDOWN)

    chunks = chunk_document(doc)

    assert outline(chunks) == [
        ("", "section", 1, 4),  # front matter is not a setext heading
        ("Guide > Install", "section", 6, 15),  # "# Guide" has no body of its own
        ("Guide > Install > Linux", "section", 17, 18),
        ("Guide > Usage", "section", 20, 23),
    ]
    assert {c.language for c in chunks} == {"markdown"}
    assert_contract(doc, chunks)


def test_markdown_headings_inside_fences_are_code() -> None:
    text = "# Top\n\n~~~~\n# inside\n```\n## still inside\n~~~~\n\n## After\ntext\n"
    doc = file_doc("README.md", text)

    assert outline(chunk_document(doc)) == [
        ("Top", "section", 1, 7),
        ("Top > After", "section", 9, 10),
    ]


def test_an_oversize_section_is_windowed_under_its_heading() -> None:
    paragraphs = "\n\n".join(f"Paragraph {n} explains step {n}." for n in range(30))
    doc = file_doc("docs/long.md", f"# Long\n\n{paragraphs}\n\n# Next\nShort.\n")

    chunks = chunk_document(doc, max_lines=10, overlap_lines=2)

    long = [c for c in chunks if c.symbol == "Long"]
    assert len(long) > 3 and long[0].start_line == 1
    assert all(c.end_line - c.start_line < 10 for c in chunks)
    assert outline(chunks)[-1] == ("Next", "section", 63, 64)
    assert_contract(doc, chunks)


RST = source("""
    =======
    Project
    =======

    Intro.

    Install
    -------

    Run it::

        Not a title
        -----------

    Linux
    ~~~~~

    Use apt.

    Usage
    -----

    Call it.

    ----

    After a transition.
    """)


def test_rst_is_split_by_section_titles_with_their_level() -> None:
    doc = file_doc("docs/index.rst", RST)

    chunks = chunk_document(doc)

    assert outline(chunks) == [
        ("Project", "section", 1, 5),
        ("Project > Install", "section", 7, 13),
        ("Project > Install > Linux", "section", 15, 18),
        ("Project > Usage", "section", 20, 27),
    ]
    assert {c.language for c in chunks} == {"rst"}
    assert_contract(doc, chunks)


def record(kind: DocumentKind, key: str, title: str, text: str) -> SourceDocument:
    return SourceDocument(key=key, kind=kind, text=text, title=title, url=f"https://x/{key}")


@pytest.mark.parametrize(
    ("kind", "key", "title", "symbol"),
    [
        (DocumentKind.ISSUE, "issues/12", "Crash on start", "#12 Crash on start"),
        (DocumentKind.PULL_REQUEST, "pulls/34", "Fix crash", "#34 Fix crash"),
        (DocumentKind.TICKET, "PROJ-7", "Login fails", "PROJ-7 Login fails"),
        (DocumentKind.PAGE, "pages/12345", "Runbook", "pages/12345 Runbook"),
    ],
)
def test_a_record_is_cited_by_its_key_and_title(
    kind: DocumentKind, key: str, title: str, symbol: str
) -> None:
    doc = record(kind, key, title, f"{title}\n\nIt breaks.\n\n---\nalice: same here\n")

    chunks = chunk_document(doc)

    assert outline(chunks) == [(symbol, "record", 1, 6)]
    assert_contract(doc, chunks)


def test_a_long_record_is_windowed_with_overlap() -> None:
    comments = "\n".join(f"user{n}: comment number {n}" for n in range(100))
    doc = record(DocumentKind.ISSUE, "issues/9", "Slow", f"Slow\n\nIt is slow.\n{comments}\n")

    chunks = chunk_document(doc, max_lines=30, overlap_lines=4)

    assert {(c.symbol, c.symbol_kind) for c in chunks} == {("#9 Slow", "record")}
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 103
    for before, after in pairwise(chunks):
        assert after.start_line == before.end_line - 3
    assert_contract(doc, chunks)
