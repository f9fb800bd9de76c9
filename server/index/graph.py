"""The file graph: which indexed files a file imports or calls into, built with each generation.

Chunks carry references found at ingestion (``ChunkDraft.references``)::

    import:<spec>   a module or file the chunk imports ("pkg.a.m", "src/lib/x", "util/str.h")
    call:<name>     the last identifier of something the chunk calls ("request", "Foo")

They are resolved here to the index's own files:

- an import spec names a file by a path SUFFIX, so ``pkg.a.m`` finds
  ``src/pkg/a/m.py`` (src/ layouts, Java's src/main/java): dotted specs try their
  longest prefix that names a file first (``pkg.a.m.f`` is the function ``f`` of
  ``pkg/a/m.py``); a package file (``__init__``, ``index``, ``mod``) stands for its
  directory; posix specs match a path with or without its extension; a Go import
  path names the ``.go`` files of the directory its tail names. A one-part spec
  (``json``) matches only at the root or under a source root (``src/``): below any
  other directory it is a library of the same name. Ties share the weight (1/n),
  after preferring files of the caller's connector and the fewest leading
  directories;
- a called name goes to the files defining it (the symbol index's groups of
  case-folded short names), 1/n each; a name defined in more than
  ``MAX_DEFINING_FILES`` files says nothing and is dropped, unless the caller's
  file imports one of them: a definition in an imported file takes the call
  (full weight), whatever the name.

Edges to the file itself are dropped; weights are summed per (file, file, kind),
and per (row, file, kind) for ``row_edges``. Saved as ``graph.npz``: three CSR
adjacency lists (rows -> files, files -> files, files <- files), each sorted
heaviest first, then by path and kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..chunking.languages import language_of
from .symbols import PACKAGE_FILES, SymbolIndex

GRAPH_FILE = "graph.npz"
FORMAT = 1
KINDS = ("call", "import")  # kind codes; alphabetical, so ties order by kind name
CALL, IMPORT = 0, 1
MAX_DEFINING_FILES = 10  # a name defined in more files than this is too common to follow
SOURCE_ROOTS = frozenset({"src", "lib", "source", "python", "app", "pkg"})
# Files that are never a module: an import spec does not resolve to them by module name.
_NOT_CODE = frozenset(
    {"", "markdown", "rst", "text", "yaml", "json", "toml", "ini", "html", "css", "sql"}
)
_NO_TARGET: tuple[list[int], int, float] = ([], 0, 0.0)
_CSRS = ("row", "out", "in")  # rows -> files, files -> files, files <- files
_PARTS = ("ptr", "node", "kind", "weight")


@dataclass(frozen=True, slots=True)
class Edge:
    """A file at the other end of an edge, what links them, and how strongly (> 0)."""

    path: str
    kind: str  # "import" | "call"
    weight: float


@dataclass(frozen=True, slots=True)
class _Adjacency:
    """A CSR adjacency list: the edges of item ``i`` are ``ptr[i]:ptr[i + 1]``."""

    ptr: np.ndarray  # int64, one more than the items
    node: np.ndarray  # int32 file id at the other end
    kind: np.ndarray  # int8 code in KINDS
    weight: np.ndarray  # float32

    def edges(self, item: int, paths: list[str], limit: int | None) -> list[Edge]:
        start, end = int(self.ptr[item]), int(self.ptr[item + 1])
        if limit is not None:
            end = min(end, start + max(limit, 0))
        return [
            Edge(paths[node], KINDS[kind], round(float(weight), 6))
            for node, kind, weight in zip(
                self.node[start:end].tolist(),
                self.kind[start:end].tolist(),
                self.weight[start:end].tolist(),
                strict=True,
            )
        ]


class FileGraph:
    """Import and call edges between a generation's files, and of each of its chunk rows."""

    def __init__(self, paths: list[str], rows: _Adjacency, out: _Adjacency, into: _Adjacency):
        self._paths = paths
        self._id_of = {path: file for file, path in enumerate(paths)}
        self._rows = rows
        self._out = out
        self._in = into

    @property
    def row_count(self) -> int:
        return len(self._rows.ptr) - 1

    def out_edges(self, path: str, limit: int | None = None) -> list[Edge]:
        """Files this file imports or calls into, heaviest first (the first ``limit``)."""
        file = self._id_of.get(path)
        return [] if file is None else self._out.edges(file, self._paths, limit)

    def in_edges(self, path: str, limit: int | None = None) -> list[Edge]:
        """Files importing or calling into this file, heaviest first (the first ``limit``:
        a module every file imports has thousands)."""
        file = self._id_of.get(path)
        return [] if file is None else self._in.edges(file, self._paths, limit)

    def row_edges(self, row: int, limit: int | None = None) -> list[Edge]:
        """Files one chunk row imports or calls into, heaviest first (the first ``limit``)."""
        if not 0 <= row < self.row_count:
            raise IndexError(f"row {row} is not in the graph ({self.row_count} rows)")
        return self._rows.edges(row, self._paths, limit)

    # ------------------------------------------------------------ build
    @classmethod
    def build(
        cls, rows: Iterable[tuple[str, str, tuple[str, ...]]], symbols: SymbolIndex | None
    ) -> FileGraph:
        """The graph of ``rows``, one (connector id, path, references) per chunk row in row
        order; calls are followed only with ``symbols``."""
        files = _Files()
        row_file: list[int] = []
        row_refs: list[tuple[str, tuple[str, ...]]] = []
        for connector, path, references in rows:
            row_file.append(files.add(connector, path))
            row_refs.append((connector, references))
        edges = _EdgeList()
        imported = _resolve_imports(files, row_file, row_refs, edges)
        if symbols is not None:
            _resolve_calls(files, symbols, row_file, row_refs, imported, edges)
        return edges.graph(files.paths, np.asarray(row_file, dtype=np.int32))

    # ------------------------------------------------------- save / load
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "meta": np.asarray([FORMAT, len(self._paths), self.row_count], dtype=np.int64),
            "paths": np.frombuffer("\0".join(self._paths).encode("utf-8"), dtype=np.uint8),
        }
        for name, adjacency in zip(_CSRS, (self._rows, self._out, self._in), strict=True):
            for part in _PARTS:
                arrays[f"{name}_{part}"] = getattr(adjacency, part)
        np.savez(directory / GRAPH_FILE, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: Path) -> FileGraph | None:
        """The graph saved in ``directory``; None if there is none (a generation built
        before graphs were); ValueError if it is damaged."""
        try:
            arrays = np.load(directory / GRAPH_FILE, allow_pickle=False)
        except FileNotFoundError:
            return None
        try:
            with arrays:
                return cls._from_arrays({name: arrays[name] for name in arrays.files})
        except (KeyError, IndexError) as exc:
            raise ValueError(f"{directory / GRAPH_FILE}: missing {exc}") from exc

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> FileGraph:
        form, file_count, row_count = (int(value) for value in arrays["meta"])
        if form != FORMAT:
            raise ValueError(f"file graph format {form}")
        text = arrays["paths"].tobytes().decode("utf-8")
        paths = text.split("\0") if file_count else []
        if len(paths) != file_count:
            raise ValueError("file graph paths do not match their count")
        lists = [_Adjacency(*(arrays[f"{name}_{part}"] for part in _PARTS)) for name in _CSRS]
        for adjacency, items in zip(lists, (row_count, file_count, file_count), strict=True):
            _check(adjacency, items, file_count)
        return cls(paths, *lists)


def _check(adjacency: _Adjacency, items: int, files: int) -> None:
    edges = len(adjacency.node)
    if len(adjacency.ptr) != items + 1 or int(adjacency.ptr[-1]) != edges:
        raise ValueError("file graph offsets do not match its edges")
    if len(adjacency.kind) != edges or len(adjacency.weight) != edges:
        raise ValueError("file graph columns differ in length")
    if edges and (int(adjacency.node.min()) < 0 or int(adjacency.node.max()) >= files):
        raise ValueError("file graph names a file it does not list")


# -------------------------------------------------------------- resolution
class _Files:
    """The graph's files (nodes), by path, with the connector each was first seen in."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.connectors: list[str] = []
        self.id_of: dict[str, int] = {}

    def add(self, connector: str, path: str) -> int:
        file = self.id_of.get(path)
        if file is None:
            file = self.id_of[path] = len(self.paths)
            self.paths.append(path)
            self.connectors.append(connector)
        return file


class _ImportResolver:
    """Import specs to files, by path suffixes of every file of the rows."""

    def __init__(self, files: _Files) -> None:
        self._files = files
        # suffix of path parts -> (file, leading parts before the suffix)
        self._by_name: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
        self._by_module: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
        self._go_dirs: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for file, path in enumerate(files.paths):
            self._add(file, PurePosixPath(path))
        self._cache: dict[tuple[str, str], list[int]] = {}

    def _add(self, file: int, path: PurePosixPath) -> None:
        parts = path.parts
        _add_suffixes(self._by_name, parts, file)
        if language_of(path.name) in _NOT_CODE:
            return
        module = (*parts[:-1], path.stem)
        _add_suffixes(self._by_module, module, file)
        if path.stem in PACKAGE_FILES and len(parts) > 1:
            _add_suffixes(self._by_module, parts[:-1], file)
        if path.suffix == ".go":
            self._go_dirs[parts[:-1]].append(file)

    def resolve(self, connector: str, spec: str) -> list[int]:
        """The files ``spec`` names for a caller of ``connector`` (the best ones, tied)."""
        key = (connector, spec)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(connector, spec)
        return found

    def _resolve(self, connector: str, spec: str) -> list[int]:
        spec = spec.strip().strip("/")
        if not spec:
            return []
        posix = tuple(part for part in spec.split("/") if part not in ("", "."))
        found = self._best(connector, self._by_name.get(posix, []))
        if found:
            return found
        if "/" in spec:
            return self._best(connector, self._by_module.get(posix, [])) or self._go(posix)
        dotted = tuple(part for part in spec.split(".") if part)
        for end in range(len(dotted), 0, -1):  # the longest prefix that names a file
            candidates = self._by_module.get(dotted[:end], [])
            if end == 1:
                candidates = [(f, lead) for f, lead in candidates if self._rooted(f, lead)]
            found = self._best(connector, candidates)
            if found:
                return found
        return []

    def _rooted(self, file: int, leading: int) -> bool:
        """A one-part module name matches a file at the root or right under a source root."""
        if leading == 0:
            return True
        return leading == 1 and self._files.paths[file].split("/", 1)[0] in SOURCE_ROOTS

    def _go(self, parts: tuple[str, ...]) -> list[int]:
        """The .go files of the directory a Go import path's tail names (its module prefix
        is not part of the repository's paths)."""
        for start in range(1, len(parts)):
            files = self._go_dirs.get(parts[start:])
            if files:
                return list(files)
        return []

    def _best(self, connector: str, candidates: list[tuple[int, int]]) -> list[int]:
        if not candidates:
            return []
        connectors = self._files.connectors

        def rank(candidate: tuple[int, int]) -> tuple[bool, int]:
            file, leading = candidate
            return (connectors[file] != connector, leading)

        best = min(map(rank, candidates))
        return [file for file, leading in candidates if rank((file, leading)) == best]


def _add_suffixes(
    table: dict[tuple[str, ...], list[tuple[int, int]]], parts: tuple[str, ...], file: int
) -> None:
    for start in range(len(parts)):
        table[parts[start:]].append((file, start))


class _EdgeList:
    """Edges as they are found: (row, file, kind, weight), self-edges already dropped."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.files: list[int] = []
        self.kinds: list[int] = []
        self.weights: list[float] = []

    def add(self, row: int, files: list[int], kind: int, weight: float) -> None:
        for file in files:
            self.rows.append(row)
            self.files.append(file)
            self.kinds.append(kind)
            self.weights.append(weight)

    def graph(self, paths: list[str], row_file: np.ndarray) -> FileGraph:
        row = np.asarray(self.rows, dtype=np.int64)
        file = np.asarray(self.files, dtype=np.int64)
        kind = np.asarray(self.kinds, dtype=np.int64)
        weight = np.asarray(self.weights, dtype=np.float64)
        order = _path_order(paths)
        files = len(paths)
        rows = _adjacency(row, file, kind, weight, len(row_file), order)
        source = row_file[row].astype(np.int64) if len(row) else row
        out = _adjacency(source, file, kind, weight, files, order)
        into = _adjacency(file, source, kind, weight, files, order)
        return FileGraph(paths, rows, out, into)


def _path_order(paths: list[str]) -> np.ndarray:
    """Each file's rank in path order (ties between equal weights go by path)."""
    rank = np.empty(len(paths), dtype=np.int64)
    rank[sorted(range(len(paths)), key=paths.__getitem__)] = np.arange(len(paths))
    return rank


def _adjacency(
    item: np.ndarray,
    node: np.ndarray,
    kind: np.ndarray,
    weight: np.ndarray,
    items: int,
    path_rank: np.ndarray,
) -> _Adjacency:
    """Edges summed per (item, node, kind), as CSR sorted heaviest first, then by path and kind."""
    if len(item):
        key = (item * max(len(path_rank), 1) + node) * len(KINDS) + kind
        unique, inverse = np.unique(key, return_inverse=True)
        weight = np.bincount(inverse, weights=weight)
        kind = unique % len(KINDS)
        node = unique // len(KINDS) % max(len(path_rank), 1)
        item = unique // len(KINDS) // max(len(path_rank), 1)
        order = np.lexsort((kind, path_rank[node], -weight, item))
        item, node, kind, weight = item[order], node[order], kind[order], weight[order]
    ptr = np.zeros(items + 1, dtype=np.int64)
    np.cumsum(np.bincount(item, minlength=items), out=ptr[1:])
    return _Adjacency(ptr, node.astype(np.int32), kind.astype(np.int8), weight.astype(np.float32))


def _resolve_imports(
    files: _Files,
    row_file: list[int],
    row_refs: list[tuple[str, tuple[str, ...]]],
    edges: _EdgeList,
) -> list[set[int]]:
    """Import edges of every row; returns the files each file imports (not itself)."""
    resolver = _ImportResolver(files)
    imported: list[set[int]] = [set() for _ in files.paths]
    for row, (connector, references) in enumerate(row_refs):
        own = row_file[row]
        for reference in references:
            kind, _, spec = reference.partition(":")
            if kind != "import":
                continue
            found = [file for file in resolver.resolve(connector, spec) if file != own]
            if found:
                edges.add(row, found, IMPORT, 1.0 / len(found))
                imported[own].update(found)
    return imported


def _resolve_calls(
    files: _Files,
    symbols: SymbolIndex,
    row_file: list[int],
    row_refs: list[tuple[str, tuple[str, ...]]],
    imported: list[set[int]],
    edges: _EdgeList,
) -> None:
    """Call edges of every row, through the files defining each called name."""
    defining: dict[tuple[str, str], _Definitions] = {}
    targets: dict[str, tuple[list[int], int, float]] = {}  # by reference, of one file
    last = -1
    for row, (connector, references) in enumerate(row_refs):
        own = row_file[row]
        if own != last:  # a file's rows come one after the other: its references repeat
            targets, last = {}, own
        for reference in references:
            found = targets.get(reference)
            if found is None:
                found = targets[reference] = _NO_TARGET
                kind, _, name = reference.partition(":")
                if kind == "call" and name:
                    key = (connector, name.lower())
                    definitions = defining.get(key)
                    if definitions is None:
                        definitions = _Definitions.of(files, symbols, connector, name)
                        defining[key] = definitions
                    found = targets[reference] = _call_targets(own, definitions, imported[own])
            if found[0]:
                edges.add(row, *found)


@dataclass(frozen=True, slots=True)
class _Definitions:
    """The files defining a called name, as a list (in symbol order) and a set."""

    files: list[int]
    members: frozenset[int]

    @classmethod
    def of(cls, files: _Files, symbols: SymbolIndex, connector: str, name: str) -> _Definitions:
        """Files defining ``name``: those of the caller's connector when there are any."""
        found = symbols.files_defining(name)
        local = [path for con, path in found if con == connector]
        ids = [files.add(connector, path) for path in (local or [path for _, path in found])]
        return cls(ids, frozenset(ids))


def _call_targets(
    own: int, defining: _Definitions, imported: set[int]
) -> tuple[list[int], int, float]:
    """The files a call from ``own`` goes to, its kind, and the weight of each."""
    # A common name has many definitions, a file few imports: look through the smaller.
    if len(imported) < len(defining.files):
        chosen = sorted(file for file in imported if file in defining.members)
    else:
        chosen = [file for file in defining.files if file in imported]
    if chosen:
        return chosen, CALL, 1.0 / len(chosen)
    if 0 < len(defining.files) <= MAX_DEFINING_FILES:
        others = [file for file in defining.files if file != own]
        return others, CALL, 1.0 / len(defining.files)
    return [], CALL, 0.0
