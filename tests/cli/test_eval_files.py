"""File-level questions (bug localization): acc@k over distinct files, any expected file,
MRR; question files of either shape; and ``projectqa eval`` on such a file against the
ingested shop of ``test_search_tools``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projectqa.client.evaluation import (
    LineRange,
    Question,
    QuestionFileError,
    evaluate,
    files_from_chunks,
    load_question_set,
    parse_question_set,
    ranked_files,
    recall_ks,
    score_file_question,
    summarize,
)

from .conftest import Cli
from .test_search_tools import server, shop  # noqa: F401  (module fixtures, reused)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eval"


def bug(*files: str, question_id: str = "b") -> Question:
    return Question(question_id, "it crashes", "bugfix", (), files)


def hits(*paths: str) -> list[LineRange]:
    return [LineRange(path, n, n + 5) for n, path in enumerate(paths, start=1)]


# ---------------------------------------------------------------- scoring


def test_files_rank_by_first_appearance_without_records() -> None:
    ranked = ranked_files(hits("a.py", "a.py", "", "b.py", "a.py", "c.py"))
    assert ranked == ["a.py", "b.py", "c.py"]


def test_any_expected_file_counts_at_its_rank() -> None:
    score = score_file_question(bug("b.py", "z.py"), ["x.py", "b.py", "z.py"], (1, 5, 10))
    assert score.recall == {1: 0.0, 5: 1.0, 10: 1.0}
    assert score.first_rank == 2 and score.reciprocal_rank == 0.5
    assert score.metric == "acc" and score.to_dict()["acc@5"] == 1.0


def test_accuracy_counts_distinct_files_not_chunks() -> None:
    # The expected file is the 7th chunk but the 3rd file: found at 5, not at 1.
    chunks = hits("x.py", "x.py", "x.py", "x.py", "x.py", "y.py", "a.py")
    files = files_from_chunks(lambda question, mode, top_k: chunks)
    ranked = files("it crashes", "hybrid", 5)
    score = score_file_question(bug("a.py"), ranked, recall_ks(10))
    assert ranked == ["x.py", "y.py", "a.py"]
    assert score.recall[1] == 0.0 and score.recall[5] == 1.0 and score.first_rank == 3


def test_a_repeated_path_takes_no_rank() -> None:
    score = score_file_question(bug("a.py"), ["x.py", "x.py", "a.py"], (1, 5))
    assert score.first_rank == 2


def test_reciprocal_rank_stops_at_the_depth() -> None:
    ranked = [f"f{i}.py" for i in range(10)] + ["a.py"]
    score = score_file_question(bug("a.py"), ranked, (1, 5, 10), depth=10)
    assert score.first_rank == 11 and score.reciprocal_rank == 0.0 and score.recall[10] == 0.0


def test_evaluate_reads_files_off_the_chunk_ranking_and_summarises_accuracy() -> None:
    asked: list[tuple[str, str, int]] = []

    def search(question: str, mode: str, top_k: int) -> list[LineRange]:
        asked.append((question, mode, top_k))
        return hits("x.py", "a.py", "x.py", "b.py")

    questions = [bug("a.py", question_id="1"), bug("b.py", question_id="2"), bug("c.py")]
    scores = evaluate(search, questions, "keyword", top_k=10)
    assert [s.first_rank for s in scores] == [2, 3, 0]
    assert {top_k for _, _, top_k in asked} == {100}  # enough chunks for ten files
    metrics = summarize(scores)
    assert metrics.metric == "acc" and metrics.recall[1] == 0.0
    assert metrics.recall[5] == pytest.approx(2 / 3)
    assert metrics.mrr == pytest.approx((1 / 2 + 1 / 3) / 3)
    assert set(metrics.to_dict()) == {"questions", "acc@1", "acc@5", "acc@10", "mrr@10"}


def test_evaluate_uses_the_file_ranking_it_is_given() -> None:
    def search(question: str, mode: str, top_k: int) -> list[LineRange]:
        raise AssertionError("the chunk ranking must not be asked")

    scores = evaluate(search, [bug("a.py")], "hybrid", 10, files=lambda *_: ["a.py"])
    assert scores[0].first_rank == 1


def test_line_questions_keep_their_recall() -> None:
    question = Question("l", "q", "howto", (LineRange("a.py", 1, 9),))
    scores = evaluate(lambda *_: hits("a.py"), [question], "hybrid", 10)
    assert scores[0].metric == "recall" and scores[0].recall[1] == 1.0


# ---------------------------------------------------------------- files


def test_file_level_questions_load() -> None:
    data = {"questions": [{"id": "x", "question": "q", "expected": [{"path": "a.py"}]}]}
    loaded = parse_question_set(data)
    assert loaded.questions[0].files == ("a.py",) and loaded.questions[0].expected == ()
    assert loaded.questions[0].file_level


def test_the_localization_sets_load() -> None:
    paths = sorted((BENCH / "localization").glob("*.json"))
    assert len(paths) >= 4
    for path in paths:
        loaded = load_question_set(path)
        assert len(loaded.questions) >= 20
        assert all(q.file_level and q.text.strip() for q in loaded.questions)


RANGE = {"path": "a.py", "start_line": 1, "end_line": 2}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"questions": [{"id": "x", "question": "q", "expected": [{"path": "a.py"}, RANGE]}]},
         "question x expected: mixes files and line ranges"),
        ({"questions": [{"question": "q", "expected": [{"path": "a.py"}]},
                        {"question": "r", "expected": [RANGE]}]},
         "mixes file-level and line-range questions"),
        ({"questions": [{"id": "x", "question": "q", "expected": [{"path": " "}]}]},
         r"question x expected\[0\]: needs a non-empty path"),
        ({"questions": [{"id": "x", "question": "q", "expected": [{"file": "a.py"}]}]},
         "needs a non-empty path"),
        ({"questions": [{"id": "x", "question": "q", "expected": ["a.py"]}]},
         "needs an object with a path"),
        ({"questions": [{"id": "x", "question": "q", "expected": [{"path": "a", "end_line": 3}]}]},
         "give both start_line and end_line, or neither"),
    ],
)  # fmt: skip
def test_malformed_file_questions_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(QuestionFileError, match=message):
        parse_question_set(data)


# ------------------------------------------------------------ projectqa eval


def write_file_questions(path: Path) -> Path:
    """The shop's three questions of test_eval, expecting files: two are found first."""
    questions = [
        {"id": "cart", "question": "how is the total price of the cart computed?",
         "expected": [{"path": "shop/cart.py"}]},
        {"id": "gone", "question": "how are refunds paid back?",
         "expected": [{"path": "missing.py"}]},
        {"id": "card", "question": "charge a card and retry when the gateway times out",
         "expected": [{"path": "missing.py"}, {"path": "shop/payment.py"}]},
    ]  # fmt: skip
    path.write_text(json.dumps({"name": "shop-files", "questions": questions}))
    return path


@pytest.mark.model
@pytest.mark.parametrize("files_from", ["chunks", "server"])
def test_eval_reports_file_accuracy(
    admin_cli: Cli,
    shop: str,  # noqa: F811
    tmp_path: Path,
    files_from: str,
) -> None:
    questions = write_file_questions(tmp_path / "files.json")
    modes = ("--mode", "hybrid", "--mode", "keyword")  # the server's file ranking differs in dense
    report = admin_cli.json("eval", shop, str(questions), "--files-from", files_from, *modes)
    assert [row["mode"] for row in report["rows"]] == ["hybrid", "keyword"]
    for row in report["rows"]:
        assert row["questions"] == 3
        assert row["acc@1"] == row["acc@5"] == row["acc@10"] == pytest.approx(2 / 3, abs=1e-4)
        assert row["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)
    ranks = {q["id"]: q["first_rank"] for q in report["questions"]["hybrid"]}
    assert ranks == {"cart": 1, "gone": 0, "card": 1}

    table = admin_cli.ok("eval", shop, str(questions), "--mode", "hybrid").stdout
    assert "acc@1" in table and "acc@10" in table and "recall@" not in table
