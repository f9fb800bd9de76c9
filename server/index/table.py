"""The chunk table: what ranking and filtering need to know about each row, kept in memory.

Search filters (kind, connector, language, path glob) and the re-scoring stage
(symbols, paths, definition kinds) run on every query over up to every row, so
these facts live beside the indexes instead of in the Store. Text columns are
stored once per distinct value (a vocabulary) plus one small integer code per
row: 100k chunks of a real repository hold a few thousand distinct paths, so
the table costs a few bytes per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..models import Chunk

TABLE_ARRAYS = "table.npz"
TABLE_VALUES = "table.json"

# Categorical columns, in file order; each is a vocabulary plus a code per row.
COLUMNS = ("document", "path", "kind", "language", "connector", "symbol", "symbol_kind")


@dataclass(slots=True)
class Column:
    """A text column as distinct values and one code (an index into them) per row."""

    values: list[str] = field(default_factory=list)
    codes: list[int] | np.ndarray = field(default_factory=list)
    _code_of: dict[str, int] = field(default_factory=dict)

    def append(self, value: str) -> None:
        code = self._code_of.get(value)
        if code is None:
            code = self._code_of[value] = len(self.values)
            self.values.append(value)
        if not isinstance(self.codes, list):
            raise RuntimeError("column is frozen")
        self.codes.append(code)

    def freeze(self) -> Column:
        self.codes = np.asarray(self.codes, dtype=np.int32)
        self._code_of = {}
        return self

    def value(self, row: int) -> str:
        return self.values[int(self.codes[row])]

    def mask(self, accept: Callable[[str], bool]) -> np.ndarray:
        """Rows whose value ``accept`` takes, as a boolean array (one call per value)."""
        accepted = np.fromiter((accept(v) for v in self.values), dtype=bool, count=len(self.values))
        return accepted[self.codes] if len(self.values) else np.zeros(0, dtype=bool)


class ChunkTable:
    """Row-aligned facts about a project's chunks (row = position in the chunk list)."""

    def __init__(
        self, columns: dict[str, Column], start_line: np.ndarray, end_line: np.ndarray
    ) -> None:
        self.columns = columns
        self.start_line = start_line
        self.end_line = end_line
        self._rows_by: dict[str, dict[str, np.ndarray]] = {}
        self._paths_by_stem: dict[str, list[tuple[str, list[str]]]] | None = None

    @classmethod
    def build(cls, chunks: Iterable[Chunk]) -> ChunkTable:
        columns = {name: Column() for name in COLUMNS}
        starts: list[int] = []
        ends: list[int] = []
        for chunk in chunks:
            columns["document"].append(chunk.document_id)
            columns["path"].append(chunk.path or chunk.document_key)
            columns["kind"].append(chunk.kind)
            columns["language"].append(chunk.language)
            columns["connector"].append(chunk.connector_id)
            columns["symbol"].append(chunk.symbol)
            columns["symbol_kind"].append(chunk.symbol_kind)
            starts.append(chunk.start_line)
            ends.append(chunk.end_line)
        return cls(
            {name: column.freeze() for name, column in columns.items()},
            np.asarray(starts, dtype=np.int32),
            np.asarray(ends, dtype=np.int32),
        )

    def __len__(self) -> int:
        return len(self.start_line)

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    def rows_of(self, column: str, value: str) -> np.ndarray:
        """Rows holding ``value`` in ``column`` (sorted), from an index built on first use."""
        index = self._rows_by.get(column)
        if index is None:
            codes = np.asarray(self.columns[column].codes)  # frozen: already an array
            order, bounds = group_rows(codes, len(self.columns[column].values))
            index = self._rows_by[column] = {
                value: order[bounds[i] : bounds[i + 1]]
                for i, value in enumerate(self.columns[column].values)
            }
        return index.get(value, np.zeros(0, dtype=np.int64))

    def paths_ending_in(self, stem: str) -> list[tuple[str, list[str]]]:
        """(path, its components) of the paths whose last component, without its
        extension, is ``stem`` (``__init__`` files count as their folder)."""
        if self._paths_by_stem is None:
            found: dict[str, list[tuple[str, list[str]]]] = {}
            for path in self.columns["path"].values:
                components = path_components(path)
                if components:
                    found.setdefault(components[-1], []).append((path, components))
            self._paths_by_stem = found
        return self._paths_by_stem.get(stem, [])

    def save(self, directory: Path) -> None:
        values = save_columns(
            directory / TABLE_ARRAYS, self.columns, self.start_line, self.end_line
        )
        (directory / TABLE_VALUES).write_text(json.dumps(values), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, size: int) -> ChunkTable:
        values = json.loads((directory / TABLE_VALUES).read_text(encoding="utf-8"))
        with np.load(directory / TABLE_ARRAYS) as arrays:
            columns = load_columns(arrays, values, COLUMNS)
            table = cls(columns, arrays["start"], arrays["end"])
        if len(table) != size or any(len(c.codes) != size for c in columns.values()):
            raise ValueError(f"{directory}: chunk table does not have {size} rows")
        return table


def group_rows(codes: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ordered by code (row order within a code), and where each code's run starts:
    the rows of code ``c`` are ``order[bounds[c]:bounds[c + 1]]``."""
    order = np.argsort(codes, kind="stable")
    return order, np.searchsorted(codes[order], np.arange(groups + 1))


def save_columns(
    path: Path, columns: dict[str, Column], start: np.ndarray, end: np.ndarray
) -> dict[str, list[str]]:
    """Write the codes and line arrays to ``path`` (npz); return the vocabularies, which
    the caller stores as JSON beside them."""
    arrays = {f"{name}_codes": column.codes for name, column in columns.items()}
    # Every key ends in _codes, so none is savez's allow_pickle; mypy cannot know that.
    np.savez(path, start=start, end=end, **arrays)  # type: ignore[arg-type]
    return {name: column.values for name, column in columns.items()}


def load_columns(
    arrays: Any, values: dict[str, list[str]], names: Iterable[str]
) -> dict[str, Column]:
    """The columns ``save_columns`` wrote, from its loaded npz and the vocabularies."""
    return {name: Column(values[name], arrays[f"{name}_codes"].astype(np.int32)) for name in names}


def path_components(path: str) -> list[str]:
    """``src/pkg/models.py`` -> ``[src, pkg, models]``; ``pkg/__init__.py`` -> ``[pkg]``."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    return [*parts[:-1], stem] if stem != "__init__" else parts[:-1]
