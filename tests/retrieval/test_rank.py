"""Fusion, re-scoring and grouping over a hand-built chunk table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from projectqa.server.index.table import ChunkTable
from projectqa.server.models import Chunk
from projectqa.server.retrieval.query import Mention, evidence_of
from projectqa.server.retrieval.rank import (
    Candidate,
    Definition,
    RankWeights,
    Rescorer,
    _resolve_mentions,
    fuse,
    group,
)

BASE = Chunk(
    id="",
    project_id="p",
    connector_id="c1",
    document_id="",
    document_key="",
    kind="file",
    path="",
    url="",
    title="",
    ordinal=0,
    start_line=1,
    end_line=10,
    symbol="",
    symbol_kind="lines",
    language="python",
    text="",
    embed_hash="",
)


def chunk(row: int, path: str, symbol: str = "", kind: str = "function", lines=(1, 10)) -> Chunk:
    return replace(
        BASE,
        id=f"chk_{row}",
        document_id=f"doc_{path}",
        document_key=path,
        path=path,
        symbol=symbol,
        symbol_kind=kind,
        start_line=lines[0],
        end_line=lines[1],
    )


TABLE = ChunkTable.build(
    [
        chunk(0, "src/pkg/sessions.py", "Session.request", "method", (10, 40)),
        chunk(1, "src/pkg/sessions.py", "Session.send", "method", (41, 80)),
        chunk(2, "src/pkg/utils.py", "default_user_agent", "function", (1, 8)),
        chunk(3, "tests/test_sessions.py", "test_request", "function", (1, 30)),
        chunk(4, "docs/index.md", "Intro", "section", (1, 20)),
        chunk(5, "src/pkg/sessions.py", "", "module", (1, 9)),
    ]
)
WEIGHTS = RankWeights()


def test_fusion_is_weighted_and_normalised() -> None:
    fused = fuse([(0, 0.9), (1, 0.8)], [(0, 5.0), (2, 4.0)], WEIGHTS)
    assert fused[0].score == pytest.approx(1.0)  # first in both lists
    assert (fused[0].dense_rank, fused[0].keyword_rank) == (1, 1)
    assert fused[1].score > fused[2].score  # dense weighs more than keyword at equal rank
    assert fuse([(3, 0.5)], [], WEIGHTS)[3].score == pytest.approx(1.0)


def test_a_named_definition_outranks_its_uses_and_joins_the_candidates() -> None:
    candidates = fuse([(1, 0.9), (3, 0.8)], [(3, 3.0), (1, 2.0)], WEIGHTS)
    evidence = evidence_of("what does Session.request do with hooks?")
    rescorer = Rescorer(
        TABLE,
        "what does Session.request do with hooks?",
        evidence,
        [Definition("doc_src/pkg/sessions.py", 10, 40)],
        WEIGHTS,
    )
    rescorer.apply(candidates)
    best = max(candidates.values(), key=lambda c: c.score)
    assert best.row == 0 and best.dense_rank == 0  # found by neither ranker


def test_question_words_spelling_a_symbol_lift_it() -> None:
    question = "where is the default user agent built?"
    candidates = {2: Candidate(2, score=0.5), 4: Candidate(4, score=0.5)}
    Rescorer(TABLE, question, evidence_of(question), [], WEIGHTS).apply(candidates)
    assert candidates[2].score > candidates[4].score


def test_test_files_step_back_unless_asked_about() -> None:
    for question, expected in (("how is a request sent?", True), ("which test covers it?", False)):
        candidates = {3: Candidate(3, score=0.5), 4: Candidate(4, score=0.5)}
        Rescorer(TABLE, question, evidence_of(question), [], WEIGHTS).apply(candidates)
        assert (candidates[3].score < candidates[4].score) is expected


def test_a_trace_line_lifts_the_chunk_holding_it() -> None:
    question = 'File "/site-packages/pkg/sessions.py", line 50, in send'
    candidates = {0: Candidate(0, score=0.5), 1: Candidate(1, score=0.5)}
    Rescorer(TABLE, question, evidence_of(question), [], WEIGHTS).apply(candidates)
    assert candidates[1].score > candidates[0].score > 0.5


def test_mentions_resolve_by_trailing_components() -> None:
    assert _resolve_mentions([Mention("/x/y/pkg/sessions.py", 3)], TABLE) == {
        "src/pkg/sessions.py": 3
    }
    module = Mention("pkg/sessions/Session/request", module=True)
    assert _resolve_mentions([module], TABLE) == {"src/pkg/sessions.py": 0}
    assert _resolve_mentions([Mention("nothing/here.py")], TABLE) == {}
    assert _resolve_mentions([Mention("other/sessions.py")], TABLE) == {"src/pkg/sessions.py": 0}


def test_grouping_caps_each_document() -> None:
    candidates = [Candidate(row, score=1.0 - row / 10) for row in (0, 1, 5, 2)]
    rows = [c.row for c in group(candidates, TABLE, top_k=10, per_document=2)]
    assert rows == [0, 1, 2]
    assert [c.row for c in group(candidates, TABLE, top_k=1, per_document=2)] == [0]


def test_rows_of_path_and_masks() -> None:
    assert list(TABLE.rows_of("path", "src/pkg/sessions.py")) == [0, 1, 5]
    assert list(TABLE.rows_of("path", "missing")) == []
    mask = TABLE["symbol_kind"].mask({"method"}.__contains__)
    assert list(np.flatnonzero(mask)) == [0, 1]


# A project with entry points among its code, and test and evaluation data.
PROGRAM = ChunkTable.build(
    [
        chunk(0, "src/app/__main__.py", "", "module", (1, 8)),
        chunk(1, "src/app/cli.py", "main", "function", (40, 52)),
        chunk(2, "src/app/config.py", "load_settings", "function", (10, 30)),
        chunk(3, "src/app/server.py", "Server.start", "method", (20, 45)),
        chunk(4, "cmd/appd/main.go", "main", "function", (5, 30)),
        chunk(5, "src/app/domain.py", "Domain.main", "property", (1, 5)),
        chunk(6, "bench/eval/questions.json", "", "lines", (1, 60)),
        chunk(7, "tests/fixtures/settings.yaml", "", "lines", (1, 20)),
        chunk(8, "src/app/settings.py", "Settings", "class", (1, 40)),
    ]
)


def rescored(table: ChunkTable, question: str, scores: dict[int, float]) -> dict[int, float]:
    candidates = {row: Candidate(row, score=score) for row, score in scores.items()}
    Rescorer(table, question, evidence_of(question), [], WEIGHTS).apply(candidates)
    return {row: c.score for row, c in candidates.items()}


def test_a_question_about_where_the_program_starts_lifts_its_entry_points() -> None:
    question = "Where does the program start, and how does it read its settings?"
    scores = rescored(PROGRAM, question, {1: 0.3, 2: 0.6, 3: 0.5, 8: 0.55})
    ranked = sorted(scores, key=lambda row: -scores[row])
    assert ranked[0] == 1  # a def main the rankers found leads
    # __main__.py and Go's func main join the candidates though neither ranker found them;
    # a property that happens to be called main is no entry point.
    assert scores[0] > 0 and scores[4] > 0 and 5 not in scores
    assert [row for row in ranked if row in (2, 3, 8)] == [2, 8, 3]  # the rest keep their order
    only_go = np.zeros(len(PROGRAM), dtype=bool)
    only_go[4] = True  # a filter (--path 'cmd/**') the joining rows must pass too
    candidates: dict[int, Candidate] = {}
    Rescorer(PROGRAM, question, evidence_of(question), [], WEIGHTS, only_go).apply(candidates)
    assert set(candidates) == {4}
    plain = rescored(PROGRAM, "how does the app read its settings?", {1: 0.3, 2: 0.6})
    assert set(plain) == {1, 2} and plain[1] == 0.3  # no intent: none joins, none rises


def test_evaluation_and_test_data_step_back_behind_code() -> None:
    question = "where are the settings read?"
    scores = rescored(PROGRAM, question, {6: 0.6, 7: 0.6, 2: 0.5})
    assert scores[2] > scores[6] and scores[2] > scores[7]
    # ... unless the question names the file, or asks for test data.
    named = rescored(PROGRAM, "what does bench/eval/questions.json hold?", {6: 0.6, 2: 0.5})
    assert named[6] > named[2]
    fixtures = rescored(PROGRAM, "which test fixtures hold settings?", {7: 0.6, 2: 0.5})
    assert fixtures[7] > fixtures[2]


def test_benchmark_code_steps_back_like_tests_unless_asked_about() -> None:
    # A benchmark drives the program: it shares the words of questions about it
    # ("start the server with its settings") without being where the program does it.
    table = ChunkTable.build(
        [
            chunk(0, "bench/overload.py", "start_server", "function"),
            chunk(1, "src/app/server.py", "serve", "function"),
            chunk(2, "benches/parse.rs", "bench_parse", "function"),
            chunk(3, "src/app/benchmarks.py", "Benchmarks", "class"),  # the product's own
        ]
    )
    scores = rescored(table, "how is the server started?", {0: 0.6, 1: 0.5, 2: 0.6, 3: 0.5})
    assert scores[1] > scores[0] and scores[1] > scores[2] and scores[3] == 0.5
    asked = rescored(table, "how does the overload benchmark start the server?", {0: 0.6, 1: 0.5})
    assert asked[0] > asked[1]
