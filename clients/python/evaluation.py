"""Retrieval evaluation: question files, relevance by line overlap, recall@k and MRR.

A question file (``bench/eval/*.json``) is ``{"name", "sdist", "questions": [{"id",
"question", "style", "expected": [{"path", "start_line", "end_line"}, …]}, …]}``.
A hit is relevant to an expected range when its path equals the range's and
its lines overlap it. For one question:

- recall@k = (expected ranges hit by any of the top k) / (expected ranges);
- reciprocal rank = 1 / rank of the first relevant hit within the top ``depth``
  (10 by default), 0 when there is none.

A set's figures are means over its questions. Everything here is a pure
function of hits and questions except :func:`client_search`, the adapter that
makes a :class:`~projectqa.client.Client` the ``search`` function of
:func:`evaluate`; any other ranker (an in-process searcher with other weights)
plugs in the same way. Evaluation is synchronous: with an
:class:`~projectqa.client.AsyncClient`, await ``search`` yourself and score
:func:`hit_ranges` of each response with :func:`score_question`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

from projectqa.client.retrieval import search_mode

if TYPE_CHECKING:
    from projectqa.client.client import Client
    from projectqa.v1 import retrieval_pb2

MODES = ("dense", "keyword", "hybrid")
RECALL_KS = (1, 5, 10)
MRR_DEPTH = 10
ALL_STYLES = "all"


class QuestionFileError(ValueError):
    """A question file that cannot be read or does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class LineRange:
    """Lines ``start_line``-``end_line`` (1-based, inclusive) of ``path``."""

    path: str
    start_line: int
    end_line: int

    def overlaps(self, other: LineRange) -> bool:
        """Same path and at least one line in common."""
        return (
            self.path == other.path
            and self.start_line <= other.end_line
            and other.start_line <= self.end_line
        )


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    style: str
    expected: tuple[LineRange, ...]


@dataclass(frozen=True, slots=True)
class QuestionSet:
    name: str
    questions: tuple[Question, ...]
    sdist: str = ""


# ``search(question, mode, top_k)`` → the hits' line ranges, best first.
SearchFunction = Callable[[str, str, int], Sequence[LineRange]]


@dataclass(frozen=True, slots=True)
class QuestionScore:
    """How one question fared in one mode."""

    question_id: str
    style: str
    recall: Mapping[int, float]
    reciprocal_rank: float
    first_rank: int  # rank of the first relevant hit; 0 when none was returned

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.question_id,
            "style": self.style,
            "first_rank": self.first_rank,
            **{f"recall@{k}": value for k, value in self.recall.items()},
            "reciprocal_rank": self.reciprocal_rank,
        }


@dataclass(frozen=True, slots=True)
class Metrics:
    """Means over ``questions`` questions."""

    questions: int
    recall: Mapping[int, float] = field(default_factory=dict)
    mrr: float = 0.0

    def to_dict(self, mrr_depth: int = MRR_DEPTH) -> dict[str, Any]:
        recalls = {f"recall@{k}": round(value, 4) for k, value in self.recall.items()}
        return {"questions": self.questions, **recalls, f"mrr@{mrr_depth}": round(self.mrr, 4)}


# -------------------------------------------------------------- question files


def _range(item: Any, where: str) -> LineRange:
    try:
        found = LineRange(str(item["path"]), int(item["start_line"]), int(item["end_line"]))
    except (KeyError, TypeError, ValueError):
        raise QuestionFileError(f"{where}: needs path, start_line and end_line") from None
    if found.start_line < 1 or found.end_line < found.start_line:
        raise QuestionFileError(f"{where}: lines {found.start_line}-{found.end_line} are no range")
    return found


def _question(item: Any, position: int) -> Question:
    if not isinstance(item, dict) or not str(item.get("question", "")).strip():
        raise QuestionFileError(f"questions[{position}]: needs a non-empty 'question'")
    question_id = str(item.get("id") or f"q{position + 1}")
    expected = item.get("expected")
    if not isinstance(expected, list) or not expected:
        raise QuestionFileError(f"question {question_id}: needs a non-empty 'expected' list")
    where = f"question {question_id} expected"
    ranges = tuple(_range(e, f"{where}[{i}]") for i, e in enumerate(expected))
    return Question(question_id, str(item["question"]), str(item.get("style") or "other"), ranges)


def parse_question_set(data: Any, default_name: str = "questions") -> QuestionSet:
    """A question set from the decoded JSON of a question file."""
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise QuestionFileError("expected an object with a 'questions' list")
    questions = tuple(_question(item, i) for i, item in enumerate(data["questions"]))
    if not questions:
        raise QuestionFileError("the 'questions' list is empty")
    return QuestionSet(str(data.get("name") or default_name), questions, str(data.get("sdist", "")))


def load_question_set(path: str | Path) -> QuestionSet:
    """Reads and checks a question file; QuestionFileError says what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuestionFileError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise QuestionFileError(f"{path} is not valid JSON: {error}") from None
    return parse_question_set(data, path.stem)


# --------------------------------------------------------------------- metrics


def ranges_found(hits: Sequence[LineRange], expected: Sequence[LineRange], k: int) -> int:
    """How many expected ranges any of the top ``k`` hits overlaps."""
    top = hits[:k]
    return sum(1 for wanted in expected if any(hit.overlaps(wanted) for hit in top))


def recall_at(hits: Sequence[LineRange], expected: Sequence[LineRange], k: int) -> float:
    """Share of the expected ranges found in the top ``k`` hits."""
    if not expected:
        return 0.0
    return ranges_found(hits, expected, k) / len(expected)


def first_relevant_rank(hits: Sequence[LineRange], expected: Sequence[LineRange]) -> int:
    """1-based rank of the first hit overlapping any expected range; 0 if none does."""
    for rank, hit in enumerate(hits, start=1):
        if any(hit.overlaps(wanted) for wanted in expected):
            return rank
    return 0


def reciprocal_rank(
    hits: Sequence[LineRange], expected: Sequence[LineRange], depth: int = MRR_DEPTH
) -> float:
    """1 / rank of the first relevant hit within the top ``depth``; 0 when there is none."""
    rank = first_relevant_rank(hits[:depth], expected)
    return 1.0 / rank if rank else 0.0


def recall_ks(top_k: int) -> tuple[int, ...]:
    """The cut-offs reported for ``top_k`` hits: 1, 5, 10 up to ``top_k``, and ``top_k``."""
    return tuple(sorted({k for k in RECALL_KS if k <= top_k} | {top_k}))


def mrr_depth(top_k: int) -> int:
    return min(MRR_DEPTH, top_k)


def score_question(
    question: Question, hits: Sequence[LineRange], ks: Iterable[int], depth: int = MRR_DEPTH
) -> QuestionScore:
    return QuestionScore(
        question.id,
        question.style,
        {k: recall_at(hits, question.expected, k) for k in ks},
        reciprocal_rank(hits, question.expected, depth),
        first_relevant_rank(hits, question.expected),
    )


def summarize(scores: Sequence[QuestionScore]) -> Metrics:
    """Means of the question scores (all of them score the same cut-offs)."""
    if not scores:
        return Metrics(0)
    ks = list(scores[0].recall)
    recall = {k: fmean(score.recall[k] for score in scores) for k in ks}
    return Metrics(len(scores), recall, fmean(score.reciprocal_rank for score in scores))


def by_style(scores: Sequence[QuestionScore]) -> dict[str, Metrics]:
    """Metrics per question style, styles in alphabetical order."""
    styles = sorted({score.style for score in scores})
    return {style: summarize([s for s in scores if s.style == style]) for style in styles}


# ------------------------------------------------------------------ evaluation


def evaluate(
    search: SearchFunction, questions: Sequence[Question], mode: str, top_k: int = 10
) -> list[QuestionScore]:
    """Asks every question in ``mode`` and scores the ``top_k`` hits."""
    ks, depth = recall_ks(top_k), mrr_depth(top_k)
    return [
        score_question(question, search(question.text, mode, top_k), ks, depth)
        for question in questions
    ]


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One line of an evaluation table: a set (or "all"), a mode and a style (or "all")."""

    set_name: str
    mode: str
    style: str
    metrics: Metrics

    def to_dict(self, depth: int = MRR_DEPTH) -> dict[str, Any]:
        head = {"set": self.set_name, "mode": self.mode, "style": self.style}
        return {**head, **self.metrics.to_dict(depth)}


def report_rows(
    set_name: str, scores_by_mode: Mapping[str, Sequence[QuestionScore]], styles: bool = False
) -> list[ReportRow]:
    """A row per mode over every question, then (with ``styles``) a row per mode and style."""
    rows = [ReportRow(set_name, m, ALL_STYLES, summarize(s)) for m, s in scores_by_mode.items()]
    if styles:
        for mode, scores in scores_by_mode.items():
            rows += [ReportRow(set_name, mode, style, m) for style, m in by_style(scores).items()]
    return rows


def hit_ranges(response: retrieval_pb2.SearchResponse) -> list[LineRange]:
    """The citations of a SearchResponse as line ranges, best first."""
    return [
        LineRange(hit.citation.path, hit.citation.start_line, hit.citation.end_line)
        for hit in response.hits
    ]


def client_search(client: Client, project: str, **options: Any) -> SearchFunction:
    """A SearchFunction asking ``project`` through RetrievalService.Search (sync client only).

    ``options`` go to :meth:`Client.search` as they are (filters,
    ``max_per_document``).
    """

    def search(question: str, mode: str, top_k: int) -> list[LineRange]:
        mode_number = search_mode(mode)
        response = client.search(project, question, mode=mode_number, top_k=top_k, **options)
        return hit_ranges(response)

    return search


__all__ = [
    "ALL_STYLES",
    "MODES",
    "LineRange",
    "Metrics",
    "Question",
    "QuestionFileError",
    "QuestionScore",
    "QuestionSet",
    "ReportRow",
    "SearchFunction",
    "by_style",
    "client_search",
    "evaluate",
    "first_relevant_rank",
    "hit_ranges",
    "load_question_set",
    "mrr_depth",
    "parse_question_set",
    "recall_at",
    "recall_ks",
    "reciprocal_rank",
    "report_rows",
    "score_question",
    "summarize",
]
