"""Search latency (p50/p95/p99 per stage), index build time and index memory at 10k/100k chunks.

What it does, per size:

1. reads the Django source distribution ``bench/ingest_django.py`` caches (pip
   downloads it if missing), skipping locale and binary files, and chunks every
   file with the real chunker (``read_document``: chunks and symbols);
2. takes whole documents in a seeded random order until the size is reached;
   beyond the ~40k real chunks it adds copies of the real documents under
   ``copyN/`` paths (real text, so BM25 statistics stay those of real code);
3. vectors: ``--real`` chunks are embedded with the real model (cached in
   ``bench/.work/search_bench/real_vectors.npz``); every other chunk gets the
   real vector of a sampled chunk of its document (else its folder, else any)
   plus Gaussian noise of norm ``--noise``, re-normalised; a copy gets its
   original's vector plus fresh noise. The output says so;
4. writes a real SqliteStore through the Store API (project, connector,
   ``write_documents``, ``put_embeddings`` under each chunk's embed hash, one
   generation bump), reused across runs when the corpus spec is unchanged;
5. times a cold index build (``IndexManager.drop`` then ``rebuild``), then
   ``Searcher.search`` with the real embedder for ``--queries`` distinct
   questions and identifier queries made from templates over real symbol
   names and docstrings (distinct, so the query-embedding cache never hits;
   a fresh Searcher per mode), after a short warm-up; the corpus is freed
   first, so the garbage collector scans what a server holds (the embedding
   model's modules are most of it), and its full passes are counted and timed;
6. memory: RSS of this process before and after the build, and in a fresh
   process the RSS delta of loading the built index from disk
   (``IndexManager.get``), plus what tracemalloc sees of it (Python objects and
   numpy arrays) and the FAISS index's serialized size (C++ memory
   tracemalloc cannot see).

7. long questions (``--long-chars 2000,16000``): hybrid Search p50/p99 for pasted
   bug reports of exactly that many characters, each distinct: a title, a Python
   traceback whose frames are real functions of the corpus (path, line, name), the
   error line, then prose of real docstring sentences (``--long-only`` skips the
   short questions and the memory probes). ``--compare REV`` searches each report with
   the fusion stage (``rank.py``, ``symbols.py``) of git revision REV and with the
   working tree's in turn, in this process, and prints both (``bench/fusion_ab.py``
   times that stage alone and checks both give identical results).

Nothing is asserted; it prints figures. Usage::

    HF_HUB_OFFLINE=1 python bench/search_latency.py [--sizes 10000,100000] [--queries 200]
        [--long-chars 2000,16000] [--long-queries 40] [--long-only] [--compare REV]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sdists import sdist_archive

from projectqa.server.chunking import ChunkDraft, SymbolDraft, language_of, read_document
from projectqa.server.embedding import shared_embedder, vector_to_bytes
from projectqa.server.index.manager import IndexManager
from projectqa.server.ingestion.pipeline import embed_text, vector_hash
from projectqa.server.models import (
    Chunk,
    Connector,
    Document,
    DocumentWrite,
    Project,
    Symbol,
    new_id,
    utcnow,
)
from projectqa.server.retrieval import long_questions
from projectqa.server.retrieval import search as search_module
from projectqa.server.retrieval.entry_points import entry_points
from projectqa.server.retrieval.query import SearchMode, SearchQuery
from projectqa.server.retrieval.search import Searcher
from projectqa.server.sources import DocumentKind, SourceDocument
from projectqa.server.store.sqlite import SqliteStore

WORK = Path(__file__).resolve().parent / ".work"
BENCH = WORK / "search_bench"
STAGES = ("embed", "dense", "keyword", "fusion", "fetch")
SKIPPED = re.compile(r"/locale/|\.(mo|png|gif|jpe?g|ico|dbf|shx|shp|prj|zip|gz|woff2?|sqlite3)$")
WRITE_BATCH = 200  # documents per write_documents call
WARM_UP = 10
SAMPLE_POOL = 10_000  # real embeddings are sampled from the first 10k chunks of the plan


@dataclass(frozen=True, slots=True)
class Source:
    """One real file of the sdist, chunked."""

    path: str
    text: str
    language: str
    drafts: list[ChunkDraft]
    symbols: list[SymbolDraft]
    first: int  # index of its first chunk among all real chunks


# ----------------------------------------------------------------- corpus
def read_sources(version: str) -> list[Source]:
    """Every text file of the sdist (no locale, no binaries, at most 1 MiB), chunked."""
    sources: list[Source] = []
    first = 0
    with tarfile.open(sdist_archive("django", version)) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            path = member.name.split("/", 1)[-1]
            if not member.isfile() or SKIPPED.search(path) or member.size > 2**20:
                continue
            raw = tar.extractfile(member).read()  # type: ignore[union-attr]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if "\0" in text:
                continue
            doc = SourceDocument(path, DocumentKind.FILE, text, path=path)
            drafts, symbols = read_document(doc)
            if drafts:
                sources.append(Source(path, text, language_of(path), drafts, symbols, first))
                first += len(drafts)
    return sources


def plan(sources: list[Source], size: int, seed: int) -> list[tuple[int, Source]]:
    """(copy number, source) pairs in a seeded order until ``size`` chunks; copy 0 is real."""
    order = list(sources)
    random.Random(seed).shuffle(order)
    picked: list[tuple[int, Source]] = []
    chunks, copy = 0, 0
    while chunks < size:
        for source in order:
            picked.append((copy, source))
            chunks += len(source.drafts)
            if chunks >= size:
                break
        copy += 1
    return picked


def copy_path(copy: int, path: str) -> str:
    return f"copy{copy}/{path}" if copy else path


def embed_text_of(path: str, draft: ChunkDraft) -> str:
    return embed_text(path, path, "", draft.symbol, draft.text, "file")


# ---------------------------------------------------------------- vectors
def real_vectors(sources: list[Source], pool: list[tuple[int, Source]], count: int) -> dict:
    """Real embeddings of ``count`` chunks sampled from ``pool``: {real chunk index: vector}."""
    candidates = [s.first + i for _, s in pool for i in range(len(s.drafts))]
    sample = sorted(random.Random(7).sample(candidates, min(count, len(candidates))))
    by_index = {s.first + i: (s, d) for s in sources for i, d in enumerate(s.drafts)}
    texts = {i: embed_text_of(by_index[i][0].path, by_index[i][1]) for i in sample}
    cache = BENCH / "real_vectors.npz"
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as saved:
            known = dict(zip(saved["hashes"].tolist(), saved["vectors"], strict=True))
    missing = [i for i in sample if vector_hash(texts[i]) not in known]
    if missing:
        started = time.perf_counter()
        encoded = shared_embedder().encode([texts[i] for i in missing])
        print(f"embedded {len(missing)} real chunks in {time.perf_counter() - started:.0f} s")
        known.update((vector_hash(texts[i]), v) for i, v in zip(missing, encoded, strict=True))
        hashes = list(known)
        np.savez(cache, hashes=np.array(hashes), vectors=np.stack([known[h] for h in hashes]))
    return {i: known[vector_hash(texts[i])] for i in sample}


def noisy(base: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    vectors = base + rng.normal(0, noise / np.sqrt(base.shape[-1]), base.shape).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def original_vectors(sources: list[Source], real: dict, noise: float) -> np.ndarray:
    """A vector per real chunk: its own if embedded, else a near neighbour's plus noise."""
    total = sources[-1].first + len(sources[-1].drafts)
    by_doc: dict[str, list[int]] = {}
    by_dir: dict[str, list[int]] = {}
    for s in sources:
        for i in range(s.first, s.first + len(s.drafts)):
            if i in real:
                by_doc.setdefault(s.path, []).append(i)
                by_dir.setdefault(s.path.rsplit("/", 1)[0], []).append(i)
    everything = sorted(real)
    rng = np.random.default_rng(11)
    base = np.zeros((total, len(real[everything[0]])), dtype=np.float32)
    for s in sources:
        near = by_doc.get(s.path) or by_dir.get(s.path.rsplit("/", 1)[0]) or everything
        for i in range(s.first, s.first + len(s.drafts)):
            base[i] = real[i] if i in real else real[near[int(rng.integers(len(near)))]]
    vectors = noisy(base, noise, rng)
    for i, vector in real.items():
        vectors[i] = vector
    return vectors


# ------------------------------------------------------------------ store
def write_store(
    store: SqliteStore, picked: list[tuple[int, Source]], base: np.ndarray, noise: float
) -> str:
    """One project and connector holding ``picked``; returns the project id."""
    now = utcnow()
    project = Project(new_id("prj"), "django", "Django", "search bench", now, now)
    store.create_project(project)
    connector = Connector(new_id("con"), project.id, "local", "django", {}, {}, now, now)
    store.create_connector(connector)
    rng = np.random.default_rng(13)
    for start in range(0, len(picked), WRITE_BATCH):
        batch: list[DocumentWrite] = []
        vectors: dict[str, bytes] = {}
        for copy, source in picked[start : start + WRITE_BATCH]:
            write, hashes = document_write(connector, copy, source, now)
            batch.append(write)
            rows = base[source.first : source.first + len(source.drafts)]
            rows = noisy(rows, noise, rng) if copy else rows
            vectors.update((h, vector_to_bytes(v)) for h, v in zip(hashes, rows, strict=True))
        store.put_embeddings(shared_embedder().name, vectors)
        store.write_documents(batch)
    store.bump_index_generation(project.id)
    return project.id


def document_write(
    connector: Connector, copy: int, source: Source, now: object
) -> tuple[DocumentWrite, list[str]]:
    path = copy_path(copy, source.path)
    doc_id = new_id("doc")
    document = Document(
        id=doc_id,
        project_id=connector.project_id,
        connector_id=connector.id,
        key=path,
        kind="file",
        title="",
        path=path,
        url="",
        version="",
        content_hash=hashlib.sha256(f"{path}\0{source.text}".encode()).hexdigest(),
        language=source.language,
        metadata={},
        scan_id="bench",
        chunk_count=len(source.drafts),
        updated_at=now,  # type: ignore[arg-type]
        line_count=len(source.text.splitlines()),
    )
    hashes = [vector_hash(embed_text_of(path, d)) for d in source.drafts]
    chunks = [
        Chunk(
            id=new_id("chk"),
            project_id=connector.project_id,
            connector_id=connector.id,
            document_id=doc_id,
            document_key=path,
            kind="file",
            path=path,
            url="",
            title="",
            ordinal=ordinal,
            start_line=d.start_line,
            end_line=d.end_line,
            symbol=d.symbol,
            symbol_kind=d.symbol_kind,
            language=d.language or source.language,
            text=d.text,
            embed_hash=digest,
        )
        for ordinal, (d, digest) in enumerate(zip(source.drafts, hashes, strict=True))
    ]
    symbols = [
        Symbol(
            id=f"{doc_id}:{ordinal}",
            project_id=connector.project_id,
            connector_id=connector.id,
            document_id=doc_id,
            path=path,
            name=s.name,
            kind=s.kind,
            start_line=s.start_line,
            end_line=s.end_line,
            language=s.language,
        )
        for ordinal, s in enumerate(source.symbols)
    ]
    return DocumentWrite(document, chunks, symbols), hashes


def open_store(
    size: int, spec: dict, sources: list[Source], base: np.ndarray, noise: float
) -> tuple[SqliteStore, str, Path]:
    """The size's store (reused when built with the same ``spec``), project id, index root."""
    folder = BENCH / f"size-{size}"
    saved = folder / "spec.json"
    if saved.exists() and json.loads(saved.read_text()).get("spec") == spec:
        store = SqliteStore(folder / "store.sqlite3").open()
        print(f"reusing the store in {folder}")
        return store, json.loads(saved.read_text())["project_id"], folder / "indexes"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store = SqliteStore(folder / "store.sqlite3").open()
    started = time.perf_counter()
    project_id = write_store(store, plan(sources, size, spec["seed"]), base, noise)
    print(f"wrote the store in {time.perf_counter() - started:.0f} s ({folder})")
    saved.write_text(json.dumps({"spec": spec, "project_id": project_id}))
    return store, project_id, folder / "indexes"


# ---------------------------------------------------------------- queries
def make_queries(picked: list[tuple[int, Source]], count: int, seed: int) -> list[str]:
    """Distinct questions and identifier queries over the names and docstrings of ``picked``.

    Four in five are about the library (``django/``), one in five about its tests:
    tests hold most of Django's definitions but are not what most people ask about.
    """
    rng = random.Random(seed)
    library = [s for copy, s in picked if copy == 0 and s.path.startswith("django/")]
    tests = [s for copy, s in picked if copy == 0 and not s.path.startswith("django/")]
    pools = [
        [(s.path, y) for s in group for y in s.symbols if len(y.name) > 3]
        for group in (library, tests)
    ]
    docs = [
        m.group(1).rstrip(".")
        for s in library
        if s.path.endswith(".py")
        for m in re.finditer(r'"""([A-Z][a-z][^\n"]{25,90})', s.text)
    ]
    templates = (
        lambda p, s: f"how does {words(s.name)} work?",
        lambda p, s: f"where is {words(s.name.split('.')[-1])} implemented",
        lambda p, s: f"what does {s.name} do?",
        lambda p, s: f"why would {s.name.split('.')[0]} raise an error",
        lambda p, s: f"`{s.name.split('.')[-1]}`",
        lambda p, s: s.name,
        lambda p, s: f"{p} {s.name.split('.')[-1]}",
        lambda p, s: (
            f'File "{p}", line {s.start_line + 2}, in {s.name.split(".")[-1]}'
            if s.kind in ("function", "method")
            else f"{p}:{s.start_line}"
        ),
        lambda p, s: f"where do we {rng.choice(docs).lower()}?",
    )
    queries: dict[str, None] = {}
    while len(queries) < count:
        path, symbol = rng.choice(pools[0] if rng.random() < 0.8 or not pools[1] else pools[1])
        queries[rng.choice(templates)(path, symbol)] = None
    return list(queries)


def make_reports(picked: list[tuple[int, Source]], count: int, chars: int, seed: int) -> list[str]:
    """Distinct bug reports of exactly ``chars`` characters: title, traceback of real
    frames, error line, then real docstring sentences as prose."""
    rng = random.Random(seed)
    library = [s for copy, s in picked if copy == 0 and s.path.startswith("django/")]
    frames = [(s.path, y) for s in library for y in s.symbols if y.kind in ("function", "method")]
    sentences = [
        m.group(1)
        for s in library
        if s.path.endswith(".py")
        for m in re.finditer(r'"""([A-Z][a-z][^"]{25,300}?\.)', s.text)
    ]
    reports: dict[str, None] = {}
    while len(reports) < count:
        stack = rng.sample(frames, rng.randint(3, 8))
        last = stack[-1][1].name.split(".")[-1]
        lines = [f"{words(last).capitalize()} fails with a ValueError after upgrading", ""]
        lines += ["Traceback (most recent call last):"]
        for path, symbol in stack:
            name = symbol.name.split(".")[-1]
            lines.append(
                f'  File "/srv/venv/lib/python3.12/site-packages/{path}", '
                f"line {symbol.start_line + 2}, in {name}"
            )
            lines.append(f"    result = {name}(request, *args, **kwargs)")
        lines += [f"ValueError: invalid value for {last}", ""]
        text = "\n".join(lines)
        while len(text) < chars:
            text += " " + " ".join(rng.sample(sentences, 3)).replace("\n", " ")
        reports[text[:chars]] = None
    return list(reports)


def bench_long(
    store: SqliteStore, indexes: IndexManager, project_id: str, reports: dict, compare: str = ""
) -> None:
    """Hybrid Search of pasted bug reports, per report length; with ``compare`` (a git
    revision), each report is searched by that revision's fusion stage and by this one's
    in turn (see ``versions``)."""
    for chars, texts in reports.items():
        runs = versions(compare, indexes.get(project_id)) if compare else {"": nullcontext}
        if compare:
            # Found once per index generation (~50 ms at 100k chunks) by whichever version
            # first meets a question asking where the program starts: paid before timing.
            entry_points(indexes.get(project_id).table)
        # A fresh Searcher per version: each embeds every report once (no cache hit).
        searchers = {name: Searcher(store, indexes, shared_embedder()) for name in runs}
        samples: dict[str, dict] = {name: {} for name in runs}
        for name, active in runs.items():
            with active():
                time_mode(searchers[name], project_id, texts[:WARM_UP], SearchMode.HYBRID)
        for turn, text in enumerate(texts[WARM_UP:]):
            names = list(runs) if turn % 2 == 0 else list(reversed(runs))  # who goes first
            for name in names:
                with runs[name]():
                    found = time_mode(searchers[name], project_id, [text], SearchMode.HYBRID)
                for key, values in found.items():
                    samples[name].setdefault(key, []).extend(values)
        for name, found in samples.items():
            label = f"{name} code, " if name else ""
            print(
                f" hybrid, {label}bug reports of {chars} characters "
                f"({len(texts) - WARM_UP} distinct, ms; load average {os.getloadavg()[0]:.2f})"
            )
            for stage in ("total", *STAGES, "other"):
                if found.get(stage):
                    print(line(stage, found[stage]))
            print_collections(found["full gc"])


def versions(revision: str, index) -> dict[str, Callable[[], AbstractContextManager]]:
    """Context managers that make ``Searcher.search`` use the fusion stage (``rank.py``,
    ``symbols.py``) of ``revision`` ("old") or of the working tree ("new")."""
    import fusion_ab  # a sibling script: loads a revision's module from git

    package = "projectqa.server"
    old_rank = fusion_ab.old_module(
        revision, "server/retrieval/rank.py", "_old_rank", f"{package}.retrieval"
    )
    old_symbols = fusion_ab.old_module(
        revision, "server/index/symbols.py", "_old_sym", f"{package}.index"
    )
    new_class = type(index.symbols)

    @contextmanager
    def old() -> Iterator[None]:
        names = ("Rescorer", "Definition", "fuse", "group")
        saved = {name: getattr(search_module, name) for name in names}
        for name in names:
            setattr(search_module, name, getattr(old_rank, name))
        index.symbols.__class__ = old_symbols.SymbolIndex  # same fields, old methods
        try:
            yield
        finally:
            index.symbols.__class__ = new_class
            for name, value in saved.items():
                setattr(search_module, name, value)

    return {"old": old, "new": nullcontext}


def print_collections(pauses: list[float]) -> None:
    """The garbage collector's full passes during the timed queries: one lands in one
    query, and among 40 that query is the p99."""
    if pauses:
        print(
            f"  full garbage collections during these queries: {len(pauses)}, "
            f"{statistics.fmean(pauses):.0f} ms each ({len(gc.get_objects())} tracked objects)"
        )


def words(name: str) -> str:
    """``ModelAdmin.get_queryset`` -> ``model admin get queryset``: how people ask."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace(".", " ").replace("_", " "))
    return " ".join(spaced.lower().split())


# ---------------------------------------------------------------- figures
def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, samples: list[float]) -> str:
    return (
        f"  {name:<8} p50 {statistics.median(samples):7.2f}  p95 {percentile(samples, 0.95):7.2f}"
        f"  p99 {percentile(samples, 0.99):7.2f}  mean {statistics.fmean(samples):7.2f} ms"
    )


def rss_mib() -> float:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


class FullCollections:
    """Times the garbage collector's full (generation 2) passes while it is active."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


def time_mode(searcher: Searcher, project_id: str, queries: list[str], mode: SearchMode) -> dict:
    samples: dict[str, list[float]] = {name: [] for name in ("total", *STAGES, "other")}
    hits = 0
    with FullCollections() as collections:
        for text in queries:
            started = time.perf_counter()
            result = searcher.search(project_id, SearchQuery(text, mode))
            total = (time.perf_counter() - started) * 1000
            samples["total"].append(total)
            for stage in STAGES:
                if stage in result.timings or mode is SearchMode.HYBRID:
                    samples[stage].append(result.timings.get(stage, 0.0))
            samples["other"].append(total - sum(result.timings.values()))
            hits += len(result.hits)
    samples["hits/query"] = [hits / len(queries)]
    samples["full gc"] = collections.pauses
    return samples


def bench_search(
    store: SqliteStore, indexes: IndexManager, project_id: str, queries: list[str]
) -> None:
    for mode in (SearchMode.HYBRID, SearchMode.DENSE, SearchMode.KEYWORD):
        searcher = Searcher(store, indexes, shared_embedder())  # fresh query-embedding cache
        time_mode(searcher, project_id, queries[:WARM_UP], mode)
        samples = time_mode(searcher, project_id, queries[WARM_UP:], mode)
        print(
            f" {mode.value} ({len(queries) - WARM_UP} distinct queries, ms;"
            " 'other' = total - stages)"
        )
        names = ("total", *STAGES, "other") if mode is SearchMode.HYBRID else ("total",)
        for name in names:
            if samples[name]:
                print(line(name, samples[name]))
        means = {s: statistics.fmean(samples[s]) for s in STAGES if samples[s]}
        top = max(means, key=means.__getitem__)
        print(
            f"  largest stage: {top} ({means[top]:.2f} ms mean); "
            f"{samples['hits/query'][0]:.1f} hits/query"
        )
        print_collections(samples["full gc"])


def measure_load(args) -> None:
    """In a fresh process: load the built index from disk; print memory figures as JSON."""
    if args.trace:
        tracemalloc.start()
    store = SqliteStore(Path(args.store)).open()
    indexes = IndexManager(store, Path(args.index_root), shared_embedder().name)
    before = rss_mib()
    started = time.perf_counter()
    index = indexes.get(args.project)
    figures = {"load_s": time.perf_counter() - started, "before": before, "after": rss_mib()}
    if args.trace:
        figures["traced"] = tracemalloc.get_traced_memory()[0] / 2**20
    import faiss  # after the measurement: serializing allocates

    dense = index._dense._index  # a bench may look inside
    figures["faiss"] = len(faiss.serialize_index(dense)) / 2**20 if dense is not None else 0.0
    figures["chunks"] = len(index)
    print(json.dumps(figures))


def load_figures(store: SqliteStore, root: Path, project_id: str, trace: bool) -> dict:
    command = [sys.executable, __file__, "--load", project_id, "--store", str(store.path)]
    command += ["--index-root", str(root)] + (["--trace"] if trace else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@dataclass(slots=True)
class Prepared:
    """A size's store, ready to index and search."""

    size: int
    store: SqliteStore
    project_id: str
    root: Path  # of the indexes
    documents: int
    copies: int  # rounds of copies beyond the real documents
    queries: list[str]
    reports: dict[int, list[str]]  # characters -> bug reports of that length
    compare: str  # a git revision whose fusion stage is timed in turn with this one's


def prepare_size(size: int, sources: list[Source], base: np.ndarray, args) -> Prepared:
    spec = {"size": size, "seed": 5, "real": args.real, "noise": args.noise, "v": args.version}
    store, project_id, root = open_store(size, spec, sources, base, args.noise)
    picked = plan(sources, size, spec["seed"])
    copies = max(copy for copy, _ in picked)
    queries = [] if args.long_only else make_queries(picked, args.queries + WARM_UP, 3)
    reports = {
        chars: make_reports(picked, args.long_queries + WARM_UP, chars, 7)
        for chars in args.long_chars
    }
    return Prepared(
        size, store, project_id, root, len(picked), copies, queries, reports, args.compare
    )


def bench_size(prepared: Prepared) -> None:
    store, project_id, root = prepared.store, prepared.project_id, prepared.root
    chunks = store.count_chunks(project_id)
    print(
        f"\n== {chunks} chunks, {prepared.documents} documents "
        f"({prepared.copies} copies beyond the real)"
    )
    indexes = IndexManager(store, root, shared_embedder().name)
    rss_before = rss_mib()
    indexes.drop(project_id)
    started = time.perf_counter()
    manifest = indexes.rebuild(project_id)
    build_s = time.perf_counter() - started
    print(
        f" index build (cold, from the Store, saved) {build_s:.1f} s: {manifest.dense_kind}, "
        f"{manifest.vectors} vectors; RSS {rss_before:.0f} -> {rss_mib():.0f} MiB (this process)"
    )
    if prepared.queries:
        bench_search(store, indexes, project_id, prepared.queries)
    bench_long(store, indexes, project_id, prepared.reports, prepared.compare)
    if not prepared.queries:  # --long-only
        store.close()
        return
    plain, traced = (load_figures(store, root, project_id, t) for t in (False, True))
    delta = plain["after"] - plain["before"]
    per_k = 1000 / chunks
    print(
        f" memory of the loaded index (fresh process, IndexManager.get from disk in "
        f"{plain['load_s']:.2f} s): RSS {plain['before']:.0f} -> {plain['after']:.0f} MiB, "
        f"+{delta:.1f} MiB = {delta * per_k:.2f} MiB per 1,000 chunks"
    )
    heap = traced["traced"] + traced["faiss"]
    print(
        f"  cross-check: tracemalloc {traced['traced']:.1f} MiB (Python objects, numpy) + "
        f"FAISS {traced['faiss']:.1f} MiB (serialized size; C++ memory tracemalloc cannot "
        f"see) = {heap:.1f} MiB = {heap * per_k:.2f} MiB per 1,000 chunks"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--real", type=int, default=1000, help="chunks embedded for real")
    parser.add_argument("--noise", type=float, default=0.3, help="norm of the synthetic noise")
    parser.add_argument("--version", default="5.2.8", help="Django sdist version")
    parser.add_argument(
        "--long-chars",
        type=lambda v: [int(c) for c in v.split(",") if c],
        default=[],
        help="also time hybrid Search of bug reports of these lengths, e.g. 2000,16000",
    )
    parser.add_argument("--long-queries", type=int, default=40, help="bug reports per length")
    parser.add_argument("--long-only", action="store_true", help="time only the bug reports")
    parser.add_argument(
        "--compare",
        default="",
        help="a git revision: time the bug reports with its rank.py/symbols.py and with the "
        "working tree's in turn, in this process",
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: the fresh-process probe
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--index-root", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        args.project = args.load
        measure_load(args)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    BENCH.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sources = read_sources(args.version)
    total = sum(len(s.drafts) for s in sources)
    print(
        f"Django {args.version}: {len(sources)} files, {total} real chunks "
        f"(chunked in {time.perf_counter() - started:.0f} s)"
    )
    real = real_vectors(sources, plan(sources, SAMPLE_POOL, 5), args.real)
    base = original_vectors(sources, real, args.noise)
    print(
        f"vectors: {len(real)} real chunk embeddings (all-MiniLM-L6-v2); every other chunk "
        f"is a sampled real vector of its document/folder + Gaussian noise of norm "
        f"{args.noise}, re-normalised; copies add fresh noise to their original's"
    )
    prepared = [prepare_size(size, sources, base, args) for size in sizes]
    # The corpus is not the server's: gone before timing, so the collector sees a server's heap.
    del sources, base, real
    gc.collect()
    shared_embedder().warm_up()
    print(
        f"query embedder: {shared_embedder().name} (the product's default, PROJECTQA_EMBEDDER); "
        f"a long question's dense text: at most {long_questions.DENSE_PIECES} word pieces"
    )
    for each in prepared:
        bench_size(each)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
