"""Retrieval quality on real projects: recall@1/5/10 and MRR@10 per mode and question style.

What it does:

1. unpacks the source distributions the question files name (``bench/eval/*.json``,
   ``"sdist": "flask==3.1.2"``) under ``bench/.work/eval`` — downloaded with
   ``pip download --no-binary :all: --no-deps`` when missing;
2. starts a server in this process (SQLite, the ``local`` connector) on the
   persistent data directory ``bench/.work/eval/data-<embedder>``, so a second run
   reuses the indexes; ``--embedder`` picks ``onnx-int8`` (the default, as
   ``PROJECTQA_EMBEDDER``), ``torch`` (fp32) or ``both`` (one after the other, then
   recall@5 and MRR side by side);
3. creates one project per question set (slug = the set's name) with a
   ``local`` connector on the unpacked folder, if missing, and ingests it
   incrementally (a re-run reads nothing that did not change);
4. asks every question through RetrievalService.Search in each mode and prints
   a table per set, one over all sets, and the rows per question style.

Usage::

    python bench/eval_retrieval.py [--modes dense keyword hybrid] [--sets flask requests]
                                   [--top-k 10] [--embedder onnx-int8|torch|both] [--json]

Other rankers: :func:`evaluate_sets` takes ``search_for(set_name) ->
SearchFunction`` (see ``projectqa.client.evaluation``), so an in-process
searcher with other weights can be scored on the same questions;
:func:`grpc_search_for` is the one this script uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sdists import unpacked_sdist

from projectqa.client import Client, ClientError
from projectqa.client.cli.evaluate import render_report
from projectqa.client.evaluation import (
    MODES,
    QuestionScore,
    QuestionSet,
    SearchFunction,
    client_search,
    evaluate,
    load_question_set,
    mrr_depth,
    report_rows,
)
from projectqa.client.ingestion import ModeName
from projectqa.v1 import ingestion_pb2

BENCH = Path(__file__).resolve().parent
QUESTIONS = BENCH / "eval"
WORK = BENCH / ".work" / "eval"
EMBEDDERS = ("onnx-int8", "torch")
CONNECTOR = "source"
COMBINED = "all sets"

# set name -> mode -> one score per question
Scores = dict[str, dict[str, list[QuestionScore]]]


# ------------------------------------------------------------------ sources


def source_folder(question_set: QuestionSet, work: Path = WORK) -> Path:
    """The unpacked sdist of ``question_set`` ("flask==3.1.2" → work/flask-3.1.2)."""
    name, _, version = question_set.sdist.partition("==")
    return unpacked_sdist(name, version, work)


# ------------------------------------------------------------------- server


@contextmanager
def in_process_server(
    data_dir: Path,
    local_root: Path,
    embedder: str = "onnx-int8",
    plugins: Sequence[str] = ("local",),
) -> Iterator[tuple[str, str]]:
    """A real server on 127.0.0.1:<free port> in a background event loop: (address, token).

    ``plugins`` are the connector plugins it loads; ``local_root`` is the folder
    their local paths may point into."""
    from projectqa.server.app import create_server
    from projectqa.server.config import Settings

    settings = Settings(
        data_dir=data_dir,
        listen_address="127.0.0.1:0",
        plugins=list(plugins),
        local_roots=[local_root],
        log_level="WARNING",
        embedder=embedder,
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="projectqa-server", daemon=True)
    thread.start()
    server, port = asyncio.run_coroutine_threadsafe(create_server(settings), loop).result(120)
    try:
        token = (data_dir / "admin.token").read_text(encoding="utf-8").strip()
        yield f"127.0.0.1:{port}", token
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def ensure_project(
    qa: Client, slug: str, folder: Path, kind: str = "local", config: dict[str, Any] | None = None
) -> None:
    """Project ``slug`` with a connector on ``folder``, created if missing: a ``local``
    one by default, else ``kind`` with ``config``."""
    try:
        qa.get_project(slug)
    except ClientError as error:
        if error.code_name != "NOT_FOUND":
            raise
        qa.create_project(slug, slug.capitalize())
    if not any(c.name == CONNECTOR for c in qa.list_connectors(slug)):
        qa.create_connector(slug, kind, CONNECTOR, config or {"path": str(folder)})


def ingest(qa: Client, slug: str, mode: ModeName = "incremental") -> None:
    """A run of every connector of ``slug``, with a progress line (``mode`` "full":
    records written by an older connector are rewritten; unchanged files and vectors
    are kept)."""
    for run in qa.start_ingestion(slug, mode=mode):
        final = run
        for event in qa.watch_ingestion(run.id, interval=2.0):
            final = event.run
            total = f"/{event.documents_total}" if event.documents_total else ""
            print(
                f"\r  {slug}: {event.run.phase or 'queued':9} documents "
                f"{event.documents_done}{total} chunks {event.chunks_done} "
                f"({event.chunks_per_second:.0f}/s)   ",
                end="",
                file=sys.stderr,
                flush=True,
            )
        print(file=sys.stderr)
        if final.status != ingestion_pb2.INGESTION_STATUS_SUCCEEDED:
            raise SystemExit(f"ingestion of {slug} did not succeed: {final.error}")


# --------------------------------------------------------------- evaluation


def evaluate_sets(
    search_for: Callable[[str], SearchFunction],
    question_sets: Sequence[QuestionSet],
    modes: Sequence[str] = MODES,
    top_k: int = 10,
) -> Scores:
    """Scores of every question of every set in every mode."""
    scores: Scores = {}
    for question_set in question_sets:
        search = search_for(question_set.name)
        scores[question_set.name] = {
            mode: evaluate(search, question_set.questions, mode, top_k) for mode in modes
        }
    return scores


def grpc_search_for(qa: Client) -> Callable[[str], SearchFunction]:
    """Search through RetrievalService, in the project named like the set."""
    return lambda set_name: client_search(qa, set_name)


def combined(scores: Scores) -> dict[str, list[QuestionScore]]:
    """Every set's questions pooled per mode (each question weighs the same)."""
    pooled: dict[str, list[QuestionScore]] = {}
    for by_mode in scores.values():
        for mode, found in by_mode.items():
            pooled.setdefault(mode, []).extend(found)
    return pooled


def metrics_dict(scores: Scores, top_k: int = 10) -> dict[str, Any]:
    """Per set and combined: mode -> {"all": figures, style: figures, …}."""
    depth = mrr_depth(top_k)
    tables = {**scores, COMBINED: combined(scores)} if len(scores) > 1 else scores
    result: dict[str, Any] = {"top_k": top_k, "sets": {}}
    for set_name, by_mode in tables.items():
        rows = report_rows(set_name, by_mode, styles=True)
        per_mode: dict[str, dict[str, Any]] = {}
        for row in rows:
            figures = row.metrics.to_dict(depth)
            per_mode.setdefault(row.mode, {})[row.style] = figures
        result["sets"][set_name] = per_mode
    return result


def grpc_metrics(
    qa: Client,
    question_sets: Sequence[QuestionSet],
    modes: Sequence[str] = MODES,
    top_k: int = 10,
) -> dict[str, Any]:
    """The metrics dict of ``question_sets`` asked through a client (projects must exist)."""
    return metrics_dict(evaluate_sets(grpc_search_for(qa), question_sets, modes, top_k), top_k)


def print_tables(scores: Scores, top_k: int) -> None:
    for set_name, by_mode in scores.items():
        render_report(report_rows(set_name, by_mode), top_k, f"{set_name}, top {top_k}")
    pooled = combined(scores)
    if len(scores) > 1:
        render_report(report_rows(COMBINED, pooled), top_k, f"{COMBINED}, top {top_k}")
    styled = [row for row in report_rows(COMBINED, pooled, styles=True) if row.style != "all"]
    render_report(styled, top_k, f"per question style ({', '.join(scores)})")


# --------------------------------------------------------------------- main


def question_sets(names: Sequence[str] | None) -> list[QuestionSet]:
    loaded = [load_question_set(path) for path in sorted(QUESTIONS.glob("*.json"))]
    if names:
        unknown = set(names) - {s.name for s in loaded}
        if unknown:
            raise SystemExit(f"no question set {', '.join(sorted(unknown))} in {QUESTIONS}")
        loaded = [s for s in loaded if s.name in names]
    return loaded


def prepare(qa: Client, sets: Sequence[QuestionSet]) -> None:
    for question_set in sets:
        folder = source_folder(question_set)
        ensure_project(qa, question_set.name, folder)
        ingest(qa, question_set.name)


def scores_with(embedder: str, sets: Sequence[QuestionSet], args: argparse.Namespace) -> Scores:
    """Every set ingested and asked on a server embedding with ``embedder``."""
    data = WORK / f"data-{embedder}"
    data.mkdir(parents=True, exist_ok=True)
    with in_process_server(data, WORK, embedder) as (address, token), Client(address, token) as qa:
        prepare(qa, sets)
        return evaluate_sets(grpc_search_for(qa), sets, args.modes, args.top_k)


def print_comparison(by_embedder: dict[str, Scores], top_k: int) -> None:
    """recall@5 and MRR of each embedder over all sets, per mode, and their difference."""
    depth = mrr_depth(top_k)
    figures = {}
    for embedder, scores in by_embedder.items():
        tables = metrics_dict(scores, top_k)["sets"]
        figures[embedder] = tables.get(COMBINED) or next(iter(tables.values()))
    first, second = EMBEDDERS
    print(f"\n{'mode':8} {'metric':8} {first:>10} {second:>10} {'difference':>11}")
    for mode in figures[first]:
        for metric in ("recall@5", f"mrr@{depth}"):
            a, b = figures[first][mode]["all"][metric], figures[second][mode]["all"][metric]
            print(f"{mode:8} {metric:8} {a:10.4f} {b:10.4f} {a - b:+11.4f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--sets", nargs="+", help="question sets by name (default: all)")
    parser.add_argument("--top-k", type=int, default=10, choices=range(1, 101), metavar="1-100")
    parser.add_argument(
        "--embedder",
        choices=[*EMBEDDERS, "both"],
        default="onnx-int8",
        help="as PROJECTQA_EMBEDDER",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    sets = question_sets(args.sets)
    kinds = EMBEDDERS if args.embedder == "both" else (args.embedder,)
    by_embedder = {kind: scores_with(kind, sets, args) for kind in kinds}
    if args.json:
        metrics = {kind: metrics_dict(s, args.top_k) for kind, s in by_embedder.items()}
        print(json.dumps(metrics if len(kinds) > 1 else metrics[kinds[0]], indent=2))
        return
    for kind, scores in by_embedder.items():
        print(f"\n=== embedder {kind}")
        print_tables(scores, args.top_k)
    if len(kinds) > 1:
        print_comparison(by_embedder, args.top_k)


if __name__ == "__main__":
    main()
