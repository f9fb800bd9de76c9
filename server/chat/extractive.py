"""Extractive answers: a readable, cited answer assembled from the best passages, no LLM.

The passages come best first (the turn's retrieval ranking). Up to a few are
used, skipping repeats of a file region already shown and passages that do not
match the question well enough. From each, the excerpt that best answers the
question is quoted: for code, a window of contiguous lines; for prose
(markdown, reStructuredText, issues, tickets, pages), a run of sentences.
Windows are scored by meaning (cosine similarity of sentence embeddings, when
an embedder is given) and by the question's words they contain. Each excerpt is
cited with its exact lines, so a reader opens exactly what is quoted.

When nothing matches, or the question names nothing to look for ("help", "?"),
the answer is a clarifying question instead.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..chunking.languages import language_of
from ..index.tokens import tokenize
from ..retrieval.citations import Citation
from .evidence import Evidence
from .question_words import question_terms
from .records import ChatCitation

Embed = Callable[[list[str]], np.ndarray]

# Below this, a passage is not quoted; when no passage reaches it, the answer asks.
# The relevance of an excerpt mixes meaning and words (SEMANTIC_WEIGHT), or is the
# share of the question's words it contains when there is no embedder.
MIN_RELEVANCE = 0.2
SEMANTIC_WEIGHT = 0.65
EXTRA_CANDIDATES = 3  # passages looked at beyond max_passages, in case some do not match
MAX_WINDOWS = 40  # code windows scored by words per passage (the step grows beyond)
EMBEDDED_WINDOWS = 4  # of those, scored by meaning too (embedding is the costly part)
MAX_SENTENCES_PER_EXCERPT = 3
PROSE_LANGUAGES = frozenset({"markdown", "rst", "text", ""})

LEAD_ONE = "Based on the indexed sources, the most relevant place is:"
LEAD_MANY = "Based on the indexed sources, the most relevant places are:"
ASK_TOPIC = (
    "What would you like to know about the project? Name a file, a function, a feature or "
    "an error message, and I will look for it in the indexed sources."
)
ASK_NOTHING_FOUND = (
    "I found nothing in the indexed sources about “{topic}”. Which file, feature or error "
    "do you mean?"
)

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_STRUCTURAL = re.compile(r" {0,3}(?:[-*+>]\s|\d+[.)]\s|\|)")
_ADORNMENT = re.compile(r"\s*([=\-~^*#+`'\"_.:])\1{2,}\s*")
_HEADING = re.compile(r" {0,3}#{1,6}(?:\s|$)")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9`\"'(\[*_])")


@dataclass(frozen=True, slots=True)
class Excerpt:
    """The part of a passage an answer quotes: exact lines, and what is shown of them."""

    evidence: Evidence
    start_line: int
    end_line: int
    text: str  # code: exactly those lines; prose: the sentences they hold
    relevance: float

    @property
    def citation(self) -> Citation:
        return dataclasses.replace(
            self.evidence.citation, start_line=self.start_line, end_line=self.end_line
        )


@dataclass(frozen=True, slots=True)
class ExtractiveAnswer:
    text: str  # markdown: a lead sentence, then each excerpt with its [n] marker and lines
    used: list[Evidence]  # the passages cited (their markers appear in text)
    clarifying_question: str = ""  # set, with text empty, when there is nothing to quote
    excerpts: list[Excerpt] = field(default_factory=list)  # one per used passage

    def citations(self) -> list[ChatCitation]:
        """One per excerpt, in the order shown: its marker and exactly the lines quoted
        under it (the heading's ``path:start-end``). So the sources listed after the
        answer are numbered [1], [2], … like the text, one line each; the whole passage
        an excerpt comes from is not cited again beside it."""
        return [ChatCitation(x.citation, True, x.evidence.marker) for x in self.excerpts]


@dataclass(frozen=True, slots=True)
class _Window:
    first: int  # 0-based line offsets within the passage, inclusive
    last: int
    text: str  # what is embedded and shown
    tokens: tuple[str, ...]  # its keyword tokens, stemmed


def extractive_answer(
    question: str,
    evidence: Sequence[Evidence],
    embed: Embed | None = None,
    max_passages: int = 3,
    max_excerpt_lines: int = 12,
    min_relevance: float = MIN_RELEVANCE,
) -> ExtractiveAnswer:
    """Answer ``question`` by quoting the best of ``evidence`` (best first), or ask."""
    terms = question_terms(question)
    if not terms:
        return ExtractiveAnswer("", [], ASK_TOPIC)
    scorer = _Scorer(question, terms, embed)
    max_passages = max(1, max_passages)
    chosen: list[Excerpt] = []
    for item in _distinct(evidence, max_passages + EXTRA_CANDIDATES):
        excerpt = scorer.best(item, max(1, max_excerpt_lines))
        if excerpt is not None and excerpt.relevance >= min_relevance:
            chosen.append(excerpt)
            if len(chosen) == max_passages:
                break
    if not chosen:
        return ExtractiveAnswer("", [], ASK_NOTHING_FOUND.format(topic=_topic(question)))
    chosen = _numbered(chosen)
    return ExtractiveAnswer(_render(chosen), [x.evidence for x in chosen], "", chosen)


# ------------------------------------------------------------------ choosing
def _numbered(excerpts: list[Excerpt]) -> list[Excerpt]:
    """The excerpts with markers [1], [2], … in the order the answer shows them.

    The ledger numbers every passage the turn saw; passages skipped (a poor match, a
    repeat) would leave the answer starting at [2] or skipping numbers. The answer's
    citations are its own (``citations()``), never checked against the ledger's numbers.
    """
    return [
        dataclasses.replace(x, evidence=dataclasses.replace(x.evidence, marker=n))
        for n, x in enumerate(excerpts, 1)
    ]


def _distinct(evidence: Sequence[Evidence], limit: int) -> Iterator[Evidence]:
    """The first ``limit`` passages with text, skipping near-repeats of an earlier one."""
    kept: list[Evidence] = []
    for item in evidence:
        if item.text.strip() and not any(_repeats(item, k) for k in kept):
            kept.append(item)
            yield item
            if len(kept) == limit:
                return


def _repeats(item: Evidence, other: Evidence) -> bool:
    """The same text, or at least half of the shorter passage's lines of the same source."""
    if item.text.strip() == other.text.strip():
        return True
    a, b = item.citation, other.citation
    if (a.path or a.document_key) != (b.path or b.document_key):
        return False
    overlap = min(a.end_line, b.end_line) - max(a.start_line, b.start_line) + 1
    shorter = min(a.end_line - a.start_line, b.end_line - b.start_line) + 1
    return overlap * 2 >= shorter


class _Scorer:
    """Scores a passage's windows against the question: by words, then, for the few best
    by words (and a spread of others), by meaning; embedding is the costly part."""

    def __init__(self, question: str, terms: frozenset[str], embed: Embed | None) -> None:
        self._question = question
        self._terms = terms
        self._embed = embed
        self._question_vector: np.ndarray | None = None
        self._matches: dict[str, bool] = {}

    def best(self, item: Evidence, max_lines: int) -> Excerpt | None:
        lines = item.text.count("\n") + 1
        if lines <= max_lines + max_lines // 2:  # a short passage reads better whole, `def` first
            max_lines = lines
        windows = _windows(item, max_lines)
        if not windows:
            return None  # prose with nothing but headings
        by_words = [self._words(w) for w in windows]
        if self._embed is None:  # of equal coverage, the window where the words are densest
            best = max(range(len(windows)), key=by_words.__getitem__)
            return _excerpt(item, windows[best], by_words[best][0])
        scores: dict[int, float] = {}
        self._score(windows, by_words, _shortlist(windows, by_words), scores)
        best = max(scores, key=lambda i: (scores[i], by_words[i]))
        # The shortlist is coarse: the windows starting next to the best get a look too.
        self._score(windows, by_words, _neighbours(windows, best, scores), scores)
        best = max(scores, key=lambda i: (scores[i], by_words[i]))
        return _excerpt(item, windows[best], scores[best])

    def _score(
        self,
        windows: list[_Window],
        by_words: list[tuple[float, float]],
        chosen: list[int],
        scores: dict[int, float],
    ) -> None:
        if chosen:
            meanings = self._meanings([windows[i].text for i in chosen])
            for i, meaning in zip(chosen, meanings, strict=True):
                words = by_words[i][0]
                scores[i] = SEMANTIC_WEIGHT * float(meaning) + (1 - SEMANTIC_WEIGHT) * words

    def _words(self, window: _Window) -> tuple[float, float]:
        """(share of the question's words present, their occurrences per line)."""
        present = {t for t in window.tokens if self._matches_term(t)}
        found = sum(any(_related(term, t) for t in present) for term in self._terms)
        hits = sum(self._matches_term(t) for t in window.tokens)
        return found / len(self._terms), hits / (window.last - window.first + 1)

    def _matches_term(self, token: str) -> bool:
        known = self._matches.get(token)
        if known is None:
            known = self._matches[token] = any(_related(term, token) for term in self._terms)
        return known

    def _meanings(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each text to the question."""
        assert self._embed is not None
        first = self._question_vector is None
        vectors = _unit(np.asarray(self._embed([self._question] * first + texts)))
        if first:
            self._question_vector, vectors = vectors[0], vectors[1:]
        return vectors @ self._question_vector


def _shortlist(windows: list[_Window], by_words: list[tuple[float, float]]) -> list[int]:
    """The windows worth embedding: the best by words, then others spread over the passage,
    none overlapping another by more than half."""
    ranked = sorted(range(len(windows)), key=lambda i: by_words[i], reverse=True)
    worded = [i for i in ranked if by_words[i][0] > 0]
    spread = [
        round(k * (len(windows) - 1) / max(1, EMBEDDED_WINDOWS - 1))
        for k in range(EMBEDDED_WINDOWS)
    ]
    chosen: list[int] = []
    for i in [*worded, *spread, *range(len(windows))]:
        if len(chosen) == EMBEDDED_WINDOWS:
            break
        if i not in chosen and all(not _overlapping(windows[i], windows[j]) for j in chosen):
            chosen.append(i)
    return sorted(chosen)


def _neighbours(windows: list[_Window], best: int, scored: dict[int, float]) -> list[int]:
    """The unscored windows starting nearest before and after the best one."""
    first = windows[best].first
    before = [i for i in range(len(windows)) if windows[i].first < first and i not in scored]
    after = [i for i in range(len(windows)) if windows[i].first > first and i not in scored]
    nearest = [max(before, key=lambda i: windows[i].first)] if before else []
    return nearest + ([min(after, key=lambda i: windows[i].first)] if after else [])


def _overlapping(a: _Window, b: _Window) -> bool:
    overlap = min(a.last, b.last) - max(a.first, b.first) + 1
    return overlap * 2 > min(a.last - a.first, b.last - b.first) + 1


def _related(term: str, token: str) -> bool:
    """The same word, or one a short ending away (``follow``, ``followed``)."""
    if term == token:
        return True
    short, long = (term, token) if len(term) <= len(token) else (token, term)
    return len(short) >= 4 and len(long) - len(short) <= 3 and long.startswith(short)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _excerpt(item: Evidence, window: _Window, relevance: float) -> Excerpt:
    start = item.citation.start_line
    return Excerpt(item, start + window.first, start + window.last, window.text, relevance)


# ------------------------------------------------------------------ windows
def _windows(item: Evidence, max_lines: int) -> list[_Window]:
    """The excerpts ``item`` could give."""
    lines = item.text.split("\n")
    if _is_prose(item):
        title = item.citation.title.strip()
        if item.citation.kind != "file" and title:  # a record's title line is its heading
            lines = ["" if line.strip() == title else line for line in lines]
        return _sentence_runs(lines, max_lines)
    return _line_windows(lines, max_lines)


def _is_prose(item: Evidence) -> bool:
    citation = item.citation
    return citation.kind != "file" or language_of(citation.path) in PROSE_LANGUAGES


def _line_windows(lines: list[str], max_lines: int) -> list[_Window]:
    """Windows of ``max_lines`` contiguous lines overlapping by two thirds (fewer, for long
    passages), trimmed of blank lines at their ends."""
    size = min(max_lines, len(lines))
    step = max(1, size // 3, -(-(len(lines) - size) // (MAX_WINDOWS - 1)))
    starts = list(range(0, len(lines) - size + 1, min(step, size)))
    if starts[-1] != len(lines) - size:
        starts.append(len(lines) - size)
    windows = []
    for first in starts:
        last = first + size - 1
        while first < last and not lines[first].strip():
            first += 1
        while last > first and not lines[last].strip():
            last -= 1
        text = "\n".join(lines[first : last + 1])
        windows.append(_Window(first, last, text, _tokens(text)))
    return windows


@dataclass(frozen=True, slots=True)
class _Sentence:
    first: int
    last: int
    text: str
    block: int  # sentences of one paragraph or list item share it


def _sentence_runs(lines: list[str], max_lines: int) -> list[_Window]:
    """Runs of up to three consecutive sentences within ``max_lines`` lines."""
    sentences = _sentences(lines)
    runs = []
    for i, sentence in enumerate(sentences):
        if sentence.last - sentence.first >= max_lines:  # too long: its first lines
            last = sentence.first + max_lines - 1
            text = "\n".join(line.strip() for line in lines[sentence.first : last + 1])
            runs.append(_Window(sentence.first, last, text, _tokens(text)))
        for j in range(i, min(i + MAX_SENTENCES_PER_EXCERPT, len(sentences))):
            if sentences[j].last - sentences[i].first >= max_lines:
                break
            run = sentences[i : j + 1]
            text = _joined(run)
            runs.append(_Window(run[0].first, run[-1].last, text, _tokens(text)))
    return runs


def _joined(run: list[_Sentence]) -> str:
    parts = [run[0].text]
    for before, sentence in itertools.pairwise(run):
        parts.append((" " if sentence.block == before.block else "\n") + sentence.text)
    return "".join(parts)


def _sentences(lines: list[str]) -> list[_Sentence]:
    """The sentences of prose, with the lines each spans. Headings are left out (the
    passage's symbol names its section); list items and table rows start a new block;
    each line of fenced code is a sentence of its own."""
    sentences: list[_Sentence] = []
    block: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(lines):
        if fenced or _FENCE.match(line):
            fenced = fenced != bool(_FENCE.match(line))
            sentences += _split(block, len(sentences))
            block = []
            if line.strip() and not _FENCE.match(line):
                sentences.append(_Sentence(number, number, line.rstrip(), -number - 1))
        elif _ADORNMENT.fullmatch(line) and len(block) == 1:
            block = []  # a title underlined (setext, reStructuredText)
        elif not line.strip() or _ADORNMENT.fullmatch(line) or _HEADING.match(line):
            sentences += _split(block, len(sentences))
            block = []
        else:
            if _STRUCTURAL.match(line):
                sentences += _split(block, len(sentences))
                block = []
            block.append((number, line.strip()))
    return sentences + _split(block, len(sentences))


def _split(block: list[tuple[int, str]], block_id: int) -> list[_Sentence]:
    """A paragraph's sentences; each keeps the first and last line its words are on."""
    if not block:
        return []
    joined, line_at = "", []  # line_at[i]: the line of joined[i]
    for number, text in block:
        if joined:
            joined += " "
            line_at.append(number)
        joined += text
        line_at += [number] * len(text)
    sentences, start = [], 0
    for end in [m.start() for m in _SENTENCE_END.finditer(joined)] + [len(joined)]:
        text = joined[start:end].strip()
        if text:
            first = start + len(joined[start:end]) - len(joined[start:end].lstrip())
            last = first + len(text) - 1
            sentences.append(_Sentence(line_at[first], line_at[last], text, block_id))
        start = end
    return sentences


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(tokenize(text))  # stemmed: "retries" meets "retry", "classes" "class"


# ------------------------------------------------------------------ rendering
def _render(excerpts: list[Excerpt]) -> str:
    parts = [LEAD_ONE if len(excerpts) == 1 else LEAD_MANY]
    parts += [_rendered(x) for x in excerpts]
    return "\n\n".join(parts) + "\n"


def _rendered(excerpt: Excerpt) -> str:
    item = excerpt.evidence
    citation = excerpt.citation
    if citation.path:
        head = f"**[{item.marker}] `{citation.label}`**"
        what = item.symbol or ""
        if what:
            head += f" — `{what}`" if not _is_prose(item) else f" — {what}"
    else:  # a record: its title says what it is (``#12 Crash on start``)
        head = f"**[{item.marker}] {citation.title or citation.label}**"
        if citation.url:
            head += f" — <{citation.url}>"
    if _is_prose(item):
        quoted = "\n".join(f"> {line}" if line else ">" for line in excerpt.text.split("\n"))
        return f"{head}\n{quoted}"
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", excerpt.text)), default=0))
    return f"{head}\n{fence}{language_of(citation.path)}\n{excerpt.text}\n{fence}"


def _topic(question: str, limit: int = 80) -> str:
    topic = " ".join(question.split()).rstrip("?!. ")
    return topic if len(topic) <= limit else topic[: limit - 1].rstrip() + "…"
