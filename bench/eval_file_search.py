"""File-level answers measured: acc@1/5/10 and MRR of file rankings, per set.

Compares, on the same questions and the same served indexes:

- ``chunks``: today's view — the distinct files of the passage ranking (100 hits,
  3 per document) in order of first appearance (as ``files_from_chunks`` of
  ``projectqa.client.evaluation`` reads it);
- ``max``, ``decay_sum``, ``reciprocal_rank``: server/retrieval/files.py's
  aggregations of the per-file-capped passage pool (the server's
  ``SEARCH_GROUP_BY_FILE``), each with its default parameters, plus any variant
  given with ``--variant "aggregation=decay_sum decay=0.3"``.

Sets: the bug-localization sets (``bench/eval/localization/*.json``; each
repository extracted at the set's snapshot with ``git archive`` from the mirror
``bench/localization_set.py`` names, ingested with the ``local`` connector into
``bench/.work/file_search/data``) and the flask/requests sets of
``bench/eval_retrieval.py`` at file level (a question's files are the paths of
its expected ranges; needs that script's data directory).

``--data DIR`` evaluates the localization sets in a data directory another script
ingested (``bench/history_signal.py``'s, with the git connector and the commit
history), and ``--history W …`` adds rankings of decay_sum plus
``history.history_prior`` at weight W — the file search as the lead would wire it.

Everything but ingestion runs in-process on the Store and indexes, hybrid mode,
one passage search per question and ranking (the pool is shared by the
aggregations).

Usage::

    python bench/eval_file_search.py [--sets click httpx flask] [--variant SPEC …] [--json]
                                     [--data DIR --history 0.25 0.5 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eval_localization import mirror_of, snapshot_of
from eval_retrieval import ensure_project, in_process_server, ingest

from projectqa.client import Client
from projectqa.client.evaluation import first_file_rank
from projectqa.server.config import load_settings
from projectqa.server.embedding import EmbeddingSetup, shared_embedder
from projectqa.server.index import IndexManager
from projectqa.server.retrieval.citations import citation_of
from projectqa.server.retrieval.files import (
    Aggregation,
    FilePrior,
    FileWeights,
    file_query,
    pool_query,
    rank_files,
)
from projectqa.server.retrieval.history import history_prior
from projectqa.server.retrieval.ops import CitedHit, CitedResult
from projectqa.server.retrieval.query import SearchFilter, SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.store.factory import open_store

BENCH = Path(__file__).resolve().parent
LOCALIZATION = BENCH / "eval" / "localization"
WORK = BENCH / ".work" / "file_search"
EVAL_DATA = BENCH / ".work" / "eval" / "data-onnx-int8"  # eval_retrieval.py's default
KS = (1, 5, 10)
CHUNK_VIEW_HITS = 100

Ranker = Callable[[str], list[str]]  # question -> distinct paths, best first
Question = tuple[str, frozenset[str]]  # text, the files that answer it


def load_questions(path: Path) -> list[Question]:
    """A set's questions with their files: ``expected`` paths (lines, if any, ignored)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(q["question"], frozenset(e["path"] for e in q["expected"])) for q in data["questions"]]


def variant(spec: str) -> FileWeights:
    changes: dict[str, object] = {}
    for item in spec.split():
        name, value = item.split("=")
        current = getattr(FileWeights(), name)
        changes[name] = Aggregation(value) if name == "aggregation" else type(current)(value)
    return dataclasses.replace(FileWeights(), **changes)


# ------------------------------------------------------------------ sources
def snapshot_folder(name: str, snapshot: str) -> Path:
    """The repository of set ``name`` at ``snapshot``, extracted once from its mirror."""
    folder = WORK / "src" / f"{name}-{snapshot[:10]}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "--git-dir", str(mirror_of(name)), "archive", snapshot],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def ingest_localization(names: Sequence[str]) -> None:
    folders = {name: snapshot_folder(name, snapshot_of(name)) for name in names}
    with (
        in_process_server(WORK / "data", WORK / "src") as (address, token),
        Client(address, token) as qa,
    ):
        for name, folder in folders.items():
            ensure_project(qa, name, folder)
            ingest(qa, name)


# ------------------------------------------------------------------ rankers
class InProcess:
    """A Store, its indexes and a Searcher, opened on a data directory (no server)."""

    def __init__(self, data_dir: Path) -> None:
        settings = load_settings(data_dir=data_dir)
        self.store = open_store(settings)
        embedder = shared_embedder(EmbeddingSetup.from_settings(settings))
        self.searcher = Searcher(
            self.store, IndexManager(self.store, settings.index_dir, embedder.name), embedder
        )

    def project_id(self, slug: str) -> str:
        project = self.store.get_project_by_slug(slug)
        assert project is not None, f"project {slug!r} is not ingested in this data directory"
        return project.id


def chunk_view(search: Searcher, project_id: str) -> Ranker:
    def files(text: str) -> list[str]:
        only_files = SearchFilter(kinds=("file",))  # history records are no answer
        query = SearchQuery.checked(text, top_k=CHUNK_VIEW_HITS, search_filter=only_files)
        return list(dict.fromkeys(h.chunk.path for h in search.search(project_id, query).hits))

    return files


def pooled(
    qa: InProcess,
    slug: str,
    variants: dict[str, FileWeights],
    history_weights: Sequence[float] = (),
) -> dict[str, Ranker]:
    """One ranker per variant (variants with the same pool share each question's pool),
    and one per history weight: the default aggregation plus ``history_prior`` at it."""
    project = qa.store.get_project_by_slug(slug)
    assert project is not None
    cache: dict[tuple[str, int, int], CitedResult] = {}
    history: dict[str, FilePrior] = {}

    def pool(text: str, weights: FileWeights) -> CitedResult:
        key = (text, weights.pool, weights.pool_per_file)
        if key not in cache:
            query = pool_query(file_query(SearchQuery.checked(text)), weights)
            result = qa.searcher.search(project.id, query)
            hits = [CitedHit(h, citation_of(h.chunk)) for h in result.hits]
            cache[key] = CitedResult(project, result, hits)
        return cache[key]

    def ranker(weights: FileWeights) -> Ranker:
        return lambda text: [f.path for f in rank_files(pool(text, weights).hits, weights)]

    def with_history(weight: float) -> Ranker:
        def files(text: str) -> list[str]:
            searched = pool(text, FileWeights())
            if text not in history:
                history[text] = history_prior(qa.store, 1.0)(searched, SearchQuery.checked(text))
            prior = FilePrior(history[text].scores, weight)
            return [f.path for f in rank_files(searched.hits, FileWeights(), [prior])]

        return files

    rankers = {name: ranker(weights) for name, weights in variants.items()}
    return rankers | {f"decay_sum + history {w:g}": with_history(w) for w in history_weights}


# ------------------------------------------------------------------ scoring
def score(ranker: Ranker, questions: Sequence[Question]) -> dict[str, float]:
    hits = {k: 0 for k in KS}
    reciprocal = 0.0
    for text, wanted in questions:
        ranked = ranker(text)
        rank = first_file_rank(ranked, wanted)
        for k in KS:
            hits[k] += 0 < rank <= k
        reciprocal += 1 / rank if 0 < rank <= 10 else 0.0
    n = len(questions)
    return {**{f"acc@{k}": hits[k] / n for k in KS}, "mrr@10": reciprocal / n, "questions": n}


def evaluate_set(
    qa: InProcess,
    slug: str,
    questions: Sequence[Question],
    variants: dict[str, FileWeights],
    history_weights: Sequence[float] = (),
) -> dict[str, dict[str, float]]:
    project_id = qa.project_id(slug)
    rankers = {
        "chunks": chunk_view(qa.searcher, project_id),
        **pooled(qa, slug, variants, history_weights),
    }
    return {name: score(ranker, questions) for name, ranker in rankers.items()}


def pooled_rows(
    results: dict[str, dict[str, dict[str, float]]], names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Question-weighted means over ``names``' sets."""
    rows: dict[str, dict[str, float]] = {}
    total = sum(results[n]["chunks"]["questions"] for n in names)
    for ranker in results[names[0]]:
        rows[ranker] = {
            metric: sum(results[n][ranker][metric] * results[n][ranker]["questions"] for n in names)
            / total
            for metric in ("acc@1", "acc@5", "acc@10", "mrr@10")
        } | {"questions": total}
    return rows


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'ranking':24} {'acc@1':>6} {'acc@5':>6} {'acc@10':>6} {'mrr@10':>6}  n")
    for name, m in rows.items():
        print(
            f"  {name:24} {m['acc@1']:6.3f} {m['acc@5']:6.3f} {m['acc@10']:6.3f} "
            f"{m['mrr@10']:6.3f}  {int(m['questions'])}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    localization = sorted(p.stem for p in LOCALIZATION.glob("*.json"))
    parser.add_argument("--sets", nargs="*", default=[*localization, "flask", "requests"])
    parser.add_argument("--variant", action="append", default=[], help='e.g. "decay=0.3"')
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="the localization sets' data directory, ingested already (e.g. with the git "
        "connector and its history, by bench/history_signal.py); implies --skip-ingest",
    )
    parser.add_argument(
        "--history",
        type=float,
        nargs="*",
        default=[],
        help="weights of history.history_prior to add to decay_sum (needs history records)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    variants = {a.value: FileWeights(aggregation=a) for a in Aggregation}
    variants |= {spec: variant(spec) for spec in args.variant}
    local = [s for s in args.sets if s in localization]
    if local and not (args.skip_ingest or args.data):
        ingest_localization(local)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for data_dir, names in (
        (args.data or WORK / "data", local),
        (EVAL_DATA, [s for s in args.sets if s not in localization]),
    ):
        if not names:
            continue
        qa = InProcess(data_dir)
        for name in names:
            path = (
                LOCALIZATION / f"{name}.json" if name in local else BENCH / "eval" / f"{name}.json"
            )
            results[name] = evaluate_set(qa, name, load_questions(path), variants, args.history)
            print(f"  {name} done", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, rows in results.items():
        print_table(name, rows)
    if local:
        print_table("localization sets pooled", pooled_rows(results, local))


if __name__ == "__main__":
    main()
