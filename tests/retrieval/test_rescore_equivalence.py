"""Rescorer.apply re-scores the head in array operations: it must give exactly the
scores of re-scoring one row at a time, the way it was written before (kept here as
the reference), on many random tables, questions and candidate lists."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import numpy as np
import pytest

from projectqa.server.chunking.machine_made import machine_made_path
from projectqa.server.index.table import ChunkTable
from projectqa.server.index.tokens import word_tokens
from projectqa.server.retrieval.evidence import Evidence, Mention, evidence_of
from projectqa.server.retrieval.rank import (
    Candidate,
    Definition,
    RankWeights,
    Rescorer,
    fuse,
    is_test_path,
)

from .test_rank import BASE

PATHS = [
    "src/pkg/sessions.py",
    "src/pkg/utils.py",
    "src/pkg/__init__.py",
    "src/pkg/__main__.py",
    "src/pkg/cli.py",
    "tests/test_sessions.py",
    "pkg/conftest.py",
    "bench/run_bench.py",
    "benchmarks/speed.py",
    "docs/index.md",
    "README.rst",
    "CHANGES.md",
    "HISTORY.rst",
    "vendor/six.py",
    "proto/api_pb2.py",
    "tests/data/cases.json",
    "ui/__snapshots__/App.test.js.snap",
    "go/cmd/main.go",
    "notes.txt",
    "commits/abc123",
]
SYMBOLS = [
    "",
    "Session.request",
    "Session.send",
    "default_user_agent",
    "get_default_user_agent",
    "main",
    "App.main",
    "Cart > Line > Item",
    "parse_price",
    "HTTPAdapter.build_response",
    "cookies",
    "RequestsCookieJar.set_cookie",
    "test_request_sends_cookies",
    "Installation",
]
SYMBOL_KINDS = ["function", "method", "class", "lines", "module", "record", "section"]
QUESTIONS = [
    "where is the default user agent built",
    "Session.request fails with a ValueError",
    'Traceback:\n  File "/venv/site-packages/pkg/sessions.py", line 12, in request\n'
    "ValueError: bad",
    "which tests cover cookies? test_request_sends_cookies",
    "where are the docs for installation",
    "how does the benchmark measure speed",
    "where does the program start",
    "what changed in the changelog for parse_price",
    "`HTTPAdapter.build_response` and `get_default_user_agent` in src/pkg/utils.py:5",
    "requests cookies jar set cookie",
    "what does main do in go/cmd/main.go",
    "the vendored six module breaks on import vendor/six.py",
    "tests/data/cases.json holds the wrong cases for tests",
    "",
]


def random_table(rng: random.Random, size: int) -> ChunkTable:
    chunks = []
    for row in range(size):
        path = rng.choice(PATHS)
        start = rng.randint(1, 60)
        kind = "commit" if path.startswith("commits/") else rng.choice(["file", "file", "issue"])
        language = "markdown" if path.endswith(".md") else rng.choice(["python", "rst", ""])
        chunks.append(
            replace(
                BASE,
                id=f"chk_{row}",
                document_id=f"doc_{path}",
                document_key=path,
                path=path,
                kind=kind,
                language=language,
                symbol=rng.choice(SYMBOLS),
                symbol_kind=rng.choice(SYMBOL_KINDS),
                start_line=start,
                end_line=start + rng.randint(0, 30),
            )
        )
    return ChunkTable.build(chunks)


def random_evidence(rng: random.Random, question: str) -> Evidence:
    found = evidence_of(question)
    mentions = tuple(
        Mention(rng.choice(PATHS).rsplit(".", 1)[0], rng.choice([0, 0, 5, 20]), module=m)
        for m in rng.choices([False, True], k=rng.randint(0, 2))
    )
    return Evidence(
        identifiers=found.identifiers + tuple(rng.sample(SYMBOLS[1:], rng.randint(0, 2))),
        mentions=found.mentions + mentions,
        wants_tests=rng.random() < 0.3 or found.wants_tests,
        wants_docs=rng.random() < 0.3 or found.wants_docs,
    )


def reference_score(rescorer: Rescorer, row: int, score: float) -> float:
    """The re-scoring of one row as it was written before the head was vectorised."""
    r, table = rescorer, rescorer._table
    weights = r._weights
    path = table["path"].value(row)
    spans = r._definitions.get(table["document"].value(row))
    start, end = int(table.start_line[row]), int(table.end_line[row])
    symbol = table["symbol"].value(row)
    if spans and any(start <= s_end and s_start <= end for s_start, s_end in spans):
        score += weights.definition
    elif symbol and symbol.rsplit(".", 1)[-1].lower() in r._identifiers:
        score += weights.definition / 2
    line = r._mentioned.get(path)
    if line is not None:
        score += weights.mention_line if line and start <= line <= end else weights.mention
    coverage = 0.0
    if symbol and table["symbol_kind"].value(row) not in ("lines", "module", "record"):
        name = re.sub(r"\W", "_", symbol.rsplit(".", 1)[-1].split(" > ")[-1])
        parts = [_stem(t) for t in word_tokens(name)[1:] or word_tokens(name)]
        if len(parts) >= 2:
            coverage = sum(p in r._words for p in parts) / len(parts)
    score += weights.symbol_words * coverage
    score += weights.entry_point * r._entry_points.get(row, 0.0)
    if is_test_path(path):
        steps_back = not r._evidence.wants_tests
    else:
        steps_back = not r._wants_bench and bool(
            re.search(r"(^|/)(bench|benches|benchmarks?)/", path)
        )
    if steps_back:
        score *= weights.test_factor
    reason = machine_made_path(path)
    if line is None and reason and not (reason == "data" and r._evidence.wants_tests):
        score *= weights.machine_made_factor
    if not r._evidence.wants_docs:
        changelog = re.search(
            r"(^|/)(CHANGES|CHANGELOG|HISTORY|NEWS|RELEASE[-_]?NOTES)[^/]*$", path, re.I
        )
        if changelog or table["kind"].value(row) == "commit":
            score *= weights.changelog_factor
        elif table["kind"].value(row) == "file" and table["language"].value(row) in {
            "markdown",
            "rst",
            "text",
            "",
        }:
            score *= weights.prose_factor
    return score


def reference_extra_rows(rescorer: Rescorer, allowed: np.ndarray | None) -> list[int]:
    """``extra_rows`` as it was: each named document's rows checked one at a time."""
    table, rows = rescorer._table, []
    for document_id, spans in rescorer._definitions.items():
        for row in table.rows_of("document", document_id).tolist():
            start, end = int(table.start_line[row]), int(table.end_line[row])
            if any(start <= s_end and s_start <= end for s_start, s_end in spans):
                rows.append(row)
    rows += sorted(set(rescorer._entry_points).difference(rows))
    return [r for r in rows if allowed is None or allowed[r]]


def _stem(token: str) -> str:
    return (
        token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token
    )


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_rescoring_equals_rescoring_row_by_row(seed: int) -> None:
    rng = random.Random(seed)
    table = random_table(rng, rng.randint(1, 400))
    weights = RankWeights(head=rng.choice([5, 60, 400]))
    for question in rng.sample(QUESTIONS, 5):
        evidence = random_evidence(rng, question)
        documents = sorted({table["document"].value(r) for r in range(len(table))})
        definitions = [
            Definition(rng.choice(documents), s, s + rng.randint(0, 20))
            for s in rng.choices(range(1, 80), k=rng.randint(0, 6))
        ]
        rows = list(range(len(table)))
        dense = [(r, 0.0) for r in rng.sample(rows, min(len(rows), rng.randint(0, 100)))]
        keyword = [(r, 0.0) for r in rng.sample(rows, min(len(rows), rng.randint(0, 100)))]
        allowed = None
        if rng.random() < 0.3:
            allowed = np.array([rng.random() < 0.7 for _ in rows])
        fused = fuse(dense, keyword, weights)
        rescorer = Rescorer(table, question, evidence, definitions, weights, allowed)
        expected = dict(fused_copy(fused))
        head = sorted(expected.values(), key=lambda c: -c.score)[: max(weights.head, 10)]
        head_rows = {c.row for c in head}
        extra = reference_extra_rows(rescorer, allowed)
        assert rescorer.extra_rows() == extra
        for row in extra:
            if row not in head_rows:
                head.append(expected.setdefault(row, Candidate(row)))
                head_rows.add(row)
        for candidate in head:
            candidate.score = reference_score(rescorer, candidate.row, candidate.score)
        rescorer.apply(fused, 10)
        assert as_tuples(fused) == as_tuples(expected)  # scores compared exactly


def fused_copy(fused: dict[int, Candidate]) -> dict[int, Candidate]:
    return {row: replace(c) for row, c in fused.items()}


def as_tuples(candidates: dict[int, Candidate]) -> list[tuple[int, int, int, float]]:
    return sorted((c.row, c.dense_rank, c.keyword_rank, c.score) for c in candidates.values())


def test_an_empty_head_is_left_alone() -> None:
    table = random_table(random.Random(1), 3)
    candidates: dict[int, Candidate] = {}
    Rescorer(table, "anything", Evidence(), [], RankWeights()).apply(candidates)
    assert candidates == {}
