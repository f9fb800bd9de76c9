"""A ``local`` ingestion run over a hostile tree, end to end: it succeeds, with warnings.

Issue #13 item 7: one path over 4,096 bytes failed the whole run. The tree here also
holds a FIFO, a Unix socket, an invalid ``.gitignore`` and a submodule not checked out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from projectqa.server.models import PageRequest
from projectqa.v1 import ingestion_pb2 as pb

from ..connectors.trees import PATH_MAX, clone_without_submodules, deep_folder, unix_socket
from .conftest import QA

pytestmark = pytest.mark.model


async def test_a_hostile_tree_is_indexed_with_warnings_not_failed(qa: QA, tmp_path: Path):
    root = clone_without_submodules(tmp_path)  # app.py, .gitmodules, lib/ empty, tools/other/
    deep = deep_folder(
        root, {".gitignore": b"!\n*.log\n", "deep.py": b"def deep_helper():\n    return 42\n"}
    )
    assert len(os.fsencode(root / deep.key)) > PATH_MAX
    os.mkfifo(root / "pipe")
    project = await qa.project("hostile")
    await qa.connector(project, "local", "files", path=str(root))

    with unix_socket(root, "agent.sock"):
        events = await qa.events((await qa.start(project, full=True)).id)
    run = events[-1].run

    assert run.status == pb.INGESTION_STATUS_SUCCEEDED, run.error
    assert sorted((w.document_key, w.message) for w in run.warnings) == sorted(
        [
            (deep.gitignore_key, "line 1 is not a valid pattern; ignored"),
            ("agent.sock", "socket; not read"),
            ("lib", "git submodule not checked out (empty folder); its files are not indexed"),
            ("pipe", "named pipe (FIFO); not read"),
        ]
    )
    chunks = qa.server.store.list_chunks(project, PageRequest(limit=10_000))
    paths = {chunk.path for chunk in chunks}
    assert {f"{deep.key}/deep.py", "app.py", "tools/other/tool.py"} <= paths
