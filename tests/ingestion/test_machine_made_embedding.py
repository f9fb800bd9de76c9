"""Machine-made chunks are embedded by where they are, not by their passage, and a chunk
hashed before that rule keeps a vector of what its hash names."""

from __future__ import annotations

import dataclasses

from projectqa.server.ingestion.backfill import chunk_embed_text, embed_text, vector_hash
from projectqa.server.models import Chunk

LOCK_TEXT = 'version = 1\n[[package]]\nname = "flask"\nversion = "3.1.2"\n'


def chunk(path: str, text: str, embed_hash: str) -> Chunk:
    return Chunk(
        id="chk_1",
        project_id="prj_1",
        connector_id="con_1",
        document_id="doc_1",
        document_key=path,
        kind="file",
        path=path,
        url="",
        title=path,
        ordinal=0,
        start_line=1,
        end_line=4,
        symbol="",
        symbol_kind="lines",
        language="",
        text=text,
        embed_hash=embed_hash,
    )


def test_a_lock_file_is_embedded_by_its_path_alone() -> None:
    assert embed_text("uv.lock", "uv.lock", "uv.lock", "", LOCK_TEXT) == "uv.lock\n"
    code = "def add(a, b):\n    return a + b\n"
    assert embed_text("calc.py", "calc.py", "calc.py", "add", code) == f"calc.py :: add\n{code}"


def test_the_text_re_read_from_a_chunk_is_the_one_its_hash_names() -> None:
    written = embed_text("uv.lock", "uv.lock", "uv.lock", "", LOCK_TEXT)
    now = chunk("uv.lock", LOCK_TEXT, vector_hash(written))
    assert chunk_embed_text(now) == written
    # Written before machine-made passages were left out: its hash is of the whole passage,
    # and the vector cached under that hash must be of the whole passage too.
    legacy = dataclasses.replace(now, embed_hash=vector_hash(f"uv.lock\n{LOCK_TEXT}"))
    assert chunk_embed_text(legacy) == f"uv.lock\n{LOCK_TEXT}"
