"""What the file graph (server/index/graph.py) costs per index generation: build time,
``graph.npz`` size and load time, and how many references it resolves.

Two corpora:

- ``synthetic`` (default 100,000 chunk rows): SYNTHETIC references, generated from a
  seed — 5,000 Python modules under ``src/app/`` (20 chunks each, 10 definitions each
  named from a vocabulary where a few names are defined in dozens of files), a header
  chunk importing 8 project modules and 2 libraries, other chunks calling 6 names (two
  thirds from the imported modules, the rest from the whole vocabulary, some defined
  nowhere). Shaped like a large Python project, but invented.
- ``real``: a source tree chunked as ingestion does (``read_document``: references and
  symbols from the real tree-sitter extraction); default: Django 5.2.8's sdist cached by
  ``bench/ingest_django.py`` under ``bench/.work`` (chunking it takes a minute or two).

Prints rows, files, references, edges, the share of import and call references that
became edges, and (median of ``--rounds``) CPU seconds to build, to save and to load,
and the size of graph.npz. Nothing is asserted. Usage::

    nice -n 10 .venv/bin/python bench/graph_build.py [--rows 100000] [--real [DIR]]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from projectqa.server.chunking import language_of, read_document
from projectqa.server.index.graph import GRAPH_FILE, FileGraph
from projectqa.server.index.symbols import SymbolIndex
from projectqa.server.models import Symbol
from projectqa.server.sources import DocumentKind, SourceDocument

_DJANGO = Path(__file__).parent / ".work" / "django-5.2.8"
CONNECTOR = "con_bench"
Row = tuple[str, str, tuple[str, ...]]


# ------------------------------------------------------------------ corpora
def synthetic(rows: int, seed: int = 7) -> tuple[list[Row], list[Symbol]]:
    """``rows`` chunk rows of invented Python modules (see the module doc)."""
    rng = random.Random(seed)
    files = max(rows // 20, 1)
    vocabulary = [f"name{i}" for i in range(files * 4)]
    # Zipf-like: name i is picked with weight 1/(i+1), so the first few are everywhere.
    weights = [1 / (i + 1) for i in range(len(vocabulary))]
    modules = [f"app.pkg{f // 100}.sub{f // 10 % 10}.mod{f % 10}" for f in range(files)]
    paths = ["src/" + module.replace(".", "/") + ".py" for module in modules]
    defined = [rng.choices(vocabulary, weights, k=10) for _ in range(files)]
    symbols = [
        _symbol(paths[f], name, f * 10 + i)
        for f in range(files)
        for i, name in enumerate(defined[f])
    ]
    out: list[Row] = []
    for f in range(files):
        chunks = min(20, rows - len(out))
        imported = rng.sample(range(files), min(8, files))
        header = [f"import:{modules[i]}.{defined[i][0]}" for i in imported]
        out.append((CONNECTOR, paths[f], tuple(sorted([*header, "import:os", "import:typing"]))))
        for _ in range(chunks - 1):
            calls = [f"call:{rng.choice(defined[rng.choice(imported)])}" for _ in range(4)]
            calls += [f"call:{name}" for name in rng.choices(vocabulary, weights, k=2)]
            out.append((CONNECTOR, paths[f], tuple(sorted(set(calls)))))
        if len(out) >= rows:
            break
    return out, symbols


def real(root: Path) -> tuple[list[Row], list[Symbol]]:
    """Every code file under ``root`` chunked as ingestion does."""
    rows: list[Row] = []
    symbols: list[Symbol] = []
    for file in sorted(root.rglob("*")):
        path = file.relative_to(root).as_posix()
        if not file.is_file() or language_of(path) in ("", "markdown", "rst", "text"):
            continue
        text = file.read_text("utf-8", "replace")
        doc = SourceDocument(path, DocumentKind.FILE, text, path=path)
        drafts, definitions = read_document(doc)
        rows += [(CONNECTOR, path, draft.references) for draft in drafts]
        symbols += [_symbol(path, d.name, len(symbols)) for d in definitions]
    return rows, symbols


def _symbol(path: str, name: str, ordinal: int) -> Symbol:
    return Symbol(
        id=f"doc:{ordinal:08d}",
        project_id="prj_bench",
        connector_id=CONNECTOR,
        document_id="doc",
        path=path,
        name=name,
        kind="function",
        start_line=1,
        end_line=2,
        language="python",
    )


# ---------------------------------------------------------------- measuring
def cpu(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()  # CPU time: the machine is shared, wall time is noise
    result = action()
    return time.process_time() - started, result


def measure(name: str, rows: Sequence[Row], symbols: list[Symbol], rounds: int) -> None:
    index = SymbolIndex.build(symbols)
    builds, saves, loads = [], [], []
    for _ in range(rounds):
        seconds, graph = cpu(lambda: FileGraph.build(rows, index))
        builds.append(seconds)
        with tempfile.TemporaryDirectory() as name_:
            directory = Path(name_)
            saves.append(cpu(lambda: graph.save(directory))[0])  # noqa: B023 (called at once)
            size = (directory / GRAPH_FILE).stat().st_size
            loads.append(cpu(lambda: FileGraph.load(directory))[0])  # noqa: B023
    report(name, rows, graph, size)
    median = statistics.median
    print(f"  build {median(builds):.2f} s CPU, save {median(saves) * 1000:.0f} ms, "
          f"load {median(loads) * 1000:.0f} ms (median of {rounds})")  # fmt: skip


def report(name: str, rows: Sequence[Row], graph: FileGraph, size: int) -> None:
    references = [ref for _, _, refs in rows for ref in refs]
    imports = sum(ref.startswith("import:") for ref in references)
    row_edges = [graph.row_edges(row) for row in range(len(rows))]
    linked = {kind: sum(any(e.kind == kind for e in edges) for edges in row_edges)
              for kind in ("import", "call")}  # fmt: skip
    files = {path for _, path, _ in rows}
    file_edges = sum(len(graph.out_edges(path)) for path in files)
    print(f"{name}: {len(rows)} rows, {len(files)} files, {len(references)} references "
          f"({imports} imports, {len(references) - imports} calls)")  # fmt: skip
    print(f"  rows with an import edge: {linked['import']}, with a call edge: {linked['call']}; "
          f"file edges: {file_edges}; graph.npz {size / 1e6:.1f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic rows (0: none)")
    parser.add_argument("--real", type=Path, nargs="?", const=_DJANGO, help="a source tree")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rows:
        measure("synthetic", *synthetic(args.rows), args.rounds)
    if args.real:
        seconds, (rows, symbols) = cpu(lambda: real(args.real))
        print(f"chunked {args.real} in {seconds:.0f} s CPU")
        measure(f"real {args.real.name}", rows, symbols, args.rounds)


if __name__ == "__main__":
    main()
