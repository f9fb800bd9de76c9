"""FileGraph: import and call references of chunk rows resolved to the index's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from projectqa.server.index.graph import GRAPH_FILE, Edge, FileGraph
from projectqa.server.index.symbols import SymbolIndex
from projectqa.server.models import Symbol

GIT = "con_git"


def rows_of(*files: tuple[str, tuple[str, ...]], connector: str = GIT) -> list:
    return [(connector, path, refs) for path, refs in files]


def symbols_of(*definitions: tuple[str, str], connector: str = GIT) -> SymbolIndex:
    """A symbol index of (path, qualified name) definitions."""
    return SymbolIndex.build(
        Symbol(
            id=f"doc_{ordinal}:{ordinal:06d}",
            project_id="prj_1",
            connector_id=connector,
            document_id=f"doc_{ordinal}",
            path=path,
            name=name,
            kind="function",
            start_line=1,
            end_line=2,
            language="python",
        )
        for ordinal, (path, name) in enumerate(definitions)
    )


def targets(edges: list[Edge]) -> dict[str, float]:
    """Weight per file at the other end, summed over kinds."""
    summed: dict[str, float] = {}
    for edge in edges:
        summed[edge.path] = summed.get(edge.path, 0.0) + edge.weight
    return summed


# ------------------------------------------------------------------ imports
def test_python_imports_resolve_to_modules_in_a_src_layout() -> None:
    graph = FileGraph.build(
        rows_of(
            ("src/pkg/a/b.py", ("import:pkg.a.m.f", "import:pkg.util")),
            ("src/pkg/a/m.py", ()),
            ("src/pkg/util/__init__.py", ()),
        ),
        None,
    )

    assert graph.out_edges("src/pkg/a/b.py") == [
        Edge("src/pkg/a/m.py", "import", 1.0),
        Edge("src/pkg/util/__init__.py", "import", 1.0),
    ]


def test_the_longest_dotted_prefix_that_is_a_file_wins() -> None:
    graph = FileGraph.build(
        rows_of(
            ("app.py", ("import:pkg.sub.mod.func", "import:pkg.name")),
            ("pkg/__init__.py", ()),
            ("pkg/sub/__init__.py", ()),
            ("pkg/sub/mod.py", ()),
        ),
        None,
    )

    # pkg.sub.mod.func -> pkg/sub/mod.py (not pkg/sub nor pkg); pkg.name -> pkg/__init__.py
    assert targets(graph.out_edges("app.py")) == {"pkg/sub/mod.py": 1.0, "pkg/__init__.py": 1.0}


def test_java_and_rust_dotted_specs_find_their_files_under_source_roots() -> None:
    graph = FileGraph.build(
        rows_of(
            ("src/main/java/com/acme/App.java", ("import:com.acme.store.Repo", "import:java.util")),
            ("src/main/java/com/acme/store/Repo.java", ()),
            ("src/main.rs", ("import:net.client.Client",)),
            ("src/net/client.rs", ()),
            ("src/net/mod.rs", ()),
        ),
        None,
    )

    assert targets(graph.out_edges("src/main/java/com/acme/App.java")) == {
        "src/main/java/com/acme/store/Repo.java": 1.0
    }
    assert targets(graph.out_edges("src/main.rs")) == {"src/net/client.rs": 1.0}


def test_posix_specs_match_the_path_with_an_extension_or_an_index_file() -> None:
    graph = FileGraph.build(
        rows_of(
            ("src/app.tsx", ("import:react", "import:src/lib/ui", "import:src/lib/x")),
            ("src/lib/x.ts", ()),
            ("src/lib/ui/index.tsx", ()),
            ("native/main.c", ("import:util/str.h", "import:config.h")),
            ("include/util/str.h", ()),
            ("native/config.h", ()),
        ),
        None,
    )

    assert targets(graph.out_edges("src/app.tsx")) == {
        "src/lib/x.ts": 1.0,
        "src/lib/ui/index.tsx": 1.0,
    }
    assert targets(graph.out_edges("native/main.c")) == {
        "include/util/str.h": 1.0,
        "native/config.h": 1.0,
    }


def test_a_go_import_path_names_the_files_of_its_package_directory() -> None:
    graph = FileGraph.build(
        rows_of(
            ("cmd/tool/main.go", ("import:fmt", "import:github.com/acme/tool/internal/store")),
            ("internal/store/db.go", ()),
            ("internal/store/cache.go", ()),
            ("internal/store/README.md", ()),
        ),
        None,
    )

    assert targets(graph.out_edges("cmd/tool/main.go")) == {
        "internal/store/db.go": 0.5,
        "internal/store/cache.go": 0.5,
    }


def test_a_library_import_does_not_match_a_project_file_deep_in_the_tree() -> None:
    graph = FileGraph.build(
        rows_of(
            ("app.py", ("import:json", "import:flask")),
            ("tools/helpers/json.py", ()),
            ("src/flask/__init__.py", ()),
        ),
        None,
    )

    # `import json` is the standard library, not tools/helpers/json.py; src/ is a source root
    assert targets(graph.out_edges("app.py")) == {"src/flask/__init__.py": 1.0}


def test_ambiguous_matches_share_the_weight_and_the_callers_connector_is_preferred() -> None:
    rows = [
        (GIT, "a/main.py", ("import:pkg.util",)),
        (GIT, "a/pkg/util.py", ()),
        (GIT, "b/pkg/util.py", ()),
        ("con_other", "c/pkg/util.py", ()),
        ("con_other", "c/main.py", ("import:pkg.util",)),
    ]
    graph = FileGraph.build(rows, None)

    assert targets(graph.out_edges("a/main.py")) == {"a/pkg/util.py": 0.5, "b/pkg/util.py": 0.5}
    assert targets(graph.out_edges("c/main.py")) == {"c/pkg/util.py": 1.0}


# -------------------------------------------------------------------- calls
def test_calls_resolve_through_the_symbol_index_split_between_defining_files() -> None:
    symbols = symbols_of(
        ("lib/http.py", "Session.request"),
        ("lib/api.py", "request"),
        ("lib/models.py", "Response"),
    )
    graph = FileGraph.build(
        rows_of(
            ("app.py", ("call:request", "call:Response", "call:missing")),
            ("lib/http.py", ()),
            ("lib/api.py", ()),
            ("lib/models.py", ()),
        ),
        symbols,
    )

    assert targets(graph.out_edges("app.py")) == {
        "lib/models.py": 1.0,
        "lib/http.py": 0.5,
        "lib/api.py": 0.5,
    }
    assert graph.out_edges("app.py")[0] == Edge("lib/models.py", "call", 1.0)


def test_a_called_name_defined_in_an_imported_file_goes_there_with_full_weight() -> None:
    symbols = symbols_of(("lib/http.py", "Session.request"), ("lib/api.py", "request"))
    graph = FileGraph.build(
        rows_of(
            ("app.py", ("import:lib.api",)),
            ("app.py", ("call:request",)),  # a later chunk of the same file calls it
            ("lib/http.py", ()),
            ("lib/api.py", ()),
        ),
        symbols,
    )

    assert graph.out_edges("app.py") == [  # equal weights: by path, then kind
        Edge("lib/api.py", "call", 1.0),
        Edge("lib/api.py", "import", 1.0),
    ]
    assert graph.row_edges(1) == [Edge("lib/api.py", "call", 1.0)]


def test_names_defined_in_too_many_files_are_dropped_unless_imported() -> None:
    common = [(f"m{i}/util.py", "get") for i in range(11)]
    symbols = symbols_of(*common, ("lib/store.py", "get"))
    files = [(path, ()) for path, _ in common]
    graph = FileGraph.build(
        rows_of(
            ("app.py", ("call:get",)),
            ("main.py", ("import:lib.store", "call:get")),
            ("lib/store.py", ()),
            *files,
        ),
        symbols,
    )

    assert graph.out_edges("app.py") == []
    assert targets(graph.out_edges("main.py")) == {"lib/store.py": 2.0}


def test_self_edges_are_dropped_and_calls_are_case_insensitive() -> None:
    symbols = symbols_of(("lib/http.py", "Session.request"), ("lib/api.py", "Request"))
    graph = FileGraph.build(
        rows_of(
            ("lib/http.py", ("call:request", "import:lib.http")),
            ("lib/api.py", ()),
        ),
        symbols,
    )

    # the own file counts among the definitions (1/2 to the other), but gets no edge
    assert graph.out_edges("lib/http.py") == [Edge("lib/api.py", "call", 0.5)]


# ------------------------------------------------------- edges of the graph
@pytest.fixture
def project() -> FileGraph:
    symbols = symbols_of(("pkg/core.py", "run"), ("pkg/io.py", "read"))
    return FileGraph.build(
        rows_of(
            ("pkg/core.py", ("import:pkg.io", "call:read")),  # row 0
            ("pkg/core.py", ("call:read",)),  # row 1
            ("pkg/io.py", ()),  # row 2
            ("tests/test_core.py", ("import:pkg.core", "call:run", "call:read")),  # row 3
            ("docs/index.md", ()),  # row 4
        ),
        symbols,
    )


def test_weights_sum_per_pair_of_files_and_kind_heaviest_first(project: FileGraph) -> None:
    assert project.out_edges("pkg/core.py") == [
        Edge("pkg/io.py", "call", 2.0),
        Edge("pkg/io.py", "import", 1.0),
    ]
    tests = project.out_edges("tests/test_core.py")
    assert targets(tests) == {"pkg/core.py": 2.0, "pkg/io.py": 1.0}


def test_in_edges_name_the_files_importing_or_calling_into_a_file(project: FileGraph) -> None:
    assert project.in_edges("pkg/io.py") == [
        Edge("pkg/core.py", "call", 2.0),
        Edge("pkg/core.py", "import", 1.0),
        Edge("tests/test_core.py", "call", 1.0),
    ]
    assert project.in_edges("pkg/core.py") == [
        Edge("tests/test_core.py", "call", 1.0),
        Edge("tests/test_core.py", "import", 1.0),
    ]


def test_row_edges_are_what_one_chunk_refers_to(project: FileGraph) -> None:
    assert project.row_edges(1) == [Edge("pkg/io.py", "call", 1.0)]
    assert project.row_edges(2) == []
    assert targets(project.row_edges(3)) == {"pkg/core.py": 2.0, "pkg/io.py": 1.0}
    assert project.row_count == 5


def test_a_limit_keeps_the_heaviest_edges(project: FileGraph) -> None:
    assert project.in_edges("pkg/io.py", limit=2) == project.in_edges("pkg/io.py")[:2]
    assert project.out_edges("pkg/core.py", limit=1) == [Edge("pkg/io.py", "call", 2.0)]
    assert project.row_edges(3, limit=0) == []


def test_unknown_paths_and_rows_have_no_edges(project: FileGraph) -> None:
    assert project.out_edges("nowhere.py") == []
    assert project.in_edges("nowhere.py") == []
    assert project.in_edges("docs/index.md") == []
    with pytest.raises(IndexError):
        project.row_edges(5)


def test_an_empty_graph() -> None:
    graph = FileGraph.build([], None)
    assert graph.row_count == 0
    assert graph.out_edges("a.py") == []


# -------------------------------------------------------------- save / load
def test_save_and_load_round_trip(project: FileGraph, tmp_path: Path) -> None:
    project.save(tmp_path / "gen")
    assert [p.name for p in (tmp_path / "gen").iterdir()] == [GRAPH_FILE]

    loaded = FileGraph.load(tmp_path / "gen")

    assert loaded is not None and loaded.row_count == project.row_count
    for path in ["pkg/core.py", "pkg/io.py", "tests/test_core.py", "docs/index.md"]:
        assert loaded.out_edges(path) == project.out_edges(path)
        assert loaded.in_edges(path) == project.in_edges(path)
    for row in range(project.row_count):
        assert loaded.row_edges(row) == project.row_edges(row)


def test_a_missing_file_loads_as_no_graph(tmp_path: Path) -> None:
    assert FileGraph.load(tmp_path) is None


def test_a_damaged_file_does_not_load(project: FileGraph, tmp_path: Path) -> None:
    project.save(tmp_path)
    with np.load(tmp_path / GRAPH_FILE) as arrays:
        kept = {name: arrays[name] for name in arrays.files if name != "in_weight"}
    np.savez(tmp_path / GRAPH_FILE, **kept)

    with pytest.raises(ValueError):
        FileGraph.load(tmp_path)
