"""An upgrade of the keyword tokenizer: workers rebuild, no query waits, no release fights.

A generation published before tokens were stemmed has no ``keyword/tokenizer.json``
(version 1). Stemmed query tokens against its unstemmed postings would quietly miss
("retri" is in no old posting list). What must hold, with the real SqliteStore,
IndexManager, publications (directory; GridFS on mongomock) and BM25:

- workers find such a generation stale by what is published (its tokenizer version),
  at their next pass, with no bump of the Store's generation from anyone;
- a server answers from it meanwhile, without its keyword part, and never rebuilds it
  inside a query; it serves the rebuilt one as soon as a worker publishes it;
- a process never publishes over a generation of a newer tokenizer (an older release
  running beside a newer one), so the two never take turns rebuilding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from projectqa.server.index import IndexManager, layout, manager, project, publish
from projectqa.server.index import keyword as keyword_module
from projectqa.server.index.keyword import TOKENIZER_FILE, StaleKeywordIndex, check_tokenizer
from projectqa.server.index.layout import NewerTokenizerPublished
from projectqa.server.index.project import KEYWORD_DIR
from projectqa.server.index.publish_gridfs import MANIFESTS
from projectqa.server.index.token_cache import TokenCache
from projectqa.server.index.tokens import TOKENIZER_VERSION
from projectqa.server.store import MongoStore, SqliteStore

from .conftest import MODEL, Corpus

RETRIES = "def send(request, retries=3):\n    for attempt in range(retries + 1):\n        ..."
QUESTION = "how does retry work?"


def add_files(corpus: Corpus) -> None:
    corpus.add("http/transport.py", [("send", RETRIES)])
    corpus.add("http/urls.py", [("join", "def join(base, path):\n    return base + path")])


def as_release_of_tokenizer(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """This process as a release whose tokenizer is ``version`` (tokens unchanged)."""
    for module in (keyword_module, manager, project, publish):
        monkeypatch.setattr(module, "TOKENIZER_VERSION", version)
    if version == 1:  # the release before versions were recorded wrote no file
        monkeypatch.setattr(keyword_module, "write_tokenizer", lambda directory: None)


def publish_unstemmed_generation(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A generation as the previous release published it: no tokenizer file."""
    add_files(corpus)
    with monkeypatch.context() as old_release:
        as_release_of_tokenizer(old_release, 1)
        old = IndexManager(corpus.store, index_root, MODEL).get(corpus.project_id)
    directory = index_root / corpus.project_id / old.manifest.dir / KEYWORD_DIR
    assert not (directory / TOKENIZER_FILE).exists()
    return old.manifest.dir


def test_workers_find_an_unstemmed_generation_stale_without_a_bump(
    store: SqliteStore, corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_dir = publish_unstemmed_generation(corpus, index_root, monkeypatch)
    generation = store.index_generation(corpus.project_id)
    worker = IndexManager(store, index_root, MODEL)  # an upgraded worker, at start
    assert worker.stale_projects() == [corpus.project_id]  # was []: v1 counted as current
    rebuilt = worker.ensure_published(corpus.project_id)
    assert rebuilt.dir != old_dir and rebuilt.tokenizer_version == TOKENIZER_VERSION
    keyword_dir = index_root / corpus.project_id / rebuilt.dir / KEYWORD_DIR
    recorded = json.loads((keyword_dir / TOKENIZER_FILE).read_text(encoding="utf-8"))
    assert recorded["version"] == TOKENIZER_VERSION
    assert worker.stale_projects() == []
    assert store.index_generation(corpus.project_id) == generation  # nobody bumped it


def test_a_server_answers_meanwhile_without_keyword_search_and_never_rebuilds(
    store: SqliteStore,
    corpus: Corpus,
    index_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    build_count: list[str],
) -> None:
    old_dir = publish_unstemmed_generation(corpus, index_root, monkeypatch)
    generation = store.index_generation(corpus.project_id)
    build_count.clear()
    server = IndexManager(store, index_root, MODEL)  # an upgraded server, no worker yet
    for _ in range(3):
        served = server.serving(corpus.project_id)
        assert served.manifest.dir == old_dir  # the old code rebuilt here, in the query
        assert "tokenizer version 1" in served.keyword_unavailable
        assert served.search_keyword(QUESTION, 5) == []  # never unstemmed postings
    assert build_count == [] and store.index_generation(corpus.project_id) == generation

    IndexManager(store, index_root, MODEL).ensure_published(corpus.project_id)  # a worker
    served = server.serving(corpus.project_id)
    assert served.manifest.dir != old_dir and served.keyword_unavailable == ""
    [(chunk_id, _)] = served.search_keyword(QUESTION, 5)
    assert [c.path for c in store.get_chunks([chunk_id])] == ["http/transport.py"]
    assert server.serving(corpus.project_id) is served  # settled: no more reads


def test_no_release_publishes_over_a_newer_tokenizers_generation(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch, build_count: list[str]
) -> None:
    add_files(corpus)
    with monkeypatch.context() as newer_release:
        as_release_of_tokenizer(newer_release, TOKENIZER_VERSION + 1)
        newer = IndexManager(corpus.store, index_root, MODEL).get(corpus.project_id)
    assert newer.manifest.tokenizer_version == TOKENIZER_VERSION + 1
    corpus.add("http/models.py", [("Request", "class Request:\n    retries: int")])
    this_release = IndexManager(corpus.store, index_root, MODEL)
    build_count.clear()
    # Not stale to this release, though the Store moved on: the newer release builds it.
    assert this_release.stale_projects() == []
    with pytest.raises(NewerTokenizerPublished, match=f"tokenizer version {TOKENIZER_VERSION + 1}"):
        this_release.rebuild(corpus.project_id)  # not even forced
    assert build_count == [corpus.project_id]
    assert layout.read_manifest(index_root / corpus.project_id).dir == newer.manifest.dir
    served = this_release.serving(corpus.project_id)
    assert served.manifest.dir == newer.manifest.dir and served.keyword_unavailable


def test_gridfs_records_the_tokenizer_and_an_old_releases_publish_reads_as_version_1(
    host: Callable[[str], IndexManager], mongo: MongoStore
) -> None:
    corpus = Corpus(mongo)  # type: ignore[arg-type]
    add_files(corpus)
    worker, server = host("worker"), host("server")
    built = worker.ensure_published(corpus.project_id)
    document = mongo.database[MANIFESTS].find_one({"_id": corpus.project_id})
    assert document["tokenizer"] == {"version": TOKENIZER_VERSION, "dir": built.dir}
    assert "tokenizer_version" not in document["manifest"]  # an old release still reads it
    assert worker.stale_projects() == []

    # An old release publishes as it did: generation and manifest, the record left alone.
    replaced = {**document["manifest"], "dir": built.dir + "x"}
    mongo.database[MANIFESTS].update_one(
        {"_id": corpus.project_id}, {"$set": {"manifest": replaced}}
    )
    assert worker.published_manifests([corpus.project_id])[corpus.project_id].tokenizer_version == 1
    assert host("fresh-worker").stale_projects() == [corpus.project_id]
    assert server.manifest(corpus.project_id) is not None


# The keys a manifest had before the tokenizer version existed. Those releases build
# IndexManifest(**json) and refuse any other key: such a manifest would count as missing
# to them, and they would rebuild over it (an old and a new release taking turns).
PRE_TOKENIZER_KEYS = {"generation", "dir", "model", "dimension", "dense_kind", "chunks",
                      "vectors", "built_at", "files", "format"}  # fmt: skip


def test_a_published_manifest_stays_readable_by_the_release_before(
    corpus: Corpus, index_root: Path
) -> None:
    add_files(corpus)
    built = IndexManager(corpus.store, index_root, MODEL).get(corpus.project_id)
    on_disk = json.loads((index_root / corpus.project_id / "manifest.json").read_text())
    assert set(on_disk) == PRE_TOKENIZER_KEYS
    assert built.manifest.tokenizer_version == TOKENIZER_VERSION  # recorded beside it
    # And this release reads a manifest with keys it does not know (a later release's).
    later = {**on_disk, "shard_count": 4}
    assert layout.manifest_from_json(later) == layout.manifest_from_json(on_disk)


def test_an_index_of_another_version_refuses_to_load(tmp_path: Path) -> None:
    check_tokenizer_file = tmp_path / TOKENIZER_FILE
    with pytest.raises(StaleKeywordIndex, match="tokenizer version 1"):
        check_tokenizer(tmp_path)  # no file: written before versions were recorded
    check_tokenizer_file.write_text(json.dumps({"version": TOKENIZER_VERSION + 1}))
    with pytest.raises(StaleKeywordIndex, match=f"version {TOKENIZER_VERSION + 1}"):
        check_tokenizer(tmp_path)
    check_tokenizer_file.write_text("{not json")
    with pytest.raises(StaleKeywordIndex, match="unreadable"):
        check_tokenizer(tmp_path)
    check_tokenizer_file.write_text(json.dumps({"version": TOKENIZER_VERSION}))
    check_tokenizer(tmp_path)


def test_the_token_cache_of_an_older_tokenizer_is_not_reused(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_dir = publish_unstemmed_generation(corpus, index_root, monkeypatch)
    cache_dir = index_root / corpus.project_id / old_dir / KEYWORD_DIR
    assert TokenCache.load(cache_dir) is not None  # written by this version
    monkeypatch.setattr("projectqa.server.index.token_cache.TOKENIZER_VERSION", 1)
    assert TokenCache.load(cache_dir) is None  # read by a version that tokenizes otherwise
