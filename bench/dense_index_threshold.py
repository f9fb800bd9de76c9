"""Where exact FAISS search stops being cheap: the ``DENSE_EXACT_MAX_VECTORS`` default.

For each collection size it builds an exact index (``IndexFlatIP``) and the two
approximate candidates (HNSW, IVF-Flat) over realistic vectors and prints build
time, single-query latency p50/p99, recall@10 against exact search and memory.
The vectors are real all-MiniLM-L6-v2 embeddings of ~40-line chunks of the Python
sources installed next to this interpreter, replicated with small noise up to
the larger sizes (keeping the clustered shape of real code embeddings, which
random vectors lack); queries are real embeddings of short docstring lines, as
questions are short. Nothing is asserted; it prints figures. Usage::

    HF_HUB_OFFLINE=1 python bench/dense_index_threshold.py \
        [--sizes 1000,5000,20000,50000,100000] [--real 2000] [--queries 200]

Measured on the 2-core, 24 GiB development machine (faiss-cpu 1.15, shared with
other work, so figures vary ±30% between runs):

    n        flat p50/p99    hnsw32 ef64 p99 / recall   hnsw build   ivf build
    1k       0.06/0.13 ms    0.08 ms / 1.00              0.06 s      0.05 s
    5k       0.29/0.47 ms    0.15 ms / 1.00              0.6 s       0.12 s
    20k      1.1/1.9 ms      0.23 ms / 0.99              3.2 s       0.35 s
    50k      3.4/5.7 ms      0.30 ms / 0.98              9.6 s       0.9 s
    100k     7.1/10.4 ms     0.40 ms / 0.97              22 s        2.0 s

Decision: exact search up to 50,000 vectors, HNSW (M=32, efSearch=64) above.
Exact p99 stays under ~6 ms up to 50k vectors — small next to the ~10 ms the
model needs to embed the question, and it is exact and costs nothing to build,
which matters because the index is rebuilt at the end of every ingestion run
(the ≤5 s incremental-ingest budget for a ~30k-chunk project). Above that,
exact latency grows linearly (≈10 ms at 100k, more under concurrent queries on
two cores) while HNSW stays well under a millisecond with recall@10 ≥ 0.97.
HNSW is preferred over IVF-Flat because its recall does not depend on a
training sample and it needs no retraining as a project grows; its build cost
(~10-20 s at 50-100k on 2 cores) is paid only by projects that large.
"""

from __future__ import annotations

import argparse
import glob
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from projectqa.server.embedding import Embedder

DIM = 384
HNSW_M = 32
EF_SEARCH = (32, 64, 128)
NPROBE = (8, 16, 32)


def source_texts(count: int, lines: int, seed: int) -> tuple[list[str], list[str]]:
    """``count`` chunks of ``lines`` lines of installed Python files, and docstring lines."""
    site = Path(np.__file__).parents[1]
    files = sorted(glob.glob(f"{site}/**/*.py", recursive=True))
    random.Random(seed).shuffle(files)
    chunks: list[str] = []
    questions: list[str] = []
    for name in files:
        try:
            text = Path(name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        questions += [s.strip(' "') for s in text if s.strip().startswith('"""') and len(s) > 30]
        for start in range(0, len(text) - lines, lines * 3):
            chunks.append(name[len(str(site)) + 1 :] + "\n" + "\n".join(text[start : start + lines]))
        if len(chunks) >= count:
            break
    return chunks[:count], questions


def real_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    cache = Path(args.cache)
    if cache.exists():
        saved = np.load(cache)
        if len(saved["base"]) >= args.real and len(saved["queries"]) >= args.queries:
            return saved["base"][: args.real], saved["queries"][: args.queries]
    chunks, questions = source_texts(args.real, 40, seed=1)
    random.Random(2).shuffle(questions)
    embedder = Embedder()
    started = time.perf_counter()
    base = embedder.encode(chunks)
    print(f"embedded {len(chunks)} chunks in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    queries = embedder.encode(questions[: args.queries])
    np.savez(cache, base=base, queries=queries)
    return base, queries


def replicate(base: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """``n`` vectors: ``base`` repeated, each copy moved by small Gaussian noise."""
    rng = np.random.default_rng(seed)
    picked = base[rng.integers(0, len(base), n)]
    moved = picked + rng.normal(0, noise / np.sqrt(DIM), picked.shape).astype(np.float32)
    originals = min(n, len(base))
    moved[:originals] = base[:originals]
    faiss.normalize_L2(moved)
    return moved


def latencies(search: Callable[[np.ndarray], object], queries: np.ndarray) -> list[float]:
    search(queries[:1])
    samples = []
    for row in range(len(queries)):
        started = time.perf_counter()
        search(queries[row : row + 1])
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def report(name: str, build_s: float, samples: list[float], rec: float, mem_mb: float) -> None:
    print(
        f"  {name:<16} build {build_s:7.2f} s  p50 {statistics.median(samples):7.3f} ms"
        f"  p99 {percentile(samples, 0.99):7.3f} ms  recall@10 {rec:5.3f}  memory {mem_mb:7.1f} MB"
    )


def index_mb(index: faiss.Index) -> float:
    return len(faiss.serialize_index(index)) / 2**20


def bench_size(vectors: np.ndarray, queries: np.ndarray) -> None:
    n = len(vectors)
    print(f"n = {n}")
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    build = time.perf_counter() - started
    _, truth = flat.search(queries, 10)
    report("flat", build, latencies(lambda q: flat.search(q, 10), queries), 1.0, index_mb(flat))

    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(vectors)
    build = time.perf_counter() - started
    for ef in EF_SEARCH:
        hnsw.hnsw.efSearch = ef
        _, found = hnsw.search(queries, 10)
        samples = latencies(lambda q: hnsw.search(q, 10), queries)
        report(f"hnsw{HNSW_M} ef{ef}", build, samples, recall(found, truth), index_mb(hnsw))

    nlist = max(1, int(np.sqrt(n)))
    started = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.add(vectors)
    build = time.perf_counter() - started
    for nprobe in NPROBE:
        ivf.nprobe = nprobe
        _, found = ivf.search(queries, 10)
        samples = latencies(lambda q: ivf.search(q, 10), queries)
        report(f"ivf{nlist} np{nprobe}", build, samples, recall(found, truth), index_mb(ivf))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000,50000,100000")
    parser.add_argument("--real", type=int, default=2000, help="chunks to embed for real")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.3, help="norm of the copies' noise")
    parser.add_argument("--cache", default="/tmp/projectqa-dense-bench.npz")
    args = parser.parse_args()
    base, queries = real_vectors(args)
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, dim {DIM}")
    for n in (int(size) for size in args.sizes.split(",")):
        bench_size(replicate(base, n, args.noise, seed=n), queries)


if __name__ == "__main__":
    main()
