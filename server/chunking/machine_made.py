"""Chunks nobody wrote by hand: vendored copies, generated modules, minified bundles.

A question is rarely answered by them, and they are expensive to embed (minified code and
serialized descriptors are dense word pieces, always cut at the model's 256), so they
are worth their keyword entry but not a vector of their passage (docs/RETRIEVAL.md,
"What gets embedded"). The judgment is made from what a stored chunk carries, its
path and text, so the text embedded (and the hash the vector cache keys on) can be
recomputed from the chunk alone at any time.
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
# Prose may be written one paragraph a line; it is never taken for minified code.
PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".po", ".pot")
MINIFIED_LINE = 1000  # characters: no hand-written line is this long
MINIFIED_MEAN = 250  # mean characters per non-blank line of a chunk of several lines


def machine_made(path: str, text: str) -> str:
    """Why the chunk at ``path`` with ``text`` is machine-made ("vendored", "generated",
    "minified"), or ``""`` if it is not (or ``path`` is empty: records, issues, pages)."""
    if not path:
        return ""
    parts = PurePosixPath(path.lower()).parts
    if VENDORED_FOLDERS.intersection(parts[:-1]):
        return "vendored"
    name = parts[-1] if parts else ""
    if name in GENERATED_NAMES or name.endswith(GENERATED_SUFFIXES):
        return "generated"
    if not name.endswith(PROSE_SUFFIXES) and _minified(text):
        return "minified"
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
