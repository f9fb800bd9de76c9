"""An upgraded server never queries a keyword index built by another tokenizer version.

A generation published before tokens were stemmed has no ``keyword/tokenizer.json``
(version 1). Stemmed query tokens against its unstemmed postings would quietly miss
("retri" is in no old posting list), so the generation is refused and rebuilt from
the Store. Real SqliteStore, IndexManager, publication and BM25.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projectqa.server.index import IndexManager
from projectqa.server.index import keyword as keyword_module
from projectqa.server.index.keyword import TOKENIZER_FILE, StaleKeywordIndex, check_tokenizer
from projectqa.server.index.project import KEYWORD_DIR
from projectqa.server.index.token_cache import TokenCache
from projectqa.server.index.tokens import TOKENIZER_VERSION
from projectqa.server.store import SqliteStore

from .conftest import MODEL, Corpus

RETRIES = "def send(request, retries=3):\n    for attempt in range(retries + 1):\n        ..."


def publish_unstemmed_generation(
    corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A generation as the previous release published it: no tokenizer file."""
    corpus.add("http/transport.py", [("send", RETRIES)])
    corpus.add("http/urls.py", [("join", "def join(base, path):\n    return base + path")])
    with monkeypatch.context() as old_release:
        old_release.setattr(keyword_module, "write_tokenizer", lambda directory: None)
        old = IndexManager(corpus.store, index_root, MODEL).get(corpus.project_id)
    directory = index_root / corpus.project_id / old.manifest.dir / KEYWORD_DIR
    assert not (directory / TOKENIZER_FILE).exists()
    return old.manifest.dir


def test_an_upgraded_server_rebuilds_an_unstemmed_keyword_index(
    store: SqliteStore, corpus: Corpus, index_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_dir = publish_unstemmed_generation(corpus, index_root, monkeypatch)
    upgraded = IndexManager(store, index_root, MODEL)  # a new server process
    served = upgraded.serving(corpus.project_id)
    assert served.manifest.dir != old_dir
    keyword_dir = index_root / corpus.project_id / served.manifest.dir / KEYWORD_DIR
    recorded = json.loads((keyword_dir / TOKENIZER_FILE).read_text(encoding="utf-8"))
    assert recorded["version"] == TOKENIZER_VERSION
    [(chunk_id, _)] = served.search_keyword("how does retry work?", 5)
    assert [c.path for c in store.get_chunks([chunk_id])] == ["http/transport.py"]
    # Workers see the rebuilt generation as current: nothing more to build.
    assert upgraded.stale_projects() == []


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
