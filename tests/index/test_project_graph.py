"""The file graph of a project index: built from the Store's chunk references and symbols
with each generation, saved and loaded with it (real SqliteStore, real index files)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index.graph import GRAPH_FILE, Edge, FileGraph
from projectqa.server.index.project import BuildInput, ProjectIndex, build_project_index
from projectqa.server.models import DocumentWrite, Symbol
from projectqa.server.store import SqliteStore

from .conftest import MODEL, Corpus, make_chunk, make_document

CORE = "src/pkg/core.py"
IO = "src/pkg/io.py"
TEST = "tests/test_core.py"


def write_file(
    corpus: Corpus, path: str, chunks: list[tuple[str, ...]], definitions: list[str] = ()
) -> None:
    """``path`` with one chunk per references tuple, defining ``definitions``."""
    document = make_document(corpus.project_id, corpus.connector_id, path, len(chunks))
    written = [
        replace(
            make_chunk(document, ordinal, f"f{ordinal}", f"text {path} {ordinal}"), references=refs
        )
        for ordinal, refs in enumerate(chunks)
    ]
    symbols = [
        Symbol(
            id=f"{document.id}:{ordinal:06d}",
            project_id=corpus.project_id,
            connector_id=corpus.connector_id,
            document_id=document.id,
            path=path,
            name=name,
            kind="function",
            start_line=1,
            end_line=5,
            language="python",
        )
        for ordinal, name in enumerate(definitions)
    ]
    corpus.store.write_documents([DocumentWrite(document, written, symbols)])
    corpus.store.bump_index_generation(corpus.project_id)


@pytest.fixture
def project(corpus: Corpus) -> Corpus:
    write_file(corpus, CORE, [("import:pkg.io",), ("call:read", "call:print")], ["run"])
    write_file(corpus, IO, [()], ["read"])
    write_file(corpus, TEST, [("import:pkg.core", "call:run")])
    write_file(corpus, "README.md", [()])
    return corpus


def build(corpus: Corpus) -> ProjectIndex:
    spec = BuildInput(corpus.store.index_generation(corpus.project_id), MODEL, exact_max=100)
    return build_project_index(corpus.store, corpus.project_id, spec)


def row_of(index: ProjectIndex, path: str, ordinal: int) -> int:
    rows = [row for row in range(len(index)) if index.table.columns["path"].value(row) == path]
    return rows[ordinal]


def test_the_index_carries_the_graph_of_its_chunks_references(project: Corpus) -> None:
    index = build(project)

    assert index.graph is not None and index.graph.row_count == len(index)
    assert index.graph.out_edges(CORE) == [
        Edge(IO, "call", 1.0),  # read, defined in the imported file
        Edge(IO, "import", 1.0),
    ]
    assert index.graph.in_edges(CORE) == [Edge(TEST, "call", 1.0), Edge(TEST, "import", 1.0)]
    assert index.graph.row_edges(row_of(index, CORE, 1)) == [Edge(IO, "call", 1.0)]
    assert index.graph.row_edges(row_of(index, "README.md", 0)) == []


def test_the_graph_is_saved_and_loaded_with_the_generation(
    project: Corpus, store: SqliteStore, index_root: Path, build_count: list[str]
) -> None:
    built = IndexManager(store, index_root, MODEL).get(project.project_id)
    assert (index_root / project.project_id / built.manifest.dir / GRAPH_FILE).is_file()
    assert GRAPH_FILE in {entry.path for entry in built.manifest.files}

    served = IndexManager(store, index_root, MODEL).serving(project.project_id)

    assert build_count == [project.project_id]  # the second manager loaded, not built
    assert served.graph is not None and built.graph is not None
    for path in (CORE, IO, TEST):
        assert served.graph.out_edges(path) == built.graph.out_edges(path)
        assert served.graph.in_edges(path) == built.graph.in_edges(path)


def test_a_generation_saved_before_graphs_loads_without_one(
    project: Corpus, tmp_path: Path
) -> None:
    index = build(project)
    index.save(tmp_path)
    (tmp_path / GRAPH_FILE).unlink()

    loaded = ProjectIndex.load(tmp_path, index.manifest)

    assert loaded.graph is None
    assert len(loaded) == len(index)


def test_a_graph_of_other_rows_does_not_load_with_the_generation(
    project: Corpus, tmp_path: Path
) -> None:
    index = build(project)
    index.save(tmp_path)
    FileGraph.build([("con", "a.py", ())], None).save(tmp_path)

    with pytest.raises(ValueError, match="graph"):
        ProjectIndex.load(tmp_path, index.manifest)


def test_chunks_without_references_give_a_graph_without_edges(corpus: Corpus) -> None:
    corpus.add("a.py", [("f", "alpha"), ("g", "beta")])

    index = build(corpus)

    assert index.graph is not None and index.graph.row_count == 2
    assert index.graph.out_edges("a.py") == [] and index.graph.in_edges("a.py") == []
