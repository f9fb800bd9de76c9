"""Structure as evidence: the imports and calls between files lift a file ranking.

A bug report finds the neighbourhood of the code it is about; the code's own
structure says where in that neighbourhood to look (issue 16, item 5). The index
generation's file graph (``server/index/graph.py``: which files a file imports or
calls into, built from the references extracted at ingestion) re-ranks the files
of a file search in three ways, each a share of a score lent along edges. Only
strong hits lend: among the ``head`` best files, those scoring at least ``strong``
times the best file's score.

- **neighbours** (a): a strong hit lends ``callee`` of its score to the files it
  imports or calls, and ``caller`` of it to the files that import or call it (off
  by default: a caller says less about a bug than a callee, and measured no gain);
- **tests -> code** (b): a test file among them (test files step back in rank.py
  unless the question asks for tests) lends ``tested`` of its score to the code it
  imports or calls instead: a report quoting a failing test finds the code under
  test, and no test file is lifted unless the question asks for tests;
- **named definitions** (c): a definition the question names (a trace frame's
  function, a backticked or dotted name) lends a share of the best file's score to
  the files its own lines call into: ``traced`` when the question carries a stack
  trace (:func:`carries_trace`), ``named`` otherwise. Both are off: on commit messages
  without traces (187 questions) it moved 9, 4 up and 5 down; on 38 pasted Python
  tracebacks it cost 24 points of acc@1 alone, 45 with (a) and (b): the fixed file is
  usually a frame, not a callee, and the frames' wrappers all call into the same hub
  modules, which collect every frame's share.

A lender's share is spread over its edges in proportion to their weights (a file
calling into twenty files lends each a twentieth), so a lender never gives more
than its share however many files it touches; the graph already drops calls to
names defined in many files. Scores are lent once, from the ranking as it stands
(aggregated passages plus priors), never passed on.

A lent-to file outside the passage pool joins the ranking only with a real
citation: the chunk defining a name the pool's passages call or import (else the
file's first chunk), read from the Store, and only if the search's filters let it through
(kind, languages, path globs; with a connector filter, a connector that answered).
At most ``new_files`` join. No LLM, no embedder: dictionary lookups in the graph
and the symbol index, and one Store read when a file joins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..index.graph import Edge, FileGraph
from ..index.project import ProjectIndex
from ..models import Chunk
from ..store.base import Store
from .citations import citation_of
from .evidence import Evidence, evidence_of
from .files import RankedFile, Reranker, best_first
from .ops import CitedHit, CitedResult
from .query import SearchFilter, SearchQuery
from .rank import is_test_path
from .search import FileRows, Hit

NAMED_SHARE = 0.3  # the (c) share measured in docs/STRUCTURE.md
NAMED_DEFINITIONS = 10  # definitions the question names that lend (c), best matches first


@dataclass(frozen=True, slots=True)
class StructureWeights:
    """How scores flow along the file graph (see the module doc). A weight of 0 turns
    its signal off; the defaults are measured in docs/STRUCTURE.md."""

    head: int = 10  # the best files of the ranking that lend (a, b) ...
    strong: float = 0.3  # ... if they score at least this share of the best file's score
    callee: float = 0.2  # (a) share of a lender's score lent to the files it imports/calls
    caller: float = 0.0  # (a) share lent to the files importing/calling it: off, no gain
    tested: float = 0.5  # (b) share of a test file's score lent to the code it exercises
    # (c) share of the best file's score lent by a named definition: off (0) by default,
    # NAMED_SHARE when on; the localization set, without stack traces, shows no gain.
    named: float = 0.0
    # (c) share instead of ``named`` when the question carries a stack trace: off (0);
    # on the traceback set, acc@1 with (a, b) 0.711, adding (c) at 0.3 / 0.1 / 0.03:
    # 0.263 / 0.579 / 0.711.
    traced: float = 0.0
    new_files: int = 3  # most files from outside the passage pool that may join

    def __post_init__(self) -> None:
        shares = (self.callee, self.caller, self.tested, self.named, self.traced)
        if self.head < 0 or self.new_files < 0 or min(shares) < 0 or not 0 <= self.strong <= 1:
            raise ValueError(f"invalid structure weights {self}")


Versions = Callable[[set[str]], dict[str, str]]  # connector ids -> indexed commit


@dataclass(slots=True)
class Lent:
    """Score lent to files, by path."""

    score: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def spread(self, edges: Iterable[Edge], amount: float, skip: Callable[[str], bool]) -> None:
        """``amount`` over ``edges`` in proportion to their weights (``skip``ped paths
        take their part with them: a lender lends no more to the others)."""
        edges = list(edges)
        total = sum(e.weight for e in edges)
        if amount <= 0 or total <= 0:
            return
        for edge in edges:
            if not skip(edge.path):
                self.score[edge.path] += amount * edge.weight / total


def structure_reranker(
    store: Store, weights: StructureWeights | None = None, versions: Versions | None = None
) -> Reranker:
    """File search re-ranking by structure (``files.FileSearch(rerankers=[...])``).

    :param store: where the chunk citing a file that joins the ranking is read.
    :param weights: the signals' shares; the defaults are documented on StructureWeights.
    :param versions: the commit each connector indexed, for the citations of files that
        join from connectors without a passage in the pool (``RetrievalOps.versions``).
    """
    weights = weights or StructureWeights()

    def rerank(
        searched: CitedResult, query: SearchQuery, files: list[RankedFile]
    ) -> list[RankedFile]:
        index = searched.result.index
        if index is None or index.graph is None or not files:
            return files  # a generation built before references were stored has no graph
        evidence = evidence_of(query.text)
        lent = lend(index.graph, index, files, evidence, weights)
        joined = Joining(store, index, query.filter, searched, versions)
        return restack(files, lent, joined, weights.new_files)

    return rerank


def lend(
    graph: FileGraph,
    index: ProjectIndex,
    files: Sequence[RankedFile],
    evidence: Evidence,
    weights: StructureWeights,
) -> Lent:
    """What the ranking's head and the question's named definitions lend, by path."""
    lent = Lent()

    def skip(path: str) -> bool:  # no test file is lifted unless the question asks for tests
        return not evidence.wants_tests and is_test_path(path)

    best = files[0].score
    lenders = [f for f in files[: weights.head] if f.score >= weights.strong * best]
    for ranked in lenders:
        if skip(ranked.path):  # a test file lends to the code it exercises instead
            lent.spread(graph.out_edges(ranked.path), weights.tested * ranked.score, skip)
            continue
        lent.spread(graph.out_edges(ranked.path), weights.callee * ranked.score, skip)
        if weights.caller:
            lent.spread(graph.in_edges(ranked.path), weights.caller * ranked.score, skip)
    share = weights.traced if carries_trace(evidence) else weights.named
    named = named_definitions(index, evidence) if share else []
    for path, rows in named:
        edges = [e for row in rows for e in graph.row_edges(row) if e.path != path]
        lent.spread(edges, share * best, skip)
    return lent


def carries_trace(evidence: Evidence) -> bool:
    """Whether the question locates code by line, as a pasted stack trace does: a frame
    (Python's ``File "a.py", line 3``, JavaScript's, the JVM's) or a ``path:line``. Its
    functions are then the code that ran, not words of a description."""
    return any(mention.line for mention in evidence.mentions)


def named_definitions(index: ProjectIndex, evidence: Evidence) -> list[tuple[str, list[int]]]:
    """(path, chunk rows) of the definitions the question names, best matches first."""
    if not evidence.identifiers or index.symbols is None:
        return []
    found = []
    for symbol in index.symbols.lookup(evidence.identifiers, limit=NAMED_DEFINITIONS):
        rows = overlapping_rows(index, symbol.document_id, symbol.start_line, symbol.end_line)
        if rows:
            found.append((symbol.path, rows))
    return found


def overlapping_rows(index: ProjectIndex, document_id: str, start: int, end: int) -> list[int]:
    table = index.table
    return [
        int(row)
        for row in table.rows_of("document", document_id)
        if int(table.start_line[row]) <= end and start <= int(table.end_line[row])
    ]


def restack(
    files: list[RankedFile], lent: Lent, joined: Joining, new_files: int
) -> list[RankedFile]:
    """The ranking with lent scores added; files from outside it join, each with a
    citation, best lent first, at most ``new_files``."""
    ranked = {f.path for f in files}
    raised = [replace(f, score=f.score + lent.score.get(f.path, 0.0)) for f in files]
    outside = sorted(
        ((s, p) for p, s in lent.score.items() if p not in ranked and s > 0),
        key=lambda item: (-item[0], item[1]),
    )
    citing: list[tuple[str, float, int]] = []
    for score, path in outside:
        if len(citing) >= new_files:
            break
        row = joined.citing_row(path)
        if row is not None:
            citing.append((path, score, row))
    raised += joined.files(citing)
    raised.sort(key=best_first)
    return raised


class Joining:
    """A file from outside the passage pool, cited by one of its chunks, if the
    search's filters let that chunk through."""

    def __init__(
        self,
        store: Store,
        index: ProjectIndex,
        search_filter: SearchFilter,
        searched: CitedResult,
        versions: Versions | None,
    ) -> None:
        self._store = store
        self._index = index
        self._filter = search_filter
        self._versions = versions
        # The connectors that answered pass the connector filter (it may name them by
        # name); their indexed versions are known, others' are read when one joins.
        self._version_of = {h.citation.connector_id: h.citation.version for h in searched.hits}
        self._answered = frozenset(self._version_of)
        self._hits = [h.hit.chunk for h in searched.hits]
        self._names: set[str] | None = None
        self._file_rows = FileRows(index, search_filter)

    def files(self, citing: list[tuple[str, float, int]]) -> list[RankedFile]:
        """The joining files of (path, score, citing row), their chunks read at once (one
        gone since the index was built does not join)."""
        ids = [self._index.chunk_id(row) for _, _, row in citing]
        chunks = {c.id: c for c in self._store.get_chunks(ids)} if ids else {}
        joining = []
        for (path, score, _), chunk_id in zip(citing, ids, strict=True):
            chunk = chunks.get(chunk_id)
            if chunk is not None:
                cited = CitedHit(Hit(chunk, score, 0, 0), citation_of(chunk, self._version(chunk)))
                file = RankedFile(chunk.connector_id, path, score, chunk.language, (cited,), 0)
                joining.append(file)
        return joining

    def citing_row(self, path: str) -> int | None:
        """The row defining a name the pool's passages call or import, else the file's
        first row; None when the filters keep none of the file's rows."""
        table = self._index.table
        rows = [r for r in self._file_rows.rows(path) if self._connector_allowed(r)]
        if not rows:
            return None
        if self._names is None:  # read once, when the first file joins
            self._names = referenced_names(self._hits)
        defining = [r for r in rows if _short_name(table["symbol"].value(r)) in self._names]
        return min(defining or rows, key=lambda r: (int(table.start_line[r]), r))

    def _connector_allowed(self, row: int) -> bool:
        wanted = self._filter.connectors
        return not wanted or self._index.table["connector"].value(row) in self._answered

    def _version(self, chunk: Chunk) -> str:
        if chunk.connector_id not in self._version_of and self._versions is not None:
            self._version_of.update(self._versions({chunk.connector_id}))
        return self._version_of.get(chunk.connector_id, "")


def referenced_names(chunks: Iterable[Chunk]) -> set[str]:
    """The short names the chunks call or import, case-folded (``call:<name>``; the last
    part of a dotted ``import:<spec>``, ``pkg.mod.name`` -> ``name``)."""
    names: set[str] = set()
    for chunk in chunks:
        for reference in chunk.references:
            kind, _, name = reference.partition(":")
            if kind == "import":
                name = name.rpartition(".")[2] if "/" not in name else ""
            if name:
                names.add(name.lower())
    return names


def _short_name(symbol: str) -> str:
    """``Session.request`` -> ``request`` (case-folded); '' for a chunk without one."""
    return symbol.rpartition(".")[2].lower()
