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

``--server-at COMMIT`` measures the server (and its connector plugins) as it was
at COMMIT, e.g. the ranking before issue 16: their sources are exported from git
into ``bench/.work/localization/code-<commit>`` and this script runs again with
an import shim that takes ``projectqa.server`` and ``projectqa.plugins`` from
there (the client, this evaluation and the protos stay today's).

Usage::

    nice -n 10 python bench/eval_localization.py [--sets click fd] [--modes hybrid]
        [--exclude-tests] [--files-from chunks|server] [--server-at 471d8ea] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
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
    load_question_set,
    mrr_depth,
    report_rows,
)

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


def prepare(qa: Client, sets: Sequence[QuestionSet]) -> dict[str, float]:
    """Every set's project on its snapshot clone, ingested; seconds each ingestion took."""
    took = {}
    for question_set in sets:
        clone = clone_of(question_set.name)
        config = {"url": str(clone), "branch": SNAPSHOT_BRANCH}
        ensure_project(qa, question_set.name, clone, "git", config)
        started = time.monotonic()
        ingest(qa, question_set.name)
        took[question_set.name] = time.monotonic() - started
    return took


def run(args: argparse.Namespace) -> dict[str, Any]:
    sets = [load_question_set(QUESTIONS / f"{name}.json") for name in args.sets]
    data = WORK / f"data-{args.code_label}"
    data.mkdir(parents=True, exist_ok=True)
    (WORK / "repos").mkdir(parents=True, exist_ok=True)
    refused = Refusals()
    with (
        in_process_server(data, WORK / "repos", plugins=("git",)) as (address, token),
        Client(address, token) as qa,
    ):
        took = prepare(qa, sets)
        scores = scores_of(qa, sets, args, refused)
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
    args = parser.parse_args(argv)
    args.code_label = os.environ.get("LOCALIZATION_CODE", "head")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.server_at:
        rerun_with_code_at(args.server_at, argv)
    result = run(args)
    if args.json:
        print(json.dumps(as_json(result, args), indent=1))
    else:
        print_tables(result, args)


if __name__ == "__main__":
    main()
