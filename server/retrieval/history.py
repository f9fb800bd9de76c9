"""History as evidence: the files that past changes resembling a question changed.

A bug report often reads like the message of the commit that once fixed something
nearby, or like an issue a pull request closed. Such past changes are found by
keyword search over the project's history records (docs/HISTORY.md):

- ``commit`` records of the git connector, with the files each commit changed;
- ``pull_request`` records of the GitHub connector, with the files each changed;
- ``issue`` records, through the pull requests that closed them (``closed_by``).

Each of the ``changes`` best-matching past changes votes for the files it changed: the
change ranked ``r`` (0-based) has the vote ``offset / (offset + r)``, shared by its
``n`` files as ``1 / n**spread`` each (a one-file fix says more than a 300-file
reformat). A file's score is ``1 - exp(-votes / saturation)``: in ``[0, 1)``, growing
with more and better-ranked changes, bounded however many agree. Only files the index
holds now are scored (a deleted file gets nothing; a renamed one is voted for under
the path it has now: commit records name it, ``now``, when a later commit renamed it).

No LLM and no embedder: one keyword search and, per connector, one Store read for the
records found and one for the pull requests that closed the issues among them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..index.project import ProjectIndex
from ..models import Document
from ..store.base import Store
from .files import FilePrior, PriorSource
from .ops import CitedResult
from .query import SearchFilter, SearchQuery
from .search import FileRows, filter_mask

HISTORY_KINDS = ("commit", "pull_request", "issue")
PRIOR_WEIGHT = 0.5  # suggested weight of the signal as a file search prior (docs/HISTORY.md)
CANDIDATE_CHUNKS_PER_CHANGE = 4  # a change may have several chunks among the hits
MAX_LINKED_PULLS = 5  # pull requests followed from one issue


@dataclass(frozen=True, slots=True)
class HistoryWeights:
    """How past changes vote (see the module doc)."""

    changes: int = 20  # best-matching past changes that vote
    offset: float = 3.0  # the vote of rank r is offset / (offset + r)
    spread: float = 0.5  # a change of n files gives each 1 / n**spread of its vote
    saturation: float = 1.0  # score = 1 - exp(-votes / saturation)

    def __post_init__(self) -> None:
        if self.changes < 1 or self.offset <= 0 or self.saturation <= 0 or self.spread < 0:
            raise ValueError(f"invalid history weights {self}")


@dataclass(frozen=True, slots=True)
class SimilarChange:
    """A past change that voted: its record, rank, vote and the files it changed."""

    connector_id: str
    key: str  # ``commits/<sha>``, ``pulls/12``, or ``issues/7`` (voting through its pulls)
    kind: str
    rank: int  # 0-based, among the changes that voted
    vote: float
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HistoryEvidence:
    """Per-file scores in ``[0, 1)`` and the changes behind them, best first."""

    scores: dict[str, float] = field(default_factory=dict)
    changes: list[SimilarChange] = field(default_factory=list)

    def ranked(self) -> list[tuple[str, float]]:
        """``(path, score)``, best first (ties by path)."""
        return sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))


def similar_change_scores(
    index: ProjectIndex,
    store: Store,
    question: str,
    weights: HistoryWeights | None = None,
    search_filter: SearchFilter | None = None,
) -> HistoryEvidence:
    """Score files by the past changes whose records resemble ``question``.

    :param index: the project's served index generation (``Searcher.index``): its keyword
        index finds the history records, its chunk table says which files exist now.
    :param store: the Store, for the records' metadata (files changed, closing pulls).
    :param question: the question as asked (any length the keyword index takes).
    :param weights: how changes vote; the defaults are documented on ``HistoryWeights``.
    :param search_filter: the search's own filter: its connectors restrict which records
        vote, its path globs and languages which files are scored (kinds are ignored).
    :returns: ``HistoryEvidence`` (empty when the project has no history records or
        nothing resembles the question); scores are in ``[0, 1)``, 0 for unscored files.
    """
    weights = weights or HistoryWeights()
    search_filter = search_filter or SearchFilter()
    records = filter_mask(
        index, SearchFilter(kinds=HISTORY_KINDS, connectors=search_filter.connectors)
    )
    if records is None or not records.any():
        return HistoryEvidence()
    rows = index.keyword_rows(question, weights.changes * CANDIDATE_CHUNKS_PER_CHANGE, records)
    found = _documents(store, _record_keys(index, rows))
    pulls = _stored(store, [key for document in found for key in _closing_pulls(document)])
    changed = [(document, _changed_files(document, pulls)) for document in found]
    named = {path for _, paths in changed for path in paths}
    changes = list(_voting_changes(changed, current_files(index, search_filter, named), weights))
    return HistoryEvidence(_scores(changes, weights), changes)


def history_prior(
    store: Store, weight: float = PRIOR_WEIGHT, weights: HistoryWeights | None = None
) -> PriorSource:
    """The signal as a file search prior (``files.FileSearch(priors=[...])``): the scores
    of :func:`similar_change_scores` over the generation that answered the passage search,
    with the search's own filter, scaled by ``weight``."""

    def prior(searched: CitedResult, query: SearchQuery) -> FilePrior:
        index = searched.result.index
        if index is None:
            return FilePrior({}, weight)
        found = similar_change_scores(index, store, query.text, weights, query.filter)
        return FilePrior(found.scores, weight)

    return prior


def current_files(
    index: ProjectIndex, search_filter: SearchFilter | None = None, among: set[str] | None = None
) -> set[str]:
    """Paths of the files the index holds (those the filter's paths and languages keep);
    with ``among``, only those of these paths (checked one by one: far cheaper than the
    whole table's mask when a few changes name a few files)."""
    if among is not None:
        return _held_files(index, search_filter or SearchFilter(), among)
    kept = filter_mask(
        index,
        SearchFilter(
            kinds=("file",),
            path_globs=search_filter.path_globs if search_filter else (),
            languages=search_filter.languages if search_filter else (),
        ),
    )
    paths = index.table["path"]
    if kept is None or not len(paths.codes):
        return set()
    return {paths.values[code] for code in np.unique(np.asarray(paths.codes)[kept])}


def _held_files(index: ProjectIndex, search_filter: SearchFilter, among: set[str]) -> set[str]:
    """``current_files`` for a few paths: the same tests as ``filter_mask``, row by row."""
    held = FileRows(index, search_filter)
    return {path for path in among if held.rows(path)}


def _record_keys(index: ProjectIndex, rows: list[tuple[int, float]]) -> list[tuple[str, str]]:
    """``(connector id, document key)`` of the rows' records, best first, each once (a
    record's table path is its key: records have no path)."""
    seen: dict[tuple[str, str], None] = {}
    for row, _score in rows:
        seen.setdefault((index.table["connector"].value(row), index.table["path"].value(row)))
    return list(seen)


def _documents(store: Store, keys: list[tuple[str, str]]) -> list[Document]:
    """The stored records of ``keys``, in the order given (one Store read per connector)."""
    stored = _stored(store, keys)
    return [stored[key] for key in keys if key in stored]


def _stored(store: Store, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Document]:
    """The stored documents of ``(connector id, key)`` pairs, one Store read per connector."""
    by_connector: dict[str, list[str]] = defaultdict(list)
    for connector, key in keys:
        by_connector[connector].append(key)
    return {
        (connector, key): document
        for connector, wanted in by_connector.items()
        for key, document in store.get_documents(connector, wanted).items()
    }


def _closing_pulls(document: Document) -> list[tuple[str, str]]:
    """``(connector id, key)`` of the pull requests that closed an issue (none otherwise)."""
    if document.kind != "issue":
        return []
    closed_by = document.metadata.get("closed_by", [])
    return [(document.connector_id, str(key)) for key in closed_by][:MAX_LINKED_PULLS]


def _voting_changes(
    documents: list[tuple[Document, list[str]]], files: set[str], weights: HistoryWeights
) -> Iterator[SimilarChange]:
    """The first ``weights.changes`` documents (with the files each changed) that name
    files which exist now."""
    rank = 0
    for document, paths in documents:
        changed = tuple(path for path in paths if path in files)
        if not changed:
            continue
        vote = weights.offset / (weights.offset + rank)
        yield SimilarChange(document.connector_id, document.key, document.kind, rank, vote, changed)
        rank += 1
        if rank >= weights.changes:
            return


def _changed_files(document: Document, pulls: dict[tuple[str, str], Document]) -> list[str]:
    """What a record changed: its own files, or (an issue) those of its closing pulls."""
    if document.kind == "issue":
        linked = [pulls[key] for key in _closing_pulls(document) if key in pulls]
        return _unique(path for pull in linked for path in _file_paths(pull.metadata))
    return _file_paths(document.metadata)


def _file_paths(metadata: dict[str, Any]) -> list[str]:
    files = metadata.get("files")
    if not isinstance(files, list):
        return []
    return _unique(
        str(f.get("now") or f["path"]) for f in files if isinstance(f, dict) and f.get("path")
    )


def _unique(paths: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(paths))


def _scores(changes: list[SimilarChange], weights: HistoryWeights) -> dict[str, float]:
    votes: dict[str, float] = defaultdict(float)
    for change in changes:
        share = change.vote / len(change.files) ** weights.spread
        for path in change.files:
            votes[path] += share
    return {path: 1.0 - math.exp(-vote / weights.saturation) for path, vote in votes.items()}
