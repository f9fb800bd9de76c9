"""The symbol index: a project's definitions found by name, exactly or fuzzily.

Built from ``Store.list_symbols`` with the other index files of a generation::

    symbols.json   qualified names, and the distinct values of each text column
    symbols.npz    one small integer code per symbol and column, first and last lines

Text columns are stored once per distinct value plus a code per row (a project of
100k symbols has a few thousand paths), names as one list. In memory, symbols are
grouped by their short name, case-folded (``request`` for ``Session.request``): an
exact lookup is one dict lookup and a check of that group's names, never a scan.

Exact matching: the qualified name equals the query or ends with it on a part
boundary (``request`` and ``Session.request`` both find ``Session.request``), or the
query is the name behind a module path its file matches
(``requests.sessions.Session.request`` finds ``Session.request`` of
``requests/sessions.py``). Case-sensitive matches score 1.0, case-insensitive ones
0.9. Fuzzy matches (typos) score below 0.9.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from rapidfuzz import fuzz, process

from ..models import Symbol
from .table import Column, group_rows, load_columns, save_columns

SYMBOL_NAMES = "symbols.json"
SYMBOL_ARRAYS = "symbols.npz"
FORMAT = 1
COLUMNS = ("connector", "document", "path", "kind", "language")

EXACT = 1.0
EXACT_IGNORING_CASE = 0.9
FUZZY_MAX = 0.89  # the best fuzzy score: below any exact match
FUZZY_CUTOFF = 80  # rapidfuzz ratio (0-100) a fuzzy match needs
_FUZZY_GROUPS = 50  # short names a fuzzy search looks into

# Definitions before containers of definitions; any other kind after these.
_KIND_RANK = {
    **dict.fromkeys(["class", "struct", "interface", "trait", "enum"], 0),
    **dict.fromkeys(["function", "method"], 0),
    "type": 1,
    "impl": 2,
    "module": 3,
}
_OTHER_KIND = 4
# Files that stand for their directory in a module path.
PACKAGE_FILES = frozenset({"__init__", "index", "mod"})
_SEPARATORS = re.compile(r"::|->|#")
_CALL = re.compile(r"\(.*\)$")


@dataclass(frozen=True, slots=True)
class SymbolHit:
    """A definition that matched, with its lines and how well (1.0: exact)."""

    connector_id: str
    document_id: str
    path: str
    name: str  # qualified: ``Session.request``
    kind: str
    start_line: int  # 1-based, doc comments included
    end_line: int  # inclusive
    language: str
    score: float


def normalize(name: str) -> str:
    """A name as written in code or prose, in the index's spelling.

    ``a::b::C``, ``C#m``, ``C->m`` and ``Session.request()`` become ``a.b.C``, ``C.m``,
    ``C.m`` and ``Session.request``; quotes and backticks around it are dropped.
    """
    name = _CALL.sub("", name.strip().strip("`'\""))
    name = _SEPARATORS.sub(".", name)
    return ".".join(part for part in name.split(".") if part)


class SymbolIndex:
    """Exact and fuzzy search over one generation of a project's symbols."""

    def __init__(
        self,
        names: list[str],
        columns: dict[str, Column],
        start_line: np.ndarray,
        end_line: np.ndarray,
    ) -> None:
        self._names = names
        self._columns = columns
        self._start = start_line
        self._end = end_line
        self._module_parts: dict[int, tuple[str, ...]] = {}  # by path code, filled on use
        self._order_keys: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # group -> its names' last parts, and which names fold onto the group's key on a
        # part boundary: one-part queries are matched on these (filled on use)
        self._last_parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._group_of: dict[str, int] = {}  # folded short name -> group
        groups: list[int] = []
        for name in names:
            short = name.rpartition(".")[2].lower()
            groups.append(self._group_of.setdefault(short, len(self._group_of)))
        self._shorts = list(self._group_of)  # group -> folded short name (fuzzy choices)
        # rows grouped by short name, in row order
        self._order, self._bounds = group_rows(
            np.asarray(groups, dtype=np.int64), len(self._shorts)
        )

    @classmethod
    def build(cls, symbols: Iterable[Symbol]) -> SymbolIndex:
        names: list[str] = []
        columns = {name: Column() for name in COLUMNS}
        starts: list[int] = []
        ends: list[int] = []
        for symbol in symbols:
            names.append(symbol.name)
            columns["connector"].append(symbol.connector_id)
            columns["document"].append(symbol.document_id)
            columns["path"].append(symbol.path)
            columns["kind"].append(symbol.kind)
            columns["language"].append(symbol.language)
            starts.append(symbol.start_line)
            ends.append(symbol.end_line)
        frozen = {name: column.freeze() for name, column in columns.items()}
        return cls(names, frozen, _lines(starts), _lines(ends))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        values = save_columns(directory / SYMBOL_ARRAYS, self._columns, self._start, self._end)
        data = {"format": FORMAT, "names": self._names, "values": values}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        (directory / SYMBOL_NAMES).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> SymbolIndex:
        """The index saved in ``directory``; raises if a file is missing or they disagree."""
        data = json.loads((directory / SYMBOL_NAMES).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{directory}: symbol index format {data.get('format')}")
        names, values = data["names"], data["values"]
        with np.load(directory / SYMBOL_ARRAYS) as arrays:
            columns = load_columns(arrays, values, COLUMNS)
            start, end = _lines(arrays["start"]), _lines(arrays["end"])
        sizes = {len(names), len(start), len(end), *(len(c.codes) for c in columns.values())}
        if len(sizes) != 1:
            raise ValueError(f"{directory}: symbol index columns differ in length")
        return cls(names, columns, start, end)

    def __len__(self) -> int:
        return len(self._names)

    def files_defining(self, short_name: str) -> list[tuple[str, str]]:
        """(connector id, path) of each file defining a name whose short name is
        ``short_name`` ignoring case (``request`` finds ``Session.request``), once each."""
        rows = self._rows_of(short_name.lower())
        connectors, paths = self._columns["connector"], self._columns["path"]
        return list(dict.fromkeys((connectors.value(r), paths.value(r)) for r in rows))

    # ----------------------------------------------------------- search
    def find(
        self, name: str, *, exact: bool = False, kinds: Collection[str] = (), limit: int = 20
    ) -> list[SymbolHit]:
        """Definitions named ``name``, best first: exact matches, then (unless ``exact``)
        fuzzy ones; only of ``kinds`` when given. Ties go to classes and functions over
        impls and modules, then to shorter paths."""
        query = normalize(name)
        if not query or limit <= 0:
            return []
        scores = self._exact(query)
        if not exact:
            fuzzy = self._fuzzy(query)
            scores.update({row: s for row, s in fuzzy.items() if row not in scores})
        if kinds:
            scores = {row: s for row, s in scores.items() if self._kind(row) in kinds}
        rows = np.fromiter(scores, dtype=np.int64, count=len(scores))
        values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        return self._hits(rows, values, np.zeros(len(rows), dtype=np.int64), limit)

    def lookup(self, identifiers: Iterable[str], *, limit: int = 50) -> list[SymbolHit]:
        """Exact matches of several identifiers (``Session.request``, ``get_user_name``…)
        at once, best first; among equal scores, an identifier naming few definitions
        ranks its matches above one naming many. Dict lookups only: fast on every query."""
        rows: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        specificity: list[np.ndarray] = []
        for identifier in dict.fromkeys(identifiers):
            query = normalize(identifier)
            if query:
                found, score = self._exact_rows(query)
                rows.append(found)
                scores.append(score)
                specificity.append(np.full(len(found), -len(found), dtype=np.int64))
        if not rows:
            return []
        # Each row once, at its best (score, specificity) over the identifiers naming it.
        row_of = np.concatenate(rows)
        score_of = np.concatenate(scores)
        specificity_of = np.concatenate(specificity)
        order = np.lexsort((specificity_of, score_of, row_of))
        last = np.ones(len(order), dtype=bool)  # the best of each row's run comes last
        last[:-1] = row_of[order][1:] != row_of[order][:-1]
        best = order[last]
        return self._hits(row_of[best], score_of[best], specificity_of[best], limit)

    # ---------------------------------------------------------- matching
    def _exact(self, query: str) -> dict[int, float]:
        """Rows whose name matches ``query`` exactly, with their score."""
        rows, scores = self._exact_rows(query)
        return dict(zip(rows.tolist(), scores.tolist(), strict=True))

    def _exact_rows(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """``_exact`` as arrays: the matching rows (in row order) and their scores."""
        folded = query.lower()
        group = self._group_of.get(folded.rpartition(".")[2])
        if group is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows = self._group_rows(group).astype(np.int64)
        if "." in query:
            scores = np.zeros(len(rows))
            for i, row in enumerate(rows.tolist()):
                name = self._names[row]
                if self._matches(row, name, query):
                    scores[i] = EXACT
                elif self._matches(row, name.lower(), folded, fold=True):
                    scores[i] = EXACT_IGNORING_CASE
        else:
            # A query of one part matches a name equal to it or ending in ".query" (the
            # module clause of ``_matches`` needs a dot in the query): a name whose last
            # part is the query, else, ignoring case, one folding onto the group's key.
            last_parts, folds = self._last_parts_of(group)
            exact = last_parts == query
            scores = np.where(exact, EXACT, np.where(folds, EXACT_IGNORING_CASE, 0.0))
        matched = scores > 0
        return rows[matched], scores[matched]

    def _last_parts_of(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """The last dotted part of each name of a group (as an object array), and whether
        the name, case-folded, is the group's key or ends in "." + key: once per group."""
        found = self._last_parts.get(group)
        if found is None:
            key, suffix = self._shorts[group], "." + self._shorts[group]
            names = [self._names[row] for row in self._group_rows(group).tolist()]
            last_parts = np.empty(len(names), dtype=object)
            last_parts[:] = [name.rpartition(".")[2] for name in names]
            folds = np.array(
                [n == key or n.endswith(suffix) for n in map(str.lower, names)], dtype=bool
            )
            found = self._last_parts[group] = (last_parts, folds)
        return found

    def _matches(self, row: int, name: str, query: str, *, fold: bool = False) -> bool:
        if name == query or name.endswith("." + query):
            return True
        if not query.endswith("." + name):
            return False
        module = query[: -len(name) - 1].split(".")
        return _contains(self._module_of(row, fold), module)

    def _fuzzy(self, query: str) -> dict[int, float]:
        """Rows whose name is close to ``query`` (typos), scored below exact matches."""
        parts = query.lower().split(".")
        matches = process.extract(
            parts[-1],
            self._shorts,
            scorer=fuzz.ratio,
            score_cutoff=FUZZY_CUTOFF - 5,  # the qualified comparison may still reach it
            limit=_FUZZY_GROUPS,
        )
        found: dict[int, float] = {}
        for _short, short_score, group in matches:
            for row in self._group_rows(group):
                score = self._fuzzy_score(int(row), parts, short_score)
                if score >= FUZZY_CUTOFF:
                    found[int(row)] = FUZZY_MAX * score / 100
        return found

    def _fuzzy_score(self, row: int, parts: list[str], short_score: float) -> float:
        if len(parts) == 1:
            return short_score
        name_parts = self._names[row].lower().split(".")
        depth = min(len(parts), len(name_parts))
        # Query parts before the name's own must be the module path of its file.
        if depth < len(parts) and not _contains(self._module_of(row, True), parts[:-depth]):
            return 0.0
        return fuzz.ratio(".".join(parts[-depth:]), ".".join(name_parts[-depth:]))

    # ------------------------------------------------------------- rows
    def _rows_of(self, folded_short: str) -> np.ndarray:
        group = self._group_of.get(folded_short)
        return self._group_rows(group) if group is not None else self._order[:0]

    def _group_rows(self, group: int) -> np.ndarray:
        return self._order[self._bounds[group] : self._bounds[group + 1]]

    def _kind(self, row: int) -> str:
        return self._columns["kind"].value(row)

    def _module_of(self, row: int, fold: bool) -> tuple[str, ...]:
        """The module path of a row's file: ``requests/sessions.py`` -> requests, sessions."""
        code = int(self._columns["path"].codes[row])
        parts = self._module_parts.get(code)
        if parts is None:
            path = PurePosixPath(self._columns["path"].values[code])
            parts = path.with_suffix("").parts if path.suffix else path.parts
            if parts and parts[-1] in PACKAGE_FILES:
                parts = parts[:-1]
            self._module_parts[code] = parts
        return tuple(part.lower() for part in parts) if fold else parts

    def _hits(
        self, rows: np.ndarray, scores: np.ndarray, specificity: np.ndarray, limit: int
    ) -> list[SymbolHit]:
        """The ``limit`` best of ``rows`` (each once) by score, then specificity, kind
        (definitions first), path length, path and row: one array sort over codes."""
        if limit <= 0 or not len(rows):
            return []
        kind_rank, path_length, path_rank = self._orderings()
        kinds = np.asarray(self._columns["kind"].codes)[rows]
        paths = np.asarray(self._columns["path"].codes)[rows]
        keys = (rows, path_rank[paths], path_length[paths], kind_rank[kinds], -specificity, -scores)
        best = np.lexsort(keys)[:limit]
        chosen = rows[best]
        value = {
            name: [column.values[code] for code in np.asarray(column.codes)[chosen].tolist()]
            for name, column in self._columns.items()
        }
        return [
            SymbolHit(
                connector_id=value["connector"][i],
                document_id=value["document"][i],
                path=value["path"][i],
                name=self._names[row],
                kind=value["kind"][i],
                start_line=start,
                end_line=end,
                language=value["language"][i],
                score=round(score, 4),
            )
            for i, (row, start, end, score) in enumerate(
                zip(
                    chosen.tolist(),
                    self._start[chosen].tolist(),
                    self._end[chosen].tolist(),
                    scores[best].tolist(),
                    strict=True,
                )
            )
        ]

    def _orderings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per kind code its rank (``_KIND_RANK``), per path code its length and its place
        in the sorted paths: ``_hits``'s tie-breaks as numbers, once per index."""
        if self._order_keys is None:
            kinds, paths = self._columns["kind"].values, self._columns["path"].values
            rank = np.empty(len(paths), dtype=np.int64)
            rank[sorted(range(len(paths)), key=paths.__getitem__)] = np.arange(len(paths))
            self._order_keys = (
                np.array([_KIND_RANK.get(k, _OTHER_KIND) for k in kinds], dtype=np.int64),
                np.array([len(p) for p in paths], dtype=np.int64),
                rank,
            )
        return self._order_keys


def _lines(values: Iterable[int] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int32)


def _contains(parts: tuple[str, ...], run: list[str]) -> bool:
    """Whether ``run`` occurs in ``parts`` as consecutive items."""
    width = len(run)
    return any(list(parts[i : i + width]) == run for i in range(len(parts) - width + 1))
