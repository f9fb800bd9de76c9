"""Grep tool latency on a 1,500-file repository (real Django sources).

Builds (once, under ``bench/.work/grep_bench``) a plain folder holding the
first ``--files`` ``.py``/``.txt``/``.html`` files of the Django source
distribution in path order, the archive ``bench/ingest_django.py`` caches
(downloaded with pip if missing). Then it times ``server/tools/grep.py``'s
``grep`` as the server runs it: ``rg --files`` lists the names (with
``walk_arguments``: path globs, ignore files, size cap, path order), each
listed file is opened below the root by descriptor, and ``rg --json`` (with
``search_arguments``) searches batches of ``/dev/fd/N`` while the collector
reads its records; over a fixed list of patterns: literals, regexes,
case-insensitive, path globs and context lines, as an agent would call it.
Each pattern runs ``--rounds`` times after one warm-up pass (the files are in
the page cache: this is the steady state of a server, not a cold disk).

As a floor it times one bare ``rg`` per pattern over the same file selection
(``walk_arguments`` and ``search_arguments`` together, reading by name, JSON
output discarded), reading every selected file: no listing, no descriptors,
no parsing, no match budget. It also times the ``rg --files`` listing alone
and checks that it names as many files as the tool reports searched (for the
patterns that ran to the end). Nothing is asserted; it prints figures.
Usage::

    python bench/grep_latency.py [--files 1500] [--rounds 3] [--max-matches 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tarfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sdists import sdist_archive

from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import (
    GrepQuery,
    GrepResult,
    grep,
    search_arguments,
    walk_arguments,
)
from projectqa.server.tools.ripgrep import rg_binary

WORK = Path(__file__).resolve().parent / ".work"
SUFFIXES = (".py", ".txt", ".html")


@dataclass(frozen=True, slots=True)
class Case:
    kind: str  # literal, regex, ignore-case, glob, context, rare
    query: GrepQuery


def _literal(text: str, *globs: str) -> GrepQuery:
    return GrepQuery(text, fixed_strings=True, path_globs=globs)


def _regex(pattern: str, *globs: str, ignore_case: bool = False, context: int = 0) -> GrepQuery:
    return GrepQuery(pattern, ignore_case=ignore_case, path_globs=globs, context_lines=context)


# fmt: off
CASES = [
    *(Case("literal", _literal(t)) for t in (
        "def __init__", "import os", "QuerySet", "ValidationError", "TODO", "csrf_token",
        "{% block", "get_queryset", "self.model", "settings.DEBUG", "ImproperlyConfigured",
        "from django.db import models", "return super()", "@property", "gettext_lazy",
        "on_delete=models.CASCADE", "select_related", "HttpResponseRedirect", "__str__",
        "raise NotImplementedError", "DEFAULT_AUTO_FIELD", "contextlib", "transaction.atomic",
    )),
    *(Case("regex", _regex(p)) for p in (
        r"def \w+\(self", r"class \w+\(models\.Model\)", r"^from \.\w* import", r"raise \w+Error\(",
        r"^\s*@\w+", r"\d{4}-\d{2}-\d{2}", r"https?://[^\s\"'<>]+", r"self\.\w+ = \w+",
        r"\bget_\w+_display\b", r"^class \w+Form\b", r"\{\{ *\w+(\.\w+)* *\}\}", r"(?m)^\s*#.*XXX",
        r"lambda \w+: \w+", r"\bkwargs\[['\"]\w+['\"]\]", r"def (get|set)_\w+", r"\w+Mixin\b",
        r"^\s{8,}return None$", r"warnings\.warn\(", r"isinstance\(\w+, \(\w+",
        r"(?i)^\s*\.\. (note|warning)::",
    )),
    *(Case("ignore-case", _regex(p, ignore_case=True)) for p in (
        "deprecated", "timezone", "select .* from", "utf-?8", "cache", "middleware",
        "password", "transaction", "migration", "json",
    )),
    *(Case("glob", q) for q in (
        _literal("import", "*.py"), _literal("{% trans", "*.html"), _literal("Django", "*.txt"),
        _regex(r"class \w+", "django/db/**"), _regex(r"^\s+def \w+", "django/contrib/**/*.py"),
        _regex(r"^\.\. \w+::", "docs/**/*.txt"), _regex(r"raise", "*.py", "!**/tests/**"),
        _literal("request", "django/http/*.py"), _regex(r"def \w+", "django/contrib/admin/**"),
        _regex(r"<form\b", "**/templates/**"), _literal("Field", "django/forms/*.py"),
        _regex(r"version", "docs/releases/*.txt", ignore_case=True),
    )),
    *(Case("context", _regex(p, context=2)) for p in (
        r"def save\(", r"class Meta:", r"raise TypeError", r"\{% endblock", r"def __eq__",
    )),
    *(Case("rare", q) for q in (
        _literal("zzqxv_not_in_this_repository"), _regex(r"\bfrobnicate\w*"),
        _literal("bench_marker_never_written"), _regex(r"[Qq]{3}[0-9]{3}"),
        _regex(r"class Paginator\b"), _literal("def get_random_secret_key"),
    )),
]
# fmt: on


def repository(version: str, files: int) -> Path:
    """A folder of the first ``files`` matching files of the sdist, in path order (reused)."""
    root = WORK / "grep_bench" / f"django-{version}-{files}"
    marker = root.parent / f"{root.name}.complete"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(sdist_archive("django", version)) as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith(SUFFIXES)),
            key=lambda m: m.name,
        )[:files]
        for member in members:
            target = root / member.name.split("/", 1)[1]  # drop the "django-X.Y/" prefix
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    marker.write_text(f"{len(members)}\n")
    return root


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples):7.2f}  p95 {percentile(samples, 0.95):7.2f}  "
        f"p99 {percentile(samples, 0.99):7.2f}  max {max(samples):7.2f} ms"
    )


async def timed_grep(checkout: Checkout, query: GrepQuery) -> tuple[float, GrepResult]:
    started = time.perf_counter()
    result = await grep([checkout], query)
    return (time.perf_counter() - started) * 1000, result


def bare_rg_ms(root: Path, query: GrepQuery) -> float:
    """One rg over the files the tool selects, searched as the tool searches them, by
    name, output to /dev/null: the floor the tool sits on."""
    arguments = [*walk_arguments(query), *search_arguments(query), "--", "."]
    started = time.perf_counter()
    subprocess.run([rg_binary(), *arguments], cwd=root, stdout=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - started) * 1000


def listing(root: Path, query: GrepQuery) -> tuple[float, int]:
    """The tool's first step alone, ``rg --files`` with its walk arguments: ms, files."""
    arguments = ["--files", "--null", *walk_arguments(query), "--", "."]
    started = time.perf_counter()
    done = subprocess.run([rg_binary(), *arguments], cwd=root, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000, done.stdout.count(b"\0")


def flags(query: GrepQuery) -> str:
    parts = ["F" if query.fixed_strings else "", "i" if query.ignore_case else ""]
    parts.append(f"C{query.context_lines}" if query.context_lines else "")
    parts += [f"glob={g}" for g in query.path_globs]
    return " ".join(p for p in parts if p)


async def run(root: Path, cases: list[Case], rounds: int) -> None:
    checkout = Checkout("con_bench", "django", root.resolve())
    for case in cases:  # warm-up: page cache, rg binary, event loop
        await grep([checkout], case.query)
    samples: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    results: dict[int, GrepResult] = {}
    for _ in range(rounds):
        for i, case in enumerate(cases):
            ms, results[i] = await timed_grep(checkout, case.query)
            samples[i].append(ms)
    floor = [bare_rg_ms(root, case.query) for case in cases for _ in range(rounds)]
    listed = [listing(root, case.query) for case in cases for _ in range(rounds)]
    files_listed = [listed[i * rounds][1] for i in range(len(cases))]
    print(
        f"{'kind':<11} {'p50 ms':>7} {'matches':>7} {'trunc':<10} {'files':>5} {'listed':>6}"
        "  pattern [flags]"
    )
    for i, case in enumerate(cases):
        r = results[i]
        print(
            f"{case.kind:<11} {statistics.median(samples[i]):7.2f} {len(r.matches):7d} "
            f"{r.truncated_reason or '-':<10} {r.files_searched:5d} {files_listed[i]:6d}  "
            f"{case.query.pattern!r} [{flags(case.query)}]"
        )
    print()
    for kind in dict.fromkeys(c.kind for c in cases):
        picked = [ms for i, c in enumerate(cases) if c.kind == kind for ms in samples[i]]
        print(f"{kind:<11} n={len(picked):4d}  {summary(picked)}")
    everything = [ms for values in samples.values() for ms in values]
    print(f"{'all':<11} n={len(everything):4d}  {summary(everything)}")
    print(f"{'bare rg':<11} n={len(floor):4d}  {summary(floor)}  (same files, no budget)")
    print(f"{'rg --files':<11} n={len(listed):4d}  {summary([ms for ms, _ in listed])}")
    truncated = sum(1 for r in results.values() if r.truncated)
    print(f"{truncated} of {len(cases)} patterns stopped at the match budget or a limit")
    ran = [i for i, r in results.items() if not r.truncated_reason]
    same = sum(1 for i in ran if results[i].files_searched == files_listed[i])
    print(f"file selection: the tool searched the files rg --files lists for {same} of {len(ran)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="5.2.8")
    parser.add_argument("--files", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-matches", type=int, default=0, help="0: the tool's default (100)")
    args = parser.parse_args()
    root = repository(args.version, args.files)
    files = sum(1 for p in root.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    cases = [replace(c, query=replace(c.query, max_matches=args.max_matches)) for c in CASES]
    print(
        f"{files} files, {size / 2**20:.1f} MiB in {root}; {len(cases)} patterns x "
        f"{args.rounds} rounds; max_matches {args.max_matches or 'default (100)'}; "
        f"{os.cpu_count()} CPUs; {rg_binary()}"
    )
    asyncio.run(run(root, cases, args.rounds))


if __name__ == "__main__":
    main()
