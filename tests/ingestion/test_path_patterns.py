"""``exclude``/``include`` patterns of the ``git`` and ``local`` connectors, end to end,
on names git allows and pathspec's regexes got wrong: a newline in a folder's name made
``*.log`` miss ``nl\\nname/a.log``, so the file was indexed despite the exclude."""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.server.models import PageRequest

from .conftest import QA, make_repo

pytestmark = pytest.mark.model
FILES = {
    "nl\nname/a.log": "log line\n",
    "nl\nname/keep.py": "def keep():\n    return 1\n",
    "tail.log\n": "a name that only ends in a newline\n",
}


def indexed(qa: QA, project: str) -> list[str]:
    chunks = qa.server.store.list_chunks(project, PageRequest(limit=1000))
    return sorted({chunk.path for chunk in chunks if chunk.kind == "file"})


@pytest.mark.parametrize("type_", ["git", "local"])
async def test_patterns_match_names_with_a_newline_as_git_does(
    qa: QA, tmp_path: Path, type_: str
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    project = await qa.project("demo")
    config = {"url": str(repo)} if type_ == "git" else {"path": str(repo)}

    await qa.connector(project, type_, "code", exclude=["*.log"], **config)
    run = await qa.ingest(project, full=True)

    assert not run.error
    assert indexed(qa, project) == ["nl\nname/keep.py", "tail.log\n"]
