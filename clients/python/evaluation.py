"""Retrieval evaluation: question files, relevance by line overlap, recall@k and MRR.

A question file (``bench/eval/*.json``) is ``{"name", "sdist", "questions": [{"id",
"question", "style", "expected": [{"path", "start_line", "end_line"}, …]}, …]}``.
A hit is relevant to an expected range when its path equals the range's and
its lines overlap it. For one question:

- recall@k = (expected ranges hit by any of the top k) / (expected ranges);
- reciprocal rank = 1 / rank of the first relevant hit within the top ``depth``
  (10 by default), 0 when there is none.

**File-level questions** (bug localization, ``bench/eval/localization/*.json``)
expect files: ``"expected": [{"path"}, …]`` without lines. They are scored on
a ranking of distinct files (a :data:`FileSearchFunction`; by default the paths
of the chunk ranking in order of first appearance, :func:`files_from_chunks`;
or the server's own file ranking, :func:`client_file_search`):

- acc@k = 1 when ANY expected file is among the first k files, else 0;
- reciprocal rank = 1 / rank of the first expected file within the top ``depth``.

One question expects either ranges or files, and one set holds one kind.

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
    """``expected`` line ranges, or (a file-level question) ``files`` and no ranges."""

    id: str
    text: str
    style: str
    expected: tuple[LineRange, ...]
    files: tuple[str, ...] = ()

    @property
    def file_level(self) -> bool:
        return bool(self.files)


@dataclass(frozen=True, slots=True)
class QuestionSet:
    name: str
    questions: tuple[Question, ...]
    sdist: str = ""


# ``search(question, mode, top_k)`` → the hits' line ranges, best first.
SearchFunction = Callable[[str, str, int], Sequence[LineRange]]
# ``files(question, mode, top_k)`` → up to top_k distinct paths, best first.
FileSearchFunction = Callable[[str, str, int], Sequence[str]]
CHUNKS_FOR_FILES = 100  # chunk hits read to rank files (the server's top_k limit)
RECALL = "recall"
ACCURACY = "acc"  # file-level: any expected file within the first k


@dataclass(frozen=True, slots=True)
class QuestionScore:
    """How one question fared in one mode."""

    question_id: str
    style: str
    recall: Mapping[int, float]  # recall@k, or acc@k for a file-level question
    reciprocal_rank: float
    first_rank: int  # rank of the first relevant hit; 0 when none was returned
    metric: str = RECALL

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.question_id,
            "style": self.style,
            "first_rank": self.first_rank,
            **{f"{self.metric}@{k}": value for k, value in self.recall.items()},
            "reciprocal_rank": self.reciprocal_rank,
        }


@dataclass(frozen=True, slots=True)
class Metrics:
    """Means over ``questions`` questions."""

    questions: int
    recall: Mapping[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    metric: str = RECALL

    def to_dict(self, mrr_depth: int = MRR_DEPTH) -> dict[str, Any]:
        recalls = {f"{self.metric}@{k}": round(value, 4) for k, value in self.recall.items()}
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


def _is_file(item: Any, where: str) -> bool:
    """Whether an expected entry names a whole file (a path, no lines)."""
    if not isinstance(item, dict):
        raise QuestionFileError(f"{where}: needs an object with a path")
    lines = [key for key in ("start_line", "end_line") if key in item]
    if len(lines) == 1:
        raise QuestionFileError(f"{where}: give both start_line and end_line, or neither (a file)")
    if not lines and not (isinstance(item.get("path"), str) and item["path"].strip()):
        raise QuestionFileError(f"{where}: needs a non-empty path")
    return not lines


def _question(item: Any, position: int) -> Question:
    if not isinstance(item, dict) or not str(item.get("question", "")).strip():
        raise QuestionFileError(f"questions[{position}]: needs a non-empty 'question'")
    question_id = str(item.get("id") or f"q{position + 1}")
    expected = item.get("expected")
    if not isinstance(expected, list) or not expected:
        raise QuestionFileError(f"question {question_id}: needs a non-empty 'expected' list")
    where = f"question {question_id} expected"
    text, style = str(item["question"]), str(item.get("style") or "other")
    kinds = {_is_file(e, f"{where}[{i}]") for i, e in enumerate(expected)}
    if kinds == {True}:
        return Question(question_id, text, style, (), tuple(e["path"] for e in expected))
    if kinds == {True, False}:
        raise QuestionFileError(f"{where}: mixes files and line ranges; use one kind")
    ranges = tuple(_range(e, f"{where}[{i}]") for i, e in enumerate(expected))
    return Question(question_id, text, style, ranges)


def parse_question_set(data: Any, default_name: str = "questions") -> QuestionSet:
    """A question set from the decoded JSON of a question file."""
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise QuestionFileError("expected an object with a 'questions' list")
    questions = tuple(_question(item, i) for i, item in enumerate(data["questions"]))
    if not questions:
        raise QuestionFileError("the 'questions' list is empty")
    if len({q.file_level for q in questions}) > 1:
        raise QuestionFileError("mixes file-level and line-range questions; use one kind per set")
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


def ranked_files(hits: Sequence[LineRange]) -> list[str]:
    """The hits' paths in order of first appearance (records without a path left out)."""
    return list(dict.fromkeys(hit.path for hit in hits if hit.path))


def first_file_rank(files: Sequence[str], expected: Iterable[str]) -> int:
    """1-based rank of the first expected file in ``files``; 0 if none is there."""
    wanted = set(expected)
    return next((rank for rank, path in enumerate(files, start=1) if path in wanted), 0)


def score_file_question(
    question: Question, files: Sequence[str], ks: Iterable[int], depth: int = MRR_DEPTH
) -> QuestionScore:
    """acc@k (any expected file within the first k distinct files) and reciprocal rank."""
    files = list(dict.fromkeys(files))  # a ranker repeating a path must not push others out
    rank = first_file_rank(files, question.files)
    accuracy = {k: 1.0 if 0 < rank <= k else 0.0 for k in ks}
    reciprocal = 1.0 / rank if 0 < rank <= depth else 0.0
    return QuestionScore(question.id, question.style, accuracy, reciprocal, rank, ACCURACY)


def summarize(scores: Sequence[QuestionScore]) -> Metrics:
    """Means of the question scores (all of them score the same cut-offs and metric)."""
    if not scores:
        return Metrics(0)
    ks = list(scores[0].recall)
    recall = {k: fmean(score.recall[k] for score in scores) for k in ks}
    mrr = fmean(score.reciprocal_rank for score in scores)
    return Metrics(len(scores), recall, mrr, scores[0].metric)


def by_style(scores: Sequence[QuestionScore]) -> dict[str, Metrics]:
    """Metrics per question style, styles in alphabetical order."""
    styles = sorted({score.style for score in scores})
    return {style: summarize([s for s in scores if s.style == style]) for style in styles}


# ------------------------------------------------------------------ evaluation


def files_from_chunks(search: SearchFunction, chunks: int = CHUNKS_FOR_FILES) -> FileSearchFunction:
    """A file ranking read off the chunk ranking: ``chunks`` hits, paths by first appearance."""

    def files(question: str, mode: str, top_k: int) -> list[str]:
        return ranked_files(search(question, mode, max(chunks, top_k)))[:top_k]

    return files


def evaluate(
    search: SearchFunction,
    questions: Sequence[Question],
    mode: str,
    top_k: int = 10,
    files: FileSearchFunction | None = None,
) -> list[QuestionScore]:
    """Asks every question in ``mode`` and scores the ``top_k`` hits (or files).

    File-level questions are asked through ``files`` (default: the chunk
    ranking's paths, :func:`files_from_chunks`), others through ``search``.
    """
    ks, depth = recall_ks(top_k), mrr_depth(top_k)
    rank_files = files or files_from_chunks(search)
    return [
        score_file_question(question, rank_files(question.text, mode, top_k), ks, depth)
        if question.file_level
        else score_question(question, search(question.text, mode, top_k), ks, depth)
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


def client_file_search(client: Client, project: str, **options: Any) -> FileSearchFunction:
    """A FileSearchFunction asking the server's own file ranking (Search grouped by file).

    ``options`` go to :meth:`Client.search_files` as they are (filters,
    ``citations_per_file``).
    """

    def files(question: str, mode: str, top_k: int) -> list[str]:
        mode_number = search_mode(mode)
        response = client.search_files(project, question, mode=mode_number, top_k=top_k, **options)
        return [found.path for found in response.files]

    return files


__all__ = [
    "ALL_STYLES",
    "MODES",
    "FileSearchFunction",
    "LineRange",
    "Metrics",
    "Question",
    "QuestionFileError",
    "QuestionScore",
    "QuestionSet",
    "ReportRow",
    "SearchFunction",
    "by_style",
    "client_file_search",
    "client_search",
    "evaluate",
    "files_from_chunks",
    "first_file_rank",
    "first_relevant_rank",
    "hit_ranges",
    "load_question_set",
    "mrr_depth",
    "parse_question_set",
    "ranked_files",
    "recall_at",
    "recall_ks",
    "reciprocal_rank",
    "report_rows",
    "score_file_question",
    "score_question",
    "summarize",
]
