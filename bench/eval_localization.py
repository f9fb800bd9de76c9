"""Bug localization on real history: acc@1/5/10 and MRR@10 over files, per repository.

The question sets are ``bench/eval/localization/*.json`` (built by
``bench/localization_set.py``; method in docs/LOCALIZATION_EVAL.md). For each:

1. a local clone of the repository's mirror holding only the history up to the
   set's snapshot S (``git fetch <mirror> S``), checked out at S, under
   ``bench/.work/localization/repos/<name>`` (nothing after S is in it: no fix
   can leak through the files or, once indexed, through the commit history);
2. a real server in this process (``eval_retrieval.in_process_server``, the
   ``git`` connector) on the persistent data directory
   ``bench/.work/localization/data-<code>``, so a re-run reuses the indexes;
   each repository is one project with a git connector on its clone, ingested
   incrementally (the time each ingestion took is printed);
3. every question asked through RetrievalService.Search in each mode, files
   ranked by first appearance among the first 100 chunk hits (or, with
   ``--files-from server``, the server's own file ranking), scored with
   :mod:`projectqa.client.evaluation`: acc@k when any expected file is among
   the first k files; once over all files and once with test files excluded
   by the path filter (``--exclude-tests`` alone runs only that variant). Search
   is restricted to sources of kind ``file``: history records may lift a file,
   but are no answer themselves.

A question the server refuses (INVALID_ARGUMENT: before issue 16 any query over
2,000 characters) counts as a miss; the refusals are counted and printed.

``--structure`` measures structure (issue 16 item 5, docs/STRUCTURE.md) signal by
signal instead: after ingestion, in-process on the same Store and indexes, each
question's passage pool is searched once (hybrid) and ranked by the file search
with the history prior (as the server wires it) without structure, with each
signal alone (neighbours, tests -> code, named definitions: the last lending for
every question, trace or not), with all of them, and with ``--weights`` as given
(the defaults); the time each re-ranking took is printed. A served
generation without a file graph (ingested before references were stored) gets one
built from its snapshot clone (``--graph-from-sources``: each file chunked again
for its references), so the signals can be measured on an index as it stands.

``--server-at COMMIT`` measures the server (and its connector plugins) as it was
at COMMIT, e.g. the ranking before issue 16: their sources are exported from git
into ``bench/.work/localization/code-<commit>`` and this script runs again with
an import shim that takes ``projectqa.server`` and ``projectqa.plugins`` from
there (the client, this evaluation and the protos stay today's).

Usage::

    nice -n 10 python bench/eval_localization.py [--sets click fd] [--modes hybrid]
        [--exclude-tests] [--files-from chunks|server] [--server-at 471d8ea] [--json]
    nice -n 10 python bench/eval_localization.py --structure [--graph-from-sources]
        [--weights "callee=0.3 tested=0.4"] [--data-label structure]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_retrieval import COMBINED, Scores, combined, ensure_project, in_process_server, ingest
from localization_set import REPOSITORIES

from projectqa.client import Client, ClientError
from projectqa.client.cli.evaluate import render_report
from projectqa.client.evaluation import (
    MODES,
    FileSearchFunction,
    QuestionSet,
    SearchFunction,
    client_file_search,
    client_search,
    evaluate,
    first_file_rank,
    load_question_set,
    mrr_depth,
    report_rows,
)
from projectqa.server.chunking import read_document
from projectqa.server.index.graph import FileGraph
from projectqa.server.index.project import ProjectIndex
from projectqa.server.retrieval.citations import citation_of
from projectqa.server.retrieval.files import FileSearch, FileWeights, file_query, pool_query
from projectqa.server.retrieval.history import history_prior
from projectqa.server.retrieval.ops import CitedHit, CitedResult
from projectqa.server.retrieval.query import SearchFilter, SearchQuery
from projectqa.server.retrieval.structure import (
    NAMED_SHARE,
    StructureWeights,
    structure_reranker,
)
from projectqa.server.sources import DocumentKind, SourceDocument

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
QUESTIONS = BENCH / "eval" / "localization"
WORK = BENCH / ".work" / "localization"
SNAPSHOT_BRANCH = "snapshot"
TEST_EXCLUSION = ("!**/tests/**", "!**/test_*.py")
VARIANTS = {"all files": (), "tests excluded": TEST_EXCLUSION}
TOP_K = 10


# ---------------------------------------------------------------- snapshots


def mirror_of(set_name: str) -> Path:
    for repository in REPOSITORIES:
        if repository.name == set_name:
            return repository.mirror()
    raise SystemExit(f"no repository {set_name} in localization_set.REPOSITORIES")


def snapshot_of(set_name: str) -> str:
    data = json.loads((QUESTIONS / f"{set_name}.json").read_text(encoding="utf-8"))
    return str(data["snapshot"])


def connector_of(set_name: str) -> dict[str, Any]:
    """The set's own git connector settings (a traceback set may index only part of its
    repository, and less history: ``include``, ``history_commits``); {} for none."""
    data = json.loads((QUESTIONS / f"{set_name}.json").read_text(encoding="utf-8"))
    return dict(data.get("connector", {}))


def snapshot_clone(mirror: Path, snapshot: str, clone: Path) -> Path:
    """``clone``: ``mirror``'s history up to ``snapshot`` (nothing later), checked out at it
    on branch ``snapshot``; made once, then reused."""
    if not (clone / ".git").is_dir():
        clone.mkdir(parents=True, exist_ok=True)
        git = ["git", "-C", str(clone)]
        subprocess.run([*git, "init", "-q"], check=True)
        ref = f"{snapshot}:refs/heads/{SNAPSHOT_BRANCH}"
        subprocess.run([*git, "fetch", "-q", "--no-tags", str(mirror), ref], check=True)
        subprocess.run([*git, "checkout", "-q", SNAPSHOT_BRANCH], check=True)
    return clone


def clone_of(set_name: str, work: Path = WORK) -> Path:
    """The snapshot clone of a set, ``work/repos/<name>``."""
    return snapshot_clone(mirror_of(set_name), snapshot_of(set_name), work / "repos" / set_name)


# ------------------------------------------------------------------ searching


@dataclass
class Refusals:
    """Questions the server refused (INVALID_ARGUMENT), per set, variant and mode."""

    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, key: tuple[str, str, str]) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def tolerant(
    search: Callable[[str, str, int], Sequence[Any]],
    refused: Refusals,
    where: tuple[str, str],
) -> Callable[[str, str, int], Sequence[Any]]:
    """``search`` answering a refused question with nothing (a miss), counted."""

    def asked(question: str, mode: str, top_k: int) -> Sequence[Any]:
        try:
            return search(question, mode, top_k)
        except ClientError as error:
            if error.code_name != "INVALID_ARGUMENT":
                raise
            refused.add((*where, mode))
            return []

    return asked


def searches(
    qa: Client, slug: str, globs: Sequence[str], files_from: str, refused: Refusals, variant: str
) -> tuple[SearchFunction, FileSearchFunction | None]:
    # Files only: the answer is a file; a commit record (history) may raise a file's
    # rank but is no answer itself.
    options: dict[str, Any] = {"kinds": ["file"], "path_globs": list(globs)}
    search: SearchFunction = tolerant(client_search(qa, slug, **options), refused, (slug, variant))
    if files_from != "server":
        return search, None  # files by first appearance in the chunk ranking
    files = client_file_search(qa, slug, **options)
    return search, tolerant(files, refused, (slug, variant))


def scores_of(
    qa: Client,
    sets: Sequence[QuestionSet],
    args: argparse.Namespace,
    refused: Refusals,
) -> dict[str, Scores]:
    """variant -> set -> mode -> one score per question."""
    variants = {"tests excluded": TEST_EXCLUSION} if args.exclude_tests else VARIANTS
    result: dict[str, Scores] = {}
    for variant, globs in variants.items():
        result[variant] = {}
        for question_set in sets:
            search, files = searches(
                qa, question_set.name, globs, args.files_from, refused, variant
            )
            result[variant][question_set.name] = {
                mode: evaluate(search, question_set.questions, mode, TOP_K, files)
                for mode in args.modes
            }
    return result


# --------------------------------------------------------------------- server


def prepare(qa: Client, sets: Sequence[QuestionSet], full: bool = False) -> dict[str, float]:
    """Every set's project on its snapshot clone, ingested (``full``: every file read and
    chunked again, e.g. for the references of a newer chunker); seconds each took."""
    took = {}
    for question_set in sets:
        clone = clone_of(question_set.name)
        config = {"url": str(clone), "branch": SNAPSHOT_BRANCH} | connector_of(question_set.name)
        ensure_project(qa, question_set.name, clone, "git", config)
        started = time.monotonic()
        ingest(qa, question_set.name, "full" if full else "incremental")
        took[question_set.name] = time.monotonic() - started
    return took


# ------------------------------------------------------------------ structure


def structure_variants(weights: StructureWeights) -> dict[str, StructureWeights | None]:
    """Rankings compared: no structure, each signal alone (the others' shares 0; a signal
    off in ``weights`` at its measured share), all three, and ``weights`` as given."""
    given = weights
    weights = dataclasses.replace(
        weights, named=weights.named or NAMED_SHARE, traced=weights.traced or NAMED_SHARE
    )
    off = {"callee": 0.0, "caller": 0.0, "tested": 0.0, "named": 0.0, "traced": 0.0}
    alone = {
        "+ neighbours (a)": ("callee", "caller"),
        "+ tests->code (b)": ("tested",),
        "+ named defs (c)": ("named", "traced"),
    }
    variants: dict[str, StructureWeights | None] = {"history (no structure)": None}
    for name, kept in alone.items():
        zeroed = {k: v for k, v in off.items() if k not in kept}
        variants[name] = dataclasses.replace(weights, **zeroed)  # type: ignore[arg-type]
    variants["+ structure (a+b+c)"] = weights
    variants["+ structure (as given)"] = given
    return variants


def graph_from_sources(index: ProjectIndex, clone: Path) -> FileGraph:
    """The file graph of a generation ingested before references were stored: each
    indexed file of ``clone`` chunked again, a row's references those of the chunk
    with the row's lines (none for records and for files that changed since)."""
    table = index.table
    drafts: dict[str, dict[tuple[int, int], tuple[str, ...]]] = {}

    def references(row: int) -> tuple[str, ...]:
        path = table["path"].value(row)
        if table["kind"].value(row) != "file":
            return ()
        if path not in drafts:
            drafts[path] = {}
            file = clone / path
            if file.is_file():
                text = file.read_text(encoding="utf-8", errors="replace")
                chunks, _ = read_document(SourceDocument(path, DocumentKind.FILE, text, path=path))
                drafts[path] = {(c.start_line, c.end_line): c.references for c in chunks}
        lines = (int(table.start_line[row]), int(table.end_line[row]))
        return drafts[path].get(lines, ())

    rows = (
        (table["connector"].value(row), table["path"].value(row), references(row))
        for row in range(len(table))
    )
    return FileGraph.build(rows, index.symbols)


def structure_ablation(
    sets: Sequence[QuestionSet], data: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """set -> variant -> rank of the first expected file per question (0: not in the
    ranking), and variant -> re-ranking milliseconds per question."""
    from eval_file_search import InProcess  # imports this module: not at the top

    local = InProcess(data)
    variants = structure_variants(args.weights)
    ranks: dict[str, dict[str, list[int]]] = {}
    took: dict[str, list[float]] = {name: [] for name in variants}
    globs = TEST_EXCLUSION if args.exclude_tests else ()
    for question_set in sets:
        project = local.store.get_project_by_slug(question_set.name)
        assert project is not None, f"{question_set.name} is not ingested in {data}"
        index = local.searcher.index(project.id)
        if index.graph is None and args.graph_from_sources:
            index.graph = graph_from_sources(index, clone_of(question_set.name))
        searches = {
            name: FileSearch(
                None,  # type: ignore[arg-type]  # ``ranked`` reads no ops
                priors=[history_prior(local.store)],
                rerankers=[structure_reranker(local.store, weights)] if weights else [],
            )
            for name, weights in variants.items()
        }
        ranks[question_set.name] = {name: [] for name in variants}
        for question in question_set.questions:
            query = file_query(
                SearchQuery.checked(
                    question.text, top_k=TOP_K, search_filter=SearchFilter(path_globs=globs)
                )
            )
            pooled = local.searcher.search(project.id, pool_query(query, FileWeights()))
            hits = [CitedHit(h, citation_of(h.chunk)) for h in pooled.hits]
            searched = CitedResult(project, pooled, hits)
            for name, search in searches.items():
                started = time.perf_counter()
                files = search.ranked(searched, query).files
                took[name].append((time.perf_counter() - started) * 1000)
                ranks[question_set.name][name].append(
                    first_file_rank([f.path for f in files], question.files)
                )
        print(f"  {question_set.name} ranked", file=sys.stderr)
    return {"ranks": ranks, "milliseconds": took}


def ablation_rows(ranks: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    """variant -> acc@1/5/10, MRR@10 and the number of questions."""
    rows = {}
    for name, found in ranks.items():
        n = len(found)
        rows[name] = {f"acc@{k}": sum(0 < r <= k for r in found) / n for k in (1, 5, 10)}
        rows[name] |= {"mrr@10": sum(1 / r for r in found if 0 < r <= 10) / n, "questions": n}
    return rows


def print_ablation(result: dict[str, Any], args: argparse.Namespace) -> None:
    by_set = result["ranks"]
    pooled: dict[str, list[int]] = {}
    for variants in by_set.values():
        for variant, found in variants.items():
            pooled.setdefault(variant, []).extend(found)
    print(f"structure weights: {args.weights}")
    for name, variants in {**by_set, COMBINED: pooled}.items():
        print(f"\n{name}")
        print(f"  {'ranking':26} {'acc@1':>6} {'acc@5':>6} {'acc@10':>6} {'mrr@10':>6}  n")
        for variant, m in ablation_rows(variants).items():
            print(
                f"  {variant:26} {m['acc@1']:6.3f} {m['acc@5']:6.3f} {m['acc@10']:6.3f} "
                f"{m['mrr@10']:6.3f}  {int(m['questions'])}"
            )
    print("\nre-ranking (history prior + structure) per question, ms: median / p90 / max")
    for variant, times in result["milliseconds"].items():
        p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
        print(f"  {variant:26} {statistics.median(times):6.2f} {p90:6.2f} {max(times):6.2f}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    sets = [load_question_set(QUESTIONS / f"{name}.json") for name in args.sets]
    data = WORK / f"data-{args.data_label or args.code_label}"
    data.mkdir(parents=True, exist_ok=True)
    (WORK / "repos").mkdir(parents=True, exist_ok=True)
    refused = Refusals()
    with (
        in_process_server(data, WORK / "repos", plugins=("git",)) as (address, token),
        Client(address, token) as qa,
    ):
        took = prepare(qa, sets, args.full)
        scores = {} if args.structure else scores_of(qa, sets, args, refused)
    if args.structure:  # in-process, on the Store and indexes the server has let go of
        return {"ingestion_seconds": took} | structure_ablation(sets, data, args)
    return {"scores": scores, "ingestion_seconds": took, "refused": refused.counts}


# ---------------------------------------------------------------------- output


def metrics(scores: Scores) -> dict[str, Any]:
    """set (and all sets) -> mode -> figures."""
    depth = mrr_depth(TOP_K)
    tables = {**scores, COMBINED: combined(scores)}
    return {
        set_name: {row.mode: row.metrics.to_dict(depth) for row in report_rows(set_name, by_mode)}
        for set_name, by_mode in tables.items()
    }


def as_json(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    refused = {"/".join(key): count for key, count in result["refused"].items()}
    return {
        "server_code": args.code_label,
        "files_from": args.files_from,
        "top_k": TOP_K,
        "ingestion_seconds": {k: round(v, 1) for k, v in result["ingestion_seconds"].items()},
        "refused": refused,
        "variants": {variant: metrics(s) for variant, s in result["scores"].items()},
        "questions": {
            variant: {
                name: {mode: [q.to_dict() for q in found] for mode, found in by_mode.items()}
                for name, by_mode in scores.items()
            }
            for variant, scores in result["scores"].items()
        },
    }


def print_tables(result: dict[str, Any], args: argparse.Namespace) -> None:
    for name, seconds in result["ingestion_seconds"].items():
        print(f"ingestion of {name}: {seconds:.0f} s")
    for variant, scores in result["scores"].items():
        for set_name, by_mode in {**scores, COMBINED: combined(scores)}.items():
            title = f"{set_name}, {variant}, server {args.code_label}, files from {args.files_from}"
            render_report(report_rows(set_name, by_mode), TOP_K, title)
    for (slug, variant, mode), count in sorted(result["refused"].items()):
        print(f"refused (INVALID_ARGUMENT): {slug} {variant} {mode}: {count}")


# ------------------------------------------------------ the server at a commit


def exported_code(commit: str) -> Path:
    """An import shim whose ``projectqa.server``/``plugins`` are those of ``commit``."""
    root = WORK / f"code-{commit}"
    shim = root / "shim" / "projectqa"
    if not shim.is_dir():
        source = root / "source"
        source.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", commit, "server", "plugins"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        shim.mkdir(parents=True)
        (shim / "__init__.py").write_text("")
        links = {
            "server": source / "server",
            "plugins": source / "plugins" / "builtin",
            "client": REPO_ROOT / "clients" / "python",
            "v1": REPO_ROOT / "protos" / "projectqa" / "v1",
            "lsp": REPO_ROOT / "lsp",
        }
        for name, target in links.items():
            (shim / name).symlink_to(target)
    return shim.parent


def rerun_with_code_at(commit: str, argv: Sequence[str]) -> None:
    """This script again, with the server's code of ``commit`` first on the import path."""
    full = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shim = exported_code(full[:12])
    env = {**os.environ, "PYTHONPATH": str(shim), "LOCALIZATION_CODE": full[:12]}
    rest = [a for a in argv if a != "--server-at" and a != commit]
    raise SystemExit(subprocess.run([sys.executable, __file__, *rest], env=env).returncode)


# ------------------------------------------------------------------------ main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = sorted(path.stem for path in QUESTIONS.glob("*.json"))
    parser.add_argument("--sets", nargs="+", choices=names, default=names)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--exclude-tests", action="store_true", help="only the test-free variant")
    parser.add_argument("--files-from", choices=("chunks", "server"), default="chunks")
    parser.add_argument("--server-at", metavar="COMMIT", help="measure the server of COMMIT")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument(
        "--structure", action="store_true", help="file search without/with each structure signal"
    )
    parser.add_argument(
        "--full", action="store_true", help="a full ingestion run (files chunked again)"
    )
    parser.add_argument(
        "--graph-from-sources",
        action="store_true",
        help="a generation without a file graph gets one built from its snapshot clone",
    )
    parser.add_argument(
        "--weights", type=structure_weights, default=StructureWeights(), help='"callee=0.3 ..."'
    )
    parser.add_argument(
        "--data-label", help="use bench/.work/localization/data-LABEL (default: the code's)"
    )
    args = parser.parse_args(argv)
    args.code_label = os.environ.get("LOCALIZATION_CODE", "head")
    return args


def structure_weights(spec: str) -> StructureWeights:
    """``"callee=0.3 head=5"``: StructureWeights with these fields changed."""
    changes: dict[str, Any] = {}
    for item in spec.split():
        name, value = item.split("=")
        changes[name] = type(getattr(StructureWeights(), name))(value)
    return dataclasses.replace(StructureWeights(), **changes)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.server_at:
        rerun_with_code_at(args.server_at, argv)
    result = run(args)
    if args.structure:
        for name, seconds in result["ingestion_seconds"].items():
            print(f"ingestion of {name}: {seconds:.0f} s", file=sys.stderr)
        if args.json:
            print(json.dumps({"weights": dataclasses.asdict(args.weights)} | result, indent=1))
        else:
            print_ablation(result, args)
        return
    if args.json:
        print(json.dumps(as_json(result, args), indent=1))
    else:
        print_tables(result, args)


if __name__ == "__main__":
    main()
