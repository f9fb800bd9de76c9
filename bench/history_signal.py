"""The history signal on the localization sets (issue 16, item 3): acc@1/5 of the files
past similar commits changed, alone and fused with Search's own file ranking.

For each set of ``bench/eval/localization`` (built by ``bench/localization_set.py``):

1. the repository's history up to the set's snapshot, checked out at it
   (``eval_localization.clone_of``, under this script's own work folder
   ``bench/.work/history_signal``): no fix the questions ask about is in it, neither
   as files nor as commits;
2. a real server in this process (``eval_retrieval.in_process_server``, int8 ONNX
   embedder) with a ``git`` connector on the clone, so the project holds the files
   and the records of up to 10,000 commits before the snapshot;
3. per question (its first 2,000 characters for Search, which refuses longer ones
   before issue 16; the whole of it for the history signal):

   - ``search``: files by first appearance among Search's first 100 hybrid hits;
   - ``files only``: the same with the filter ``kinds: [file]``, i.e. without the commit
     records competing for the 100 hits (Search as it ranked before them);
   - ``history``: :func:`projectqa.server.retrieval.history.similar_change_scores`
     over the served index generation, files by score;
   - ``fused w``: each file scores ``K / (K + rank in search)`` (0 if absent; K = 5)
     plus ``w`` times its history score, for a few weights ``w``;
   - ``rerank w``: the same, but history only reorders the files Search found (as a
     file search prior, ``history.history_prior``, does);
   - ``files+h w``: ``fused w`` over ``files only`` (a file search sees files alone).

Prints acc@1, acc@5 and MRR@10 per set and over all questions, with all files and with
test files left out of every ranking. The weights are not tuned on a held-out part:
read the spread across them, not the best one. Usage::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python bench/history_signal.py [--sets click fd]
        [--full]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import fmean

from eval_localization import QUESTIONS, SNAPSHOT_BRANCH, clone_of
from eval_retrieval import ensure_project, in_process_server, ingest

from projectqa.client import Client, ClientError
from projectqa.client.evaluation import (
    FileSearchFunction,
    Question,
    client_search,
    files_from_chunks,
    first_file_rank,
    load_question_set,
)
from projectqa.server.config import Settings
from projectqa.server.embedding import DEFAULT_MODEL, embedder_name
from projectqa.server.index.project import ProjectIndex
from projectqa.server.ingestion import index_manager
from projectqa.server.retrieval.history import similar_change_scores
from projectqa.server.store.sqlite import SqliteStore

WORK = Path(__file__).resolve().parent / ".work" / "history_signal"
EMBEDDER = embedder_name(DEFAULT_MODEL, "onnx-int8")  # in_process_server's
SEARCH_CHARS = 2000
K = 5.0
WEIGHTS = (0.25, 0.5, 1.0, 2.0)
TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)(test_[^/]*|[^/]*_test|conftest)\.py$")
Ranking = Callable[[Question], list[str]]


def fused(search: list[str], history: dict[str, float], weight: float) -> list[str]:
    """Files by ``K / (K + rank in search) + weight * history score`` (ties: search order)."""
    score = {path: K / (K + rank) for rank, path in enumerate(search)}
    for path, value in history.items():
        score[path] = score.get(path, 0.0) + weight * value
    order = {path: rank for rank, path in enumerate(search)}
    return sorted(score, key=lambda p: (-score[p], order.get(p, len(order)), p))


class SetRun:
    """The rankings of one set's questions, computed once."""

    def __init__(self, qa: Client, store: SqliteStore, index: ProjectIndex, slug: str) -> None:
        self.search_files = files_from_chunks(client_search(qa, slug))
        self.file_chunks = files_from_chunks(client_search(qa, slug, kinds=["file"]))
        self.store, self.index = store, index

    def rankings(self, question: Question) -> dict[str, list[str]]:
        search = _asked(self.search_files, question.text[:SEARCH_CHARS])
        files_only = _asked(self.file_chunks, question.text[:SEARCH_CHARS])
        history = similar_change_scores(self.index, self.store, question.text).scores
        ranked = {
            "search": search,
            "files only": files_only,
            "history": sorted(history, key=lambda p: (-history[p], p)),
        }
        for weight in WEIGHTS:
            ranked[f"fused {weight:g}"] = fused(search, history, weight)
        for weight in WEIGHTS:  # as a file search prior: no file of its own
            ranked[f"rerank {weight:g}"] = fused(search, _within(history, search), weight)
        for weight in WEIGHTS:  # the file search ranks files only: fused with that
            ranked[f"files+h {weight:g}"] = fused(files_only, history, weight)
        return ranked


def _within(history: dict[str, float], search: list[str]) -> dict[str, float]:
    found = set(search)
    return {path: score for path, score in history.items() if path in found}


def _asked(files: FileSearchFunction, text: str) -> list[str]:
    try:
        return list(files(text, "hybrid", 100))
    except ClientError:  # a question Search refuses counts as a miss
        return []


def metrics(ranks: Sequence[int]) -> str:
    def at(k: int) -> float:
        return fmean(1.0 if 0 < r <= k else 0.0 for r in ranks)

    mrr = fmean(1.0 / r if 0 < r <= 10 else 0.0 for r in ranks)
    return f"acc@1 {at(1):.3f}  acc@5 {at(5):.3f}  MRR@10 {mrr:.3f}"


def evaluate(sets: Sequence[str], full: bool) -> None:
    data = WORK / "data"
    data.mkdir(parents=True, exist_ok=True)
    (WORK / "repos").mkdir(parents=True, exist_ok=True)
    ranks: dict[str, dict[str, dict[str, list[int]]]] = {}  # variant -> set -> ranking -> ranks
    with (
        in_process_server(data, WORK / "repos", plugins=("git",)) as (address, token),
        Client(address, token) as qa,
    ):
        settings = Settings(data_dir=data)
        store = SqliteStore(settings.sqlite_path).open()
        for name in sets:
            question_set = load_question_set(QUESTIONS / f"{name}.json")
            clone = clone_of(name, WORK)
            config = {"url": str(clone), "branch": SNAPSHOT_BRANCH}
            ensure_project(qa, name, clone, "git", config)
            ingest(qa, name, mode="full" if full else "incremental")
            project = store.get_project_by_slug(name)
            assert project is not None
            index = index_manager(settings, store, EMBEDDER).serving(project.id)
            kinds = index.table["kind"]
            commits = sum(1 for code in kinds.codes if kinds.values[code] == "commit")
            print(f"{name}: {len(question_set.questions)} questions, {commits} commit chunks")
            run = SetRun(qa, store, index, name)
            for question in question_set.questions:
                expected = question.files
                for variant, keep in (("all files", _all), ("tests excluded", _not_test)):
                    for ranking, files in run.rankings(question).items():
                        rank = first_file_rank([f for f in files if keep(f)], expected)
                        by_set = ranks.setdefault(variant, {}).setdefault(name, {})
                        by_set.setdefault(ranking, []).append(rank)
        store.close()
    report(ranks)


def _all(path: str) -> bool:
    return True


def _not_test(path: str) -> bool:
    return not TEST_FILE.search(path)


def report(ranks: dict[str, dict[str, dict[str, list[int]]]]) -> None:
    for variant, by_set in ranks.items():
        print(f"\n== {variant}")
        rankings = list(next(iter(by_set.values())))
        for name, by_ranking in by_set.items():
            print(f"-- {name} ({len(by_ranking['search'])} questions)")
            for ranking in rankings:
                print(f"   {ranking:12} {metrics(by_ranking[ranking])}")
        print(f"-- all sets ({sum(len(b['search']) for b in by_set.values())} questions)")
        for ranking in rankings:
            pooled = [r for b in by_set.values() for r in b[ranking]]
            print(f"   {ranking:12} {metrics(pooled)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    available = sorted(p.stem for p in QUESTIONS.glob("*.json"))
    parser.add_argument("--sets", nargs="+", default=available, choices=available)
    parser.add_argument("--full", action="store_true", help="full ingestion runs")
    args = parser.parse_args(argv)
    if not args.sets:
        sys.exit(f"no localization sets in {QUESTIONS}")
    evaluate(args.sets, args.full)


if __name__ == "__main__":
    main()
