"""The fusion stage (symbol look-up, re-scoring, grouping) of two code versions, in turn.

``search_latency.py`` times whole searches, where the query embedder (~15 ms) and the
machine's load blur a change of 1-2 ms. This bench times only what the Searcher's
"fusion" lap times after the rankers ran: ``SymbolIndex.lookup`` of the question's
identifiers, building the ``Rescorer``, ``fuse``, ``Rescorer.apply`` and ``group``.
It runs them for the same bug reports with the working tree's ``rank.py`` and
``symbols.py`` and with those of ``--old`` (a git revision, loaded from ``git show``),
alternately in one process, and checks that both give identical results: the same
definitions, the same re-scored candidates (scores compared exactly) and the same
grouped ranking.

The reports are ``search_latency.py``'s (title, traceback of real frames, prose), over
its 100k-chunk store (run it once first); they are cached in
``bench/.work/search_bench/reports-<size>.json``. The rankers' candidate lists are
computed once per report with the real query embedder, outside the timing.

Usage::

    HF_HUB_OFFLINE=1 python bench/fusion_ab.py [--old 230bda4] [--chars 2000,16000]
        [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.util
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import search_latency as sl

from projectqa.server.embedding import shared_embedder
from projectqa.server.index.manager import IndexManager
from projectqa.server.retrieval import rank as new_rank
from projectqa.server.retrieval.evidence import evidence_of
from projectqa.server.retrieval.search import Searcher, keyword_boost
from projectqa.server.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent


def old_module(revision: str, path: str, name: str, package: str) -> ModuleType:
    """``path`` as it was at ``revision``, imported as ``package.name`` (relative imports
    resolve against the package, as the original's did)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader(f"{package}.{name}", loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    module.__package__ = package
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
    return module


def reports_of(size: int, chars: list[int], count: int) -> dict[int, list[str]]:
    cache = sl.BENCH / f"reports-{size}.json"
    saved = json.loads(cache.read_text()) if cache.exists() else {}
    if all(str(c) in saved for c in chars):
        return {c: saved[str(c)] for c in chars}
    sources = sl.read_sources("5.2.8")
    picked = sl.plan(sources, size, 5)
    saved.update({str(c): sl.make_reports(picked, count, c, 7) for c in chars})
    cache.write_text(json.dumps(saved))
    return {c: saved[str(c)] for c in chars}


class Prepared:
    """One report with its rankers' candidates, ready for the fusion stage."""

    def __init__(self, searcher: Searcher, index, text: str) -> None:
        wanted = searcher.weights.candidates
        vector, _ = searcher.query_vector(index.manifest.model, text)
        self.text = text
        self.evidence = evidence_of(text)
        self.dense = index.dense_rows(vector, wanted, None)
        self.keyword = index.keyword_rows(text, wanted, None, keyword_boost(self.evidence))


def fusion(rank: ModuleType, index, symbols, weights, report: Prepared, top_k: int = 10):
    """What Searcher.search does between the keyword lap and the fusion lap (hybrid)."""
    definitions = []
    if report.evidence.identifiers:
        definitions = [
            rank.Definition(s.document_id, s.start_line, s.end_line)
            for s in symbols.lookup(report.evidence.identifiers)
        ]
    candidates = rank.fuse(report.dense, report.keyword, weights, index.has_vector())
    rescorer = rank.Rescorer(index.table, report.text, report.evidence, definitions, weights)
    rescorer.apply(candidates, top_k)
    ranked = rank.group(candidates.values(), index.table, top_k, 3)
    return definitions, candidates, ranked


def outcome(result) -> tuple:
    definitions, candidates, ranked = result
    return (
        [(d.document_id, d.start_line, d.end_line) for d in definitions],
        sorted((c.row, c.dense_rank, c.keyword_rank, c.score) for c in candidates.values()),
        [(c.row, c.score) for c in ranked],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="230bda4", help="git revision to compare against")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--chars", default="2000,16000")
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile the new code instead")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    chars = [int(c) for c in args.chars.split(",") if c]
    package = "projectqa.server"
    old_rank = old_module(args.old, "server/retrieval/rank.py", "_old_rank", f"{package}.retrieval")
    old_symbols = old_module(args.old, "server/index/symbols.py", "_old_sym", f"{package}.index")
    folder = sl.BENCH / f"size-{args.size}"
    project_id = json.loads((folder / "spec.json").read_text())["project_id"]
    store = SqliteStore(folder / "store.sqlite3").open()
    indexes = IndexManager(store, folder / "indexes", shared_embedder().name)
    index = indexes.get(project_id)
    new_symbols = index.symbols
    s = new_symbols
    old_index = old_symbols.SymbolIndex(s._names, s._columns, s._start, s._end)
    searcher = Searcher(store, indexes, shared_embedder())
    weights = searcher.weights
    print(
        f"{len(index)} chunks, {len(new_symbols)} symbols; old = {args.old}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for length, texts in reports_of(args.size, chars, args.reports).items():
        prepared = [Prepared(searcher, index, t) for t in texts]
        versions = {"old": (old_rank, old_index), "new": (new_rank, new_symbols)}
        for report in prepared:  # identical results first (and warm caches)
            old, new = (outcome(fusion(r, index, y, weights, report)) for r, y in versions.values())
            if old != new:
                raise SystemExit(f"results differ for a {length}-char report:\n{report.text[:200]}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.rounds):
                for report in prepared:
                    fusion(new_rank, index, new_symbols, weights, report)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            continue
        samples: dict[str, list[float]] = {name: [] for name in versions}
        for _ in range(args.rounds):
            for report in prepared:
                for name, (r, y) in versions.items():
                    started = time.perf_counter()
                    fusion(r, index, y, weights, report)
                    samples[name].append((time.perf_counter() - started) * 1000)
        print(
            f" {length}-char reports: {len(prepared)} distinct x {args.rounds} rounds, "
            f"identical results; load average {os.getloadavg()[0]:.2f}"
        )
        for name, times in samples.items():
            print(sl.line(name, times))
    gc.collect()
    store.close()


if __name__ == "__main__":
    main()
