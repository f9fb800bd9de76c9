"""Tune the hybrid ranker's weights in-process on the evaluation projects.

Needs the data directory ``bench/eval_retrieval.py`` leaves behind (run it once).
Opens its Store and indexes directly (no server), then scores the question sets
under each weight variant named on the command line, e.g.::

    python bench/tune_ranking.py base keyword=0.5 rrf_k=60 "definition=0.5 mention=0.1"

Each argument is a space-separated list of RankWeights overrides ("base": none).
Prints recall@1/5/10 and MRR@10 per variant (hybrid), all sets pooled.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from projectqa.client.evaluation import (
    LineRange,
    SearchFunction,
    evaluate,
    load_question_set,
    summarize,
)
from projectqa.server.config import load_settings
from projectqa.server.embedding import EmbeddingSetup, shared_embedder
from projectqa.server.index import IndexManager
from projectqa.server.retrieval.query import SearchMode, SearchQuery
from projectqa.server.retrieval.rank import RankWeights
from projectqa.server.retrieval.search import Searcher
from projectqa.server.store.factory import open_store

HERE = Path(__file__).resolve().parent
DATA = HERE / ".work" / "eval" / "data-onnx-int8"  # eval_retrieval.py's default embedder
SETS = [HERE / "eval" / "flask.json", HERE / "eval" / "requests.json"]


def variant(spec: str) -> RankWeights:
    changes = {}
    for item in spec.split():
        if item == "base":
            continue
        name, value = item.split("=")
        kind = type(getattr(RankWeights(), name))
        changes[name] = kind(value)
    return dataclasses.replace(RankWeights(), **changes)


def in_process_search(searcher: Searcher, project_id: str) -> SearchFunction:
    def search(text: str, mode: str, top_k: int) -> list[LineRange]:
        result = searcher.search(project_id, SearchQuery.checked(text, SearchMode(mode), top_k))
        return [LineRange(h.chunk.path, h.chunk.start_line, h.chunk.end_line) for h in result.hits]

    return search


def main(specs: list[str]) -> None:
    settings = load_settings(data_dir=DATA)
    store = open_store(settings)
    embedder = shared_embedder(EmbeddingSetup.from_settings(settings))
    indexes = IndexManager(store, settings.index_dir, embedder.name)
    sets = [load_question_set(path) for path in SETS]
    for spec in specs or ["base"]:
        searcher = Searcher(store, indexes, embedder, variant(spec))
        scores = []
        for question_set in sets:
            project = store.get_project_by_slug(question_set.name)
            assert project is not None, f"run bench/eval_retrieval.py first ({question_set.name})"

            search = in_process_search(searcher, project.id)
            scores += evaluate(search, question_set.questions, "hybrid", 10)
        m = summarize(scores)
        print(f"{spec:60s} {m.recall[1]:.3f} {m.recall[5]:.3f} {m.recall[10]:.3f} {m.mrr:.3f}")


if __name__ == "__main__":
    if any(arg.startswith("-") for arg in sys.argv[1:]):
        raise SystemExit(__doc__)
    main(sys.argv[1:])
