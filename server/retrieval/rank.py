"""Fusion and re-scoring: from two ranked candidate lists to one ranked list of rows.

1. **Weighted reciprocal rank fusion** of the dense and keyword candidates,
   normalised so a row first in both lists scores 1. A row that has no vector
   yet (a run embeds behind) takes its keyword rank for its dense one, so it
   scores what keyword-only search scores it instead of sinking below every
   embedded row. The dense weight follows how sure the dense list is, read
   off its best cosine (``dense_confidence``): rank fusion alone ignores
   scores, so a list of weak guesses would bury a few strong keyword hits.
2. **Re-scoring of the head** with what the question says about code structure:
   a chunk that *defines* an identifier the question names (``Session.request``,
   ``get_auth``, a stack trace's function) outranks chunks that merely use it;
   a file the question names (a path, a trace line, a dotted module) and the
   chunk holding a named line rise; a chunk whose symbol name is spelled out by
   the question's words (``default_user_agent`` for "where is the default user
   agent built") gets a smaller lift; test files step back unless the question
   is about tests (benchmark code too, unless it asks about benchmarks).
   Definitions the question names join the candidates even when
   neither ranker found them. Prose (markdown, rst) steps back a little and
   changelogs more, unless the question asks for documentation or history: on
   the evaluation sets they matched questions about code by sharing its words.
   Machine-made files (vendored, generated, test and evaluation data: a question
   set shares every word of the questions it holds) step back unless the question
   names them (or, for data, asks about tests). A question asking where the
   program starts lifts its entry points (``entry_points.py``), which join the
   candidates too: "main" is rarely a word of the question.
3. **Grouping**: at most ``max_per_document`` rows per document, best first.

The weights were tuned on the question sets in ``bench/eval`` (see
``bench/eval_retrieval.py`` and docs/RETRIEVAL.md for the figures).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from ..chunking.machine_made import machine_made_path
from ..index.table import ChunkTable, path_components
from ..index.tokens import tokenize, word_tokens
from .entry_points import asks_for_entry_point, entry_points
from .evidence import Evidence, Mention

_CHANGELOG = re.compile(r"(^|/)(CHANGES|CHANGELOG|HISTORY|NEWS|RELEASE[-_]?NOTES)[^/]*$", re.I)
_PROSE = frozenset({"markdown", "rst", "text", ""})
_TEST_PATH = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_test\.\w+$|(^|/)conftest\.py$")
# Benchmarks drive the program as tests do, and share the words of questions about it.
_BENCH_PATH = re.compile(r"(^|/)(bench|benches|benchmarks?)/")
_ASKS_FOR_BENCH = re.compile(r"\bbench(?:mark)?(?:s|ing|ed)?\b", re.I)


def is_test_path(path: str) -> bool:
    """Whether ``path`` is a test file or helper (``tests/``, ``test_x.py``, ``x_test.go``,
    ``conftest.py``): the one definition ranking and file search share."""
    return _TEST_PATH.search(path) is not None


@dataclass(frozen=True, slots=True)
class RankWeights:
    dense: float = 1.0
    keyword: float = 0.7
    rrf_k: int = 20  # small: the top ranks of each list matter more than plain RRF's 60
    candidates: int = 100  # taken from each ranker
    # The dense list's weight follows its best cosine when a keyword list is fused with it:
    # full from ``dense_sure`` (the lowest best cosine of the evaluation sets' questions is
    # 0.38), falling linearly to ``dense_least`` of it at ``dense_unsure`` (off-topic
    # questions reach more) and below. ``dense_sure <= dense_unsure`` switches it off.
    dense_unsure: float = 0.2
    dense_sure: float = 0.4
    dense_least: float = 0.1
    head: int = 60  # fused rows re-scored
    definition: float = 1.0  # the chunk defines an identifier the question names
    mention: float = 0.25  # the question names the chunk's file
    mention_line: float = 0.35  # ... and a line inside the chunk
    symbol_words: float = 0.12  # the question's words spell the chunk's symbol name
    test_factor: float = 0.6  # test files, unless the question is about tests
    prose_factor: float = 0.75  # markdown/rst/text, unless the question asks for docs
    changelog_factor: float = 0.5  # CHANGES, HISTORY, commits, … unless the question asks
    machine_made_factor: float = 0.5  # vendored, generated, test data, unless named
    entry_point: float = 0.4  # the question asks where the program starts


@dataclass(slots=True)
class Candidate:
    row: int
    dense_rank: int = 0  # 1-based; 0 = not a dense candidate
    keyword_rank: int = 0
    score: float = 0.0


def fuse(
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
    weights: RankWeights,
    has_vector: np.ndarray | None = None,
) -> dict[int, Candidate]:
    """Weighted RRF of two best-first lists of (row, score), normalised to at most 1.

    ``has_vector`` (one bool per row; None: every row has one) marks the rows the
    dense ranker could have found. A row without a vector yet (a run is still
    embedding it) has no dense rank for want of a vector, not for want of
    relevance, so its missing dense term is imputed from its keyword rank: it
    scores exactly what keyword-only search scores it, and a fully embedded
    index ranks as before.
    """
    found: dict[int, Candidate] = {}
    # A dense list alone keeps its ranking whatever its confidence: nothing else would order it.
    sureness = dense_confidence(dense[0][1], weights) if dense and keyword else 1.0
    dense_weight = weights.dense * sureness
    for rank, (row, _) in enumerate(dense, 1):
        found.setdefault(row, Candidate(row)).dense_rank = rank
    for rank, (row, _) in enumerate(keyword, 1):
        found.setdefault(row, Candidate(row)).keyword_rank = rank
    k = weights.rrf_k
    top = (dense_weight if dense else 0) + (weights.keyword if keyword else 0)
    lacking = has_vector if dense else None  # no dense list: nothing to impute
    for candidate in found.values():
        score = 0.0
        if candidate.dense_rank:
            score += dense_weight / (k + candidate.dense_rank)
        elif lacking is not None and candidate.keyword_rank and not lacking[candidate.row]:
            score += dense_weight / (k + candidate.keyword_rank)
        if candidate.keyword_rank:
            score += weights.keyword / (k + candidate.keyword_rank)
        candidate.score = score * (k + 1) / top if top else 0.0
    return found


def dense_confidence(best: float, weights: RankWeights) -> float:
    """The share of its weight the dense list keeps when its best cosine is ``best``."""
    unsure, sure = weights.dense_unsure, weights.dense_sure
    if sure <= unsure:
        return 1.0
    least = weights.dense_least
    share = min(1.0, max(0.0, (best - unsure) / (sure - unsure)))
    return least + (1 - least) * share


@dataclass(frozen=True, slots=True)
class Definition:
    """Lines of a document that define a name the question mentions."""

    document_id: str
    start_line: int
    end_line: int


class Rescorer:
    """Applies the question's evidence to fused candidates over one chunk table."""

    def __init__(
        self,
        table: ChunkTable,
        query: str,
        evidence: Evidence,
        definitions: Iterable[Definition],
        weights: RankWeights,
        allowed: np.ndarray | None = None,
    ) -> None:
        self._table = table
        self._weights = weights
        self._evidence = evidence
        self._allowed = allowed
        self._definitions = _by_document(definitions)
        self._mentioned = _resolve_mentions(evidence.mentions, table)
        self._words = {_stem(t) for t in set(tokenize(query))}  # each distinct token once
        self._identifiers = {i.rsplit(".", 1)[-1].lower() for i in evidence.identifiers}
        self._entry_points = entry_points(table) if asks_for_entry_point(query) else {}
        self._wants_bench = evidence.wants_tests or bool(_ASKS_FOR_BENCH.search(query))
        self._defining: np.ndarray | None = None

    def extra_rows(self) -> list[int]:
        """Rows that define a named identifier, or are entry points the question asks
        for, to add to the candidates."""
        rows = list(self._defining_rows())
        rows += sorted(set(self._entry_points).difference(rows))
        if self._allowed is not None:
            rows = [r for r in rows if self._allowed[r]]
        return rows

    def apply(self, candidates: dict[int, Candidate], top_k: int = 0) -> None:
        depth = max(self._weights.head, top_k)  # every row that may be returned is re-scored
        head = sorted(candidates.values(), key=lambda c: -c.score)[:depth]
        head_rows = {c.row for c in head}
        for row in self.extra_rows():
            if row not in head_rows:
                head.append(candidates.setdefault(row, Candidate(row)))
                head_rows.add(row)
        if not head:
            return
        rows = np.fromiter((c.row for c in head), dtype=np.int64, count=len(head))
        scores = np.fromiter((c.score for c in head), dtype=np.float64, count=len(head))
        for candidate, score in zip(head, self._rescored(rows, scores).tolist(), strict=True):
            candidate.score = score

    def _rescored(self, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The head's scores with the evidence applied, row-wise in one pass of array
        operations (each row's additions and factors in the same order as one at a time,
        so the floats are the same): facts of a row's path or symbol are read once per
        distinct path or symbol of the head, from caches kept with the table."""
        weights, table, facts = self._weights, self._table, _facts(self._table)
        path = _PerValue(table["path"].codes, rows)
        symbol = _PerValue(table["symbol"].codes, rows)
        # What the question names: a definition whose lines we know, else a symbol's name.
        defined = np.isin(rows, self._defining_rows())
        named = symbol.spread([facts.short_name(c) in self._identifiers for c in symbol.codes])
        scores = np.where(
            defined,
            scores + weights.definition,
            np.where(named, scores + weights.definition / 2, scores),
        )
        lines = [self._mentioned.get(facts.path(c)) for c in path.codes]
        mentioned = path.spread([line is not None for line in lines])
        line = path.spread([line or 0 for line in lines]).astype(np.int64)
        in_line = (line != 0) & (table.start_line[rows] <= line) & (line <= table.end_line[rows])
        scores = np.where(
            mentioned,
            scores + np.where(in_line, weights.mention_line, weights.mention),
            scores,
        )
        coverage = symbol.spread([self._coverage(facts.name_words(c)) for c in symbol.codes])
        coverage = np.where(facts.wordless_kind[table["symbol_kind"].codes[rows]], 0.0, coverage)
        scores = scores + weights.symbol_words * coverage
        if self._entry_points:
            entry = [self._entry_points.get(r, 0.0) for r in rows.tolist()]
            scores = scores + weights.entry_point * np.asarray(entry, dtype=np.float64)
        test = path.spread([facts.test(c) for c in path.codes])
        bench = path.spread([facts.bench(c) for c in path.codes])
        steps_back = np.where(test, not self._evidence.wants_tests, bench & (not self._wants_bench))
        scores = np.where(steps_back, scores * weights.test_factor, scores)
        made = path.spread([self._steps_back_as_machine_made(facts.made(c)) for c in path.codes])
        scores = np.where(~mentioned & made, scores * weights.machine_made_factor, scores)
        if not self._evidence.wants_docs:
            # A commit record is a changelog entry: history answers when and why, and
            # among a "where" question's hits it takes the place of the code it changed.
            kinds, languages = table["kind"].codes[rows], table["language"].codes[rows]
            changelog = path.spread([facts.changelog(c) for c in path.codes])
            changelog |= facts.commit_kind[kinds]
            prose = facts.file_kind[kinds] & facts.prose_language[languages]
            scores = np.where(
                changelog,
                scores * weights.changelog_factor,
                np.where(prose, scores * weights.prose_factor, scores),
            )
        return scores

    def _defining_rows(self) -> np.ndarray:
        """The rows whose lines overlap a named definition of their document, document
        by document in the definitions' order (found once per question, in one array
        comparison of each definition with its document's rows)."""
        if self._defining is None:
            groups = [self._table.rows_of("document", d) for d in self._definitions]
            rows = np.concatenate([np.zeros(0, dtype=np.int64), *groups]).astype(np.int64)
            sizes = np.array([len(g) for g in groups], dtype=np.int64)
            firsts = np.cumsum(sizes) - sizes  # where each document's rows start in ``rows``
            spans = [(d, s, e) for d, ss in enumerate(self._definitions.values()) for s, e in ss]
            document, start, end = np.array(spans, dtype=np.int64).reshape(-1, 3).T
            # One (definition, row of its document) pair per comparison.
            span = np.repeat(np.arange(len(spans)), sizes[document])
            pair_firsts = np.cumsum(sizes[document]) - sizes[document]
            at = firsts[document][span] + np.arange(len(span)) - pair_firsts[span]
            overlaps = (self._table.start_line[rows[at]] <= end[span]) & (
                start[span] <= self._table.end_line[rows[at]]
            )
            hit = np.zeros(len(rows), dtype=bool)
            hit[at[overlaps]] = True
            self._defining = rows[hit]
        return self._defining

    def _coverage(self, words: tuple[str, ...]) -> float:
        """Share of a symbol's own name words (``_TableFacts.name_words``) the question uses."""
        return sum(w in self._words for w in words) / len(words) if words else 0.0

    def _steps_back_as_machine_made(self, reason: str) -> bool:
        return bool(reason) and not (reason == "data" and self._evidence.wants_tests)


class _PerValue:
    """The distinct codes of one column among some rows, to compute a fact once per
    distinct value and spread it back over the rows."""

    def __init__(self, codes: np.ndarray | list[int], rows: np.ndarray) -> None:
        unique, self._inverse = np.unique(np.asarray(codes)[rows], return_inverse=True)
        self.codes: list[int] = unique.tolist()

    def spread(self, facts: Sequence[bool | int | float]) -> np.ndarray:
        return np.asarray(facts)[self._inverse]


class _TableFacts:
    """What re-scoring reads of a table's paths and symbols: it depends on the table
    alone (one index generation's, immutable), so each fact is computed once per
    distinct value on first use and kept with the table."""

    def __init__(self, table: ChunkTable) -> None:
        self._paths = table["path"].values
        self._symbols = table["symbol"].values
        self._by_path: dict[int, tuple[bool, bool, str, bool]] = {}
        self._short: dict[int, str | None] = {}
        self._words: dict[int, tuple[str, ...]] = {}
        kinds, languages = table["kind"].values, table["language"].values
        self.commit_kind = np.array([k == "commit" for k in kinds] + [False])
        self.file_kind = np.array([k == "file" for k in kinds] + [False])
        self.prose_language = np.array([lang in _PROSE for lang in languages] + [False])
        self.wordless_kind = np.array(
            [k in ("lines", "module", "record") for k in table["symbol_kind"].values] + [False]
        )

    def path(self, code: int) -> str:
        return self._paths[code]

    def test(self, code: int) -> bool:
        return self._path_facts(code)[0]

    def bench(self, code: int) -> bool:
        return self._path_facts(code)[1]

    def made(self, code: int) -> str:
        """``machine_made_path``'s reason ("" for hand-written)."""
        return self._path_facts(code)[2]

    def changelog(self, code: int) -> bool:
        return self._path_facts(code)[3]

    def _path_facts(self, code: int) -> tuple[bool, bool, str, bool]:
        found = self._by_path.get(code)
        if found is None:
            path = self._paths[code]
            found = self._by_path[code] = (
                is_test_path(path),
                bool(_BENCH_PATH.search(path)),
                machine_made_path(path),
                bool(_CHANGELOG.search(path)),
            )
        return found

    def short_name(self, code: int) -> str | None:
        """A symbol's last dotted part, case-folded (None: no symbol)."""
        if code not in self._short:
            symbol = self._symbols[code]
            self._short[code] = symbol.rsplit(".", 1)[-1].lower() if symbol else None
        return self._short[code]

    def name_words(self, code: int) -> tuple[str, ...]:
        """A symbol's own name words, stemmed (its first word dropped when it has more:
        ``get_default_user_agent`` -> default, user, agent); () for fewer than two."""
        words = self._words.get(code)
        if words is None:
            words = ()
            symbol = self._symbols[code]
            if symbol:
                name = re.sub(r"\W", "_", symbol.rsplit(".", 1)[-1].split(" > ")[-1])
                parts = tuple(_stem(t) for t in word_tokens(name)[1:] or word_tokens(name))
                words = parts if len(parts) >= 2 else ()
            self._words[code] = words
        return words


# A table is one index generation's: its facts are forgotten with it.
_FACTS: WeakKeyDictionary[ChunkTable, _TableFacts] = WeakKeyDictionary()


def _facts(table: ChunkTable) -> _TableFacts:
    found = _FACTS.get(table)
    if found is None:
        found = _FACTS[table] = _TableFacts(table)
    return found


def group(
    candidates: Iterable[Candidate], table: ChunkTable, top_k: int, per_document: int
) -> list[Candidate]:
    """Best first, at most ``per_document`` rows of any document, ``top_k`` in all."""
    taken: list[Candidate] = []
    per: dict[int, int] = {}
    document = table["document"].codes
    for candidate in sorted(candidates, key=lambda c: (-c.score, c.row)):
        code = int(document[candidate.row])
        if per.get(code, 0) >= per_document:
            continue
        per[code] = per.get(code, 0) + 1
        taken.append(candidate)
        if len(taken) == top_k:
            break
    return taken


def _stem(token: str) -> str:
    """Crude plural folding, enough for "cookies" to meet "cookie"."""
    return (
        token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token
    )


def _by_document(definitions: Iterable[Definition]) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for d in definitions:
        spans.setdefault(d.document_id, []).append((d.start_line, d.end_line))
    return spans


def _resolve_mentions(mentions: Iterable[Mention], table: ChunkTable) -> dict[str, int]:
    """Indexed paths the question names, each with the line named (0 for none).

    A mention matches the paths sharing its longest trailing run of components
    (``/site-packages/flask/app.py`` finds ``src/flask/app.py``); a module mention
    (``requests.models.Request``) matches files named by its longest leading part
    that names one. Candidates come from the table's index of paths by file stem.
    """
    found: dict[str, int] = {}
    for mention in mentions:
        parts = [p for p in mention.path.split("/") if p]
        if mention.module:
            targets = [parts[:n] for n in range(len(parts), 0, -1)]
        else:
            targets = [path_components("/".join(parts))]
        for target in targets:
            if not target:
                continue
            paths = _sharing_most(target, table.paths_ending_in(target[-1]), whole=mention.module)
            if paths and (mention.module is False or len(target) >= 2 or len(parts) == 1):
                for path in paths:
                    found.setdefault(path, mention.line)
                break
    return found


def _sharing_most(
    target: list[str], candidates: list[tuple[str, list[str]]], *, whole: bool
) -> list[str]:
    """The candidate paths sharing the longest trailing run of components with
    ``target`` (all of it when ``whole``)."""
    best, paths = 0, []
    for path, components in candidates:
        shared = 0
        for a, b in zip(reversed(components), reversed(target), strict=False):
            if a != b:
                break
            shared += 1
        if whole and shared < len(target):
            continue
        if shared > best:
            best, paths = shared, [path]
        elif shared and shared == best:
            paths.append(path)
    return paths
