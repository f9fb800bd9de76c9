"""Chunks nobody wrote by hand: vendored copies, generated modules, minified bundles,
and test or evaluation data (recorded fixtures, snapshots, question sets).

A question is rarely answered by them, and they are expensive to embed (minified code and
serialized descriptors are dense word pieces, always cut at the model's 256), so they
are worth their keyword entry but not a vector of their passage (docs/RETRIEVAL.md,
"What gets embedded"). The judgment is made from what a stored chunk carries, its
path and text, so the text embedded (and the hash the vector cache keys on) can be
recomputed from the chunk alone at any time. Ranking steps back from them too
(``retrieval/rank.py``), judging by the path alone: a question set's questions share
the words of the question asked, and a recorded payload those of the code reading it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# Folders that hold other projects' code copied in.
VENDORED_FOLDERS = frozenset(
    {
        "vendor",
        "vendored",
        "_vendor",
        "third_party",
        "thirdparty",
        "third-party",
        "node_modules",
        "bower_components",
        "site-packages",
    }
)
# File names that code generators and package managers write.
GENERATED_SUFFIXES = (
    "_pb2.py",
    "_pb2.pyi",
    "_pb2_grpc.py",
    ".pb.go",
    ".pb.cc",
    ".pb.h",
    ".pb.ts",
    ".min.js",
    ".min.css",
    ".min.mjs",
    ".js.map",
    ".css.map",
)
GENERATED_NAMES = frozenset(
    {
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "pipfile.lock",
        "cargo.lock",
        "composer.lock",
        "go.sum",
        "uv.lock",
        "gemfile.lock",
    }
)
# Data files (not code, not prose) are test or evaluation data in these folders: recorded
# requests and responses, golden outputs, question sets.
DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".csv", ".tsv", ".xml", ".har")
DATA_FOLDERS = frozenset(
    {
        "tests",
        "test",
        "testing",
        "__tests__",
        "fixtures",
        "fixture",
        "testdata",
        "test_data",
        "test-data",
        "cassettes",
        "golden",
        "goldens",
        "snapshots",
        "__snapshots__",
        "eval",
        "evals",
        "evaluation",
    }
)
SNAPSHOT_SUFFIXES = (".snap",)  # Jest, insta: written by the test runner
# Prose may be written one paragraph a line; it is never taken for minified code.
PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".po", ".pot")
MINIFIED_LINE = 1000  # characters: no hand-written line is this long
MINIFIED_MEAN = 250  # mean characters per non-blank line of a chunk of several lines


def machine_made(path: str, text: str) -> str:
    """Why the chunk at ``path`` with ``text`` is machine-made ("vendored", "generated",
    "data", "minified"), or ``""`` if it is not (or ``path`` is empty: records, issues,
    pages)."""
    reason = machine_made_path(path)
    if reason or not path:
        return reason
    if not path.lower().endswith(PROSE_SUFFIXES) and _minified(text):
        return "minified"
    return ""


def machine_made_path(path: str) -> str:
    """What ``path`` alone says: "vendored", "generated", "data" (test or evaluation
    data), or ``""`` (hand-written, as far as the path tells; minified code is told by
    its text)."""
    parts = PurePosixPath(path.lower()).parts
    if not parts:
        return ""
    folders, name = set(parts[:-1]), parts[-1]
    if VENDORED_FOLDERS & folders:
        return "vendored"
    if name in GENERATED_NAMES or name.endswith(GENERATED_SUFFIXES):
        return "generated"
    if name.endswith(SNAPSHOT_SUFFIXES) or (
        name.endswith(DATA_SUFFIXES) and DATA_FOLDERS & folders
    ):
        return "data"
    return ""


def _minified(text: str) -> bool:
    lines = [len(line) for line in text.split("\n") if line.strip()]
    if not lines:
        return False
    if max(lines) >= MINIFIED_LINE:
        return True
    return len(lines) >= 2 and sum(lines) / len(lines) >= MINIFIED_MEAN


def embedded_passage(path: str, text: str) -> str:
    """The part of a chunk's text its vector is computed from: all of it, or nothing for
    machine-made chunks (their vector then says only where they are: path and symbol)."""
    return "" if machine_made(path, text) else text
