"""Line windows for files without structure, budgets, empty documents and language names."""

from __future__ import annotations

import pytest

from projectqa.server.chunking import ChunkDraft, chunk_document, language_of

from .contract import assert_contract, file_doc, outline


def test_files_without_a_grammar_fall_back_to_line_windows() -> None:
    text = "".join(f"key{n}: value {n}\n" for n in range(130))
    doc = file_doc("config/settings.yaml", text)

    chunks = chunk_document(doc, max_lines=60, overlap_lines=5)

    assert outline(chunks) == [
        ("", "lines", 1, 60),
        ("", "lines", 56, 115),
        ("", "lines", 111, 130),
    ]
    assert {c.language for c in chunks} == {"yaml"}
    assert_contract(doc, chunks)


def test_windows_prefer_to_end_at_a_blank_line() -> None:
    text = "\n".join(["para one"] * 7 + [""] + ["para two"] * 7)
    doc = file_doc("notes", text)  # no extension: unknown language

    chunks = chunk_document(doc, max_lines=10, overlap_lines=2)

    assert outline(chunks) == [("", "lines", 1, 7), ("", "lines", 6, 15)]
    assert chunks[0].language == ""


def test_windows_skip_blank_edges() -> None:
    doc = file_doc("a.txt", "\n\n  \nfirst\nsecond\n\n\n")

    assert chunk_document(doc) == [ChunkDraft("first\nsecond", 4, 5, "", "lines", "text")]


@pytest.mark.parametrize("text", ["", "\n\n", "   \n\t\n"])
@pytest.mark.parametrize("path", ["a.py", "README.md", "a.txt"])
def test_empty_documents_have_no_chunks(path: str, text: str) -> None:
    assert chunk_document(file_doc(path, text)) == []


@pytest.mark.parametrize(
    "budget",
    [
        {"max_lines": 0},
        {"max_chars": 0},
        {"overlap_lines": -1},
        {"max_lines": 5, "overlap_lines": 5},
    ],
)
def test_a_budget_that_cannot_be_met_is_refused(budget: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        chunk_document(file_doc("a.txt", "text\n"), **budget)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.py", "python"),
        ("stubs/app.pyi", "python"),
        ("web/index.js", "javascript"),
        ("web/index.mjs", "javascript"),
        ("web/App.jsx", "javascript"),
        ("web/api.ts", "typescript"),
        ("web/App.tsx", "tsx"),
        ("cmd/main.go", "go"),
        ("src/Main.java", "java"),
        ("src/lib.rs", "rust"),
        ("src/buffer.c", "c"),
        ("include/buffer.h", "c"),
        ("src/cart.cpp", "cpp"),
        ("src/cart.cc", "cpp"),
        ("include/cart.hpp", "cpp"),
        ("docs/guide.md", "markdown"),
        ("docs/index.rst", "rst"),
        ("notes.txt", "text"),
        ("deploy/values.yaml", "yaml"),
        ("Dockerfile", "dockerfile"),
        ("SRC/APP.PY", "python"),
        ("LICENSE", ""),
        ("archive.xyz", ""),
        (".gitignore", ""),
    ],
)
def test_language_of(path: str, language: str) -> None:
    assert language_of(path) == language
