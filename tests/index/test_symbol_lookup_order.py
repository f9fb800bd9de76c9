"""SymbolIndex.lookup and find order their matches with one array sort over codes, and
match one-part queries without the module clause: they must answer exactly what the
dict merge and Python sort key of before did (kept here as the reference), on many
random indexes and identifier lists."""

from __future__ import annotations

import random

import pytest

from projectqa.server.index.symbols import (
    _KIND_RANK,
    _OTHER_KIND,
    SymbolHit,
    SymbolIndex,
    normalize,
)
from projectqa.server.models import Symbol

SHORTS = [
    "get",
    "Get",
    "GET",
    "request",
    "Request",
    "handle",
    "__init__",
    "send",
    "σς",
    "ΑΣ",
    "Σ",
    "\u03c3",  # small sigma: "a.Σ".lower() ends in a final sigma, "Σ".lower() does not
]
OWNERS = ["", "Session", "session", "Cookie.Jar", "api", "Adapter", "ΑΣ"]
FOLDERS = ["requests", "pkg/sub", "src/requests", "a", "tests", "pkg/deep/er"]
FILES = ["sessions.py", "api.py", "__init__.py", "mod.rs", "index.ts", "x.cpp", "Session.java"]
KINDS = ["function", "method", "class", "impl", "module", "type", "struct", "variable"]


def random_index(rng: random.Random, size: int) -> SymbolIndex:
    symbols = []
    for ordinal in range(size):
        path = f"{rng.choice(FOLDERS)}/{rng.choice(FILES)}"
        owner = rng.choice(OWNERS)
        name = f"{owner}.{rng.choice(SHORTS)}" if owner else rng.choice(SHORTS)
        symbols.append(
            Symbol(
                id=f"s{ordinal}",
                project_id="p",
                connector_id="c",
                document_id=f"doc_{path}",
                path=path,
                name=name,
                kind=rng.choice(KINDS),
                start_line=ordinal + 1,
                end_line=ordinal + 3,
                language="python",
            )
        )
    return SymbolIndex.build(symbols)


def random_identifiers(rng: random.Random) -> list[str]:
    forms = [
        lambda: rng.choice(SHORTS),
        lambda: f"{rng.choice(OWNERS[1:])}.{rng.choice(SHORTS)}",
        lambda: f"{rng.choice(FOLDERS).replace('/', '.')}.{rng.choice(SHORTS)}",
        lambda: f"requests.sessions.Session.{rng.choice(SHORTS)}",
        lambda: f"`{rng.choice(SHORTS).upper()}()`",
        lambda: f"{rng.choice(OWNERS[1:])}::{rng.choice(SHORTS)}",
        lambda: "",
    ]
    return [rng.choice(forms)() for _ in range(rng.randint(0, 8))]


def reference_lookup(index: SymbolIndex, identifiers: list[str], limit: int) -> list[SymbolHit]:
    """``lookup`` as it was: best (score, specificity) per row, then a full sort."""
    best: dict[int, tuple[float, int]] = {}
    for identifier in dict.fromkeys(identifiers):
        query = normalize(identifier)
        found = reference_exact(index, query) if query else {}
        for row, score in found.items():
            rank = (score, -len(found))
            if row not in best or rank > best[row]:
                best[row] = rank
    return reference_hits(index, best, limit)


def reference_exact(index: SymbolIndex, query: str) -> dict[int, float]:
    folded = query.lower()
    found: dict[int, float] = {}
    for row in index._rows_of(folded.rpartition(".")[2]):
        name = index._names[row]
        if index._matches(row, name, query):
            found[int(row)] = 1.0
        elif index._matches(row, name.lower(), folded, fold=True):
            found[int(row)] = 0.9
    return found


def reference_hits(
    index: SymbolIndex, ranked: dict[int, tuple[float, int]], limit: int
) -> list[SymbolHit]:
    def order(row: int) -> tuple[float, int, int, int, str, int]:
        score, specificity = ranked[row]
        path = index._columns["path"].value(row)
        kind_rank = _KIND_RANK.get(index._columns["kind"].value(row), _OTHER_KIND)
        return (-score, -specificity, kind_rank, len(path), path, row)

    best = sorted(ranked, key=order)[: max(limit, 0)]
    return [reference_hit(index, row, ranked[row][0]) for row in best]


def reference_hit(index: SymbolIndex, row: int, score: float) -> SymbolHit:
    value = {name: column.value(row) for name, column in index._columns.items()}
    return SymbolHit(
        connector_id=value["connector"],
        document_id=value["document"],
        path=value["path"],
        name=index._names[row],
        kind=value["kind"],
        start_line=int(index._start[row]),
        end_line=int(index._end[row]),
        language=value["language"],
        score=round(score, 4),
    )


@pytest.mark.parametrize("seed", range(30))
def test_lookup_answers_what_the_full_sort_answered(seed: int) -> None:
    rng = random.Random(seed)
    index = random_index(rng, rng.randint(1, 500))
    for _ in range(20):
        identifiers = random_identifiers(rng)
        limit = rng.choice([0, 1, 5, 50, 1000])
        assert index.lookup(identifiers, limit=limit) == reference_lookup(index, identifiers, limit)


@pytest.mark.parametrize("seed", range(10))
def test_exact_find_answers_what_the_full_sort_answered(seed: int) -> None:
    rng = random.Random(seed)
    index = random_index(rng, rng.randint(1, 300))
    for identifier in random_identifiers(rng) + list(SHORTS):
        query = normalize(identifier)
        if not query:
            continue
        ranked = {row: (score, 0) for row, score in reference_exact(index, query).items()}
        expected = reference_hits(index, ranked, 20)
        assert index.find(identifier, exact=True) == expected
