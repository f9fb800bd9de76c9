"""What extracting import/call references (server/chunking/references.py) adds to chunking.

Chunks every file of a source tree (default: Django's sources cached by
``bench/ingest_django.py`` under ``bench/.work``; ``--language`` picks the files) twice per
round, interleaved: as ingestion does (``read_document``: chunks with references, and
symbols, from one parse) and with reference extraction switched off, and prints per round
and as the median of rounds: CPU ms per file for each, the difference and the share it adds,
and the references found (per chunk, per file). Nothing is asserted. Usage::

    nice -n 10 .venv/bin/python bench/chunk_references.py [--root DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from projectqa.server import chunking
from projectqa.server.chunking import language_of, read_document
from projectqa.server.sources import DocumentKind, SourceDocument

_DJANGO = Path(__file__).parent / ".work" / "django-5.2.8"


def _documents(root: Path, language: str) -> list[SourceDocument]:
    docs = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root).as_posix()
        if file.is_file() and language_of(relative) == language:
            text = file.read_text("utf-8", "replace")
            docs.append(SourceDocument(relative, DocumentKind.FILE, text, path=relative))
    return docs


def _no_references(reading: object, spans: list) -> list[tuple[str, ...]]:
    return [() for _ in spans]


def _seconds(docs: list[SourceDocument], references: Callable) -> float:
    chunking._references = references  # the one seam: what _chunks calls per file
    started = time.process_time()  # CPU time: the machine is shared, wall time is noise
    for doc in docs:
        read_document(doc)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=_DJANGO)
    parser.add_argument("--language", default="python")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    docs = _documents(args.root, args.language)
    if not docs:
        raise SystemExit(f"no {args.language} files under {args.root}")
    with_references = chunking._references
    per_file = {"with": [], "without": []}
    for round_ in range(1, args.rounds + 1):
        without = _seconds(docs, _no_references) / len(docs) * 1000
        with_ = _seconds(docs, with_references) / len(docs) * 1000
        per_file["with"].append(with_)
        per_file["without"].append(without)
        print(f"round {round_}: {without:.2f} ms/file without, {with_:.2f} with")
    chunking._references = with_references
    chunks = [chunk for doc in docs for chunk in chunking.chunk_document(doc)]
    found = sum(len(chunk.references) for chunk in chunks)
    with_, without = (statistics.median(per_file[k]) for k in ("with", "without"))
    print(f"{len(docs)} {args.language} files, {len(chunks)} chunks under {args.root}")
    print(f"median ms/file: {without:.2f} without references, {with_:.2f} with")
    print(f"references add {with_ - without:.2f} ms/file ({(with_ / without - 1) * 100:.0f} %)")
    print(f"references: {found / len(chunks):.1f} per chunk, {found / len(docs):.1f} per file")


if __name__ == "__main__":
    main()
