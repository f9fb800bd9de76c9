"""Retrieval evaluation: the metric functions on hand-made hits, and ``projectqa eval``
on a three-question file against the ingested shop of ``test_search_tools``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projectqa.client.evaluation import (
    LineRange,
    Question,
    QuestionFileError,
    by_style,
    evaluate,
    first_relevant_rank,
    load_question_set,
    parse_question_set,
    recall_at,
    recall_ks,
    reciprocal_rank,
    report_rows,
    summarize,
)

from .conftest import Cli
from .test_search_tools import server, shop  # noqa: F401  (module fixtures, reused)

A = LineRange("src/a.py", 10, 20)
B = LineRange("src/b.py", 100, 120)
C = LineRange("docs/c.md", 1, 5)


REVERSED = {"path": "a", "start_line": 5, "end_line": 2}


def hit(path: str, start: int, end: int) -> LineRange:
    return LineRange(path, start, end)


# ------------------------------------------------------------ relevance


@pytest.mark.parametrize(
    ("candidate", "overlaps"),
    [
        (hit("src/a.py", 20, 30), True),  # shares the last line
        (hit("src/a.py", 1, 10), True),  # shares the first line
        (hit("src/a.py", 12, 14), True),  # inside
        (hit("src/a.py", 1, 100), True),  # around
        (hit("src/a.py", 21, 30), False),  # just after
        (hit("src/a.py", 1, 9), False),  # just before
        (hit("src/b.py", 10, 20), False),  # other path, same lines
        (hit("a.py", 10, 20), False),  # paths compare whole
        (hit("", 0, 0), False),  # a record's citation
    ],
)
def test_overlap(candidate: LineRange, overlaps: bool) -> None:
    assert candidate.overlaps(A) is overlaps
    assert A.overlaps(candidate) is overlaps


def test_recall_counts_expected_ranges_not_hits() -> None:
    hits = [hit("x.py", 1, 2), hit("src/a.py", 15, 16), hit("src/a.py", 18, 19), B]
    expected = [A, B, C]
    assert recall_at(hits, expected, 1) == 0
    assert recall_at(hits, expected, 2) == pytest.approx(1 / 3)
    assert recall_at(hits, expected, 3) == pytest.approx(1 / 3)  # A twice still counts once
    assert recall_at(hits, expected, 4) == pytest.approx(2 / 3)
    assert recall_at(hits, expected, 10) == pytest.approx(2 / 3)
    assert recall_at([], expected, 10) == 0


def test_reciprocal_rank_is_cut_at_the_depth() -> None:
    misses = [hit("x.py", 1, 2)] * 10
    assert first_relevant_rank([*misses[:2], A], [A, B]) == 3
    assert reciprocal_rank([*misses[:2], A], [A, B]) == pytest.approx(1 / 3)
    assert reciprocal_rank([B, A], [A, B]) == 1.0
    assert reciprocal_rank([*misses, A], [A]) == 0.0  # rank 11 is past the top 10
    assert reciprocal_rank([*misses, A], [A], depth=11) == pytest.approx(1 / 11)
    assert first_relevant_rank(misses, [A]) == 0


def test_recall_ks_follow_top_k() -> None:
    assert recall_ks(10) == (1, 5, 10)
    assert recall_ks(20) == (1, 5, 10, 20)
    assert recall_ks(3) == (1, 3)


def test_evaluate_summarises_per_mode_and_style() -> None:
    questions = [
        Question("q1", "where is a?", "howto", (A,)),
        Question("q2", "where are a and b?", "howto", (A, B)),
        Question("q3", "where is c?", "bug", (C,)),
    ]
    answers = {
        "where is a?": [A],  # rank 1
        "where are a and b?": [hit("x.py", 1, 1), hit("x.py", 2, 2), B, *[hit("y", 1, 1)] * 5, A],
        "where is c?": [hit("x.py", 1, 1)] * 10,  # never
    }
    asked: list[tuple[str, int]] = []

    def search(question: str, mode: str, top_k: int) -> list[LineRange]:
        asked.append((mode, top_k))
        return answers[question][:top_k]

    scores = evaluate(search, questions, "dense", top_k=10)
    assert asked == [("dense", 10)] * 3
    assert [s.first_rank for s in scores] == [1, 3, 0]
    assert scores[1].recall == {1: 0.0, 5: 0.5, 10: 1.0}
    metrics = summarize(scores)
    assert metrics.questions == 3
    assert metrics.recall[1] == pytest.approx(1 / 3)
    assert metrics.recall[5] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics.recall[10] == pytest.approx((1 + 1 + 0) / 3)
    assert metrics.mrr == pytest.approx((1 + 1 / 3 + 0) / 3)
    styles = by_style(scores)
    assert list(styles) == ["bug", "howto"]
    assert styles["bug"].mrr == 0 and styles["howto"].recall[10] == 1.0
    rows = report_rows("set", {"dense": scores}, styles=True)
    assert [(r.mode, r.style, r.metrics.questions) for r in rows] == [
        ("dense", "all", 3),
        ("dense", "bug", 1),
        ("dense", "howto", 2),
    ]
    assert rows[0].to_dict()["mrr@10"] == pytest.approx(0.4444, abs=1e-4)


def test_summary_of_nothing() -> None:
    assert summarize([]).questions == 0


# -------------------------------------------------------- question files


def test_the_bench_question_files_load() -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "eval"
    for path in sorted(bench.glob("*.json")):
        loaded = load_question_set(path)
        assert loaded.questions and loaded.sdist
        assert all(q.expected and q.style for q in loaded.questions)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "'questions' list"),
        ({"questions": []}, "empty"),
        ({"questions": [{"question": " "}]}, "non-empty 'question'"),
        ({"questions": [{"id": "x", "question": "q"}]}, "question x: needs a non-empty"),
        ({"questions": [{"question": "q", "expected": [{"path": "a", "start_line": 3}]}]},
         "both start_line and end_line"),
        ({"questions": [{"question": "q", "expected": [REVERSED]}]}, "no range"),
    ],
)  # fmt: skip
def test_bad_question_files_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(QuestionFileError, match=message):
        parse_question_set(data)


# ------------------------------------------------------------ projectqa eval


def write_questions(path: Path) -> Path:
    """Three questions about the shop whose figures are known in every mode.

    The shop is so small that its top hit for each question is the file the
    question is about; the second question expects a file that does not exist
    and the third one such a file besides the right one.
    """
    questions = [
        {"id": "cart", "question": "how is the total price of the cart computed?",
         "style": "howto", "expected": [{"path": "shop/cart.py", "start_line": 1, "end_line": 99}]},
        {"id": "gone", "question": "how are refunds paid back?", "style": "bug",
         "expected": [{"path": "missing.py", "start_line": 1, "end_line": 9}]},
        {"id": "card", "question": "charge a card and retry when the gateway times out",
         "style": "howto",
         "expected": [{"path": "shop/payment.py", "start_line": 1, "end_line": 99},
                      {"path": "missing.py", "start_line": 1, "end_line": 9}]},
    ]  # fmt: skip
    path.write_text(json.dumps({"name": "shop", "questions": questions}))
    return path


@pytest.mark.model
def test_eval_computes_recall_and_mrr(admin_cli: Cli, shop: str, tmp_path: Path) -> None:  # noqa: F811
    questions = write_questions(tmp_path / "shop.json")
    report = admin_cli.json("eval", shop, str(questions), "--by-style")
    assert report["set"] == "shop" and report["top_k"] == 10
    overall = [row for row in report["rows"] if row["style"] == "all"]
    assert [row["mode"] for row in overall] == ["dense", "keyword", "hybrid"]
    for row in overall:
        assert row["questions"] == 3
        assert row["recall@1"] == row["recall@5"] == row["recall@10"] == 0.5
        assert row["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)
    bug = next(r for r in report["rows"] if r["style"] == "bug" and r["mode"] == "hybrid")
    assert bug["questions"] == 1 and bug["mrr@10"] == 0
    ranks = {q["id"]: q["first_rank"] for q in report["questions"]["hybrid"]}
    assert ranks == {"cart": 1, "gone": 0, "card": 1}

    table = admin_cli.ok("eval", shop, str(questions), "--mode", "hybrid", "-k", "5").stdout
    assert "recall@1" in table and "recall@5" in table and "recall@10" not in table
    assert "MRR@5" in table
    assert "│ hybrid │         3 │    0.500 │    0.500 │ 0.667 │" in table


@pytest.mark.model
def test_eval_refuses_a_bad_question_file(admin_cli: Cli, shop: str, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text('{"questions": [{"question": "q"}]}')
    result = admin_cli("eval", shop, str(bad))
    assert result.exit_code == 2
    assert "needs a non-empty 'expected' list" in result.stderr
