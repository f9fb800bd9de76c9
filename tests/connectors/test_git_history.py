"""The ``git`` connector's commit history: one ``commit`` record per commit, against real
repositories (renames, merges, a commit touching many files, shallow clones, rewrites)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from projectqa.plugins import githistory
from projectqa.server.admin.connectors import _validated as checked_config
from projectqa.server.errors import InvalidArgument
from projectqa.server.sources import Checkpoint, DocumentKind, SourceDocument, SourceItem

from .local_repos import connector_type
from .test_git import commit_all, deletions, git, run, warnings, write


def commits(items: list[SourceItem]) -> dict[str, SourceDocument]:
    """The commit records of a run, by sha."""
    return {
        i.metadata["commit"]: i
        for i in items
        if isinstance(i, SourceDocument) and i.kind is DocumentKind.COMMIT
    }


def files_of(record: SourceDocument) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in record.metadata["files"]}


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "src/app.py", "def main():\n    return 1\n")
    write(repo, "README.md", "# Demo\n")
    commit_all(repo, "Start the demo")
    return repo


def test_each_commit_is_a_record_with_its_message_author_date_and_files(
    origin: Path, tmp_path: Path
) -> None:
    write(origin, "src/app.py", "def main():\n    return 2\n\n\ndef extra():\n    pass\n")
    (origin / "README.md").unlink()
    head = commit_all(origin, "Fix the crash on start\n\nThe parser returned None.")

    found = commits(run(tmp_path / "work", url=str(origin)))

    assert len(found) == 2
    record = found[head]
    assert record.key == f"commits/{head}"
    assert record.title == "Fix the crash on start"
    assert record.version == head
    assert record.path == ""
    meta = record.metadata
    assert meta["author"] == "Test"
    assert meta["date"] == git(origin, "log", "-1", "--format=%aI")
    assert meta["parents"] == [git(origin, "rev-parse", "HEAD~1")]
    assert files_of(record) == {
        "src/app.py": {"path": "src/app.py", "added": 5, "removed": 1},
        "README.md": {"path": "README.md", "added": 0, "removed": 1},
    }
    assert meta["files_total"] == 2 and "files_left_out" not in meta
    assert "The parser returned None." in record.text
    assert "src/app.py (+5 -1)" in record.text
    assert f"commit {head[:7]}" in record.text.splitlines()[0]


def test_a_renamed_file_is_recorded_under_its_new_path_with_the_old_one(
    origin: Path, tmp_path: Path
) -> None:
    git(origin, "mv", "src/app.py", "src/main.py")
    head = commit_all(origin, "Rename app to main")

    record = commits(run(tmp_path / "work", url=str(origin)))[head]

    assert files_of(record) == {
        "src/main.py": {"path": "src/main.py", "old_path": "src/app.py", "added": 0, "removed": 0}
    }
    assert "src/app.py → src/main.py" in record.text


def test_a_merge_is_recorded_without_files_and_the_merged_commits_with_theirs(
    origin: Path, tmp_path: Path
) -> None:
    git(origin, "checkout", "-q", "-b", "feature")
    write(origin, "src/feature.py", "FEATURE = 1\n")
    branch_commit = commit_all(origin, "Add the feature")
    git(origin, "checkout", "-q", "main")
    write(origin, "docs/notes.md", "notes\n")
    commit_all(origin, "Write notes")
    git(origin, "merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature")
    merge = git(origin, "rev-parse", "HEAD")

    found = commits(run(tmp_path / "work", url=str(origin)))

    assert len(found) == 4
    assert found[merge].metadata["merge"] is True
    assert found[merge].metadata["files"] == []
    assert len(found[merge].metadata["parents"]) == 2
    assert "merge" in found[merge].text.lower()
    assert list(files_of(found[branch_commit])) == ["src/feature.py"]


def test_a_commit_touching_more_files_than_the_bound_records_only_the_bound(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(githistory, "MAX_FILES", 20)
    monkeypatch.setattr(githistory, "MAX_FILES_SHOWN", 5)
    for number in range(30):
        write(origin, f"gen/f{number:02}.txt", f"{number}\n")
    head = commit_all(origin, "Vendor thirty files")

    record = commits(run(tmp_path / "work", url=str(origin)))[head]

    assert len(record.metadata["files"]) == 20
    assert record.metadata["files_total"] == 30
    assert record.metadata["files_left_out"] == 10
    assert "… and 25 more files" in record.text
    assert record.text.count("gen/f") == 5


def test_history_commits_bounds_the_records_and_zero_turns_them_off(
    origin: Path, tmp_path: Path
) -> None:
    heads = []
    for number in range(4):
        write(origin, "src/app.py", f"VALUE = {number}\n")
        heads.append(commit_all(origin, f"Change value to {number}"))

    bounded = commits(run(tmp_path / "a", url=str(origin), history_commits=2))
    assert sorted(bounded) == sorted(heads[-2:])
    assert commits(run(tmp_path / "b", url=str(origin), history_commits=0)) == {}


def test_history_commits_is_checked_when_the_connector_is_saved() -> None:
    ctype = connector_type("git")
    for bad in (-1, githistory.MAX_COMMITS + 1, "many", 1.5, True):
        with pytest.raises(InvalidArgument) as refused:
            checked_config(ctype, {"url": "/srv/repo", "history_commits": bad})
        assert refused.value.field == "config.history_commits"
    checked_config(ctype, {"url": "/srv/repo", "history_commits": 500})


def test_an_incremental_run_adds_only_the_new_commits(origin: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    first = run(work, url=str(origin))
    cursor = first[-1].cursor
    assert cursor["history"] == githistory.DEFAULT_COMMITS

    write(origin, "src/app.py", "def main():\n    return 3\n")
    new = commit_all(origin, "Return three")
    items = run(work, cursor=cursor, full=False, url=str(origin))

    assert list(commits(items)) == [new]
    assert items[-1].cursor["history"] == githistory.DEFAULT_COMMITS
    again = run(work, cursor=items[-1].cursor, full=False, url=str(origin))
    assert commits(again) == {}


def test_an_incremental_run_drops_the_commits_that_leave_the_window(
    origin: Path, tmp_path: Path
) -> None:
    oldest = git(origin, "rev-parse", "HEAD")
    write(origin, "a.txt", "a\n")
    commit_all(origin, "Add a")
    work = tmp_path / "work"
    cursor = run(work, url=str(origin), history_commits=2)[-1].cursor

    write(origin, "b.txt", "b\n")
    newest = commit_all(origin, "Add b")
    items = run(work, cursor=cursor, full=False, url=str(origin), history_commits=2)

    assert list(commits(items)) == [newest]
    assert f"commits/{oldest}" in deletions(items)


def test_a_rewritten_history_deletes_the_commits_that_are_gone(
    origin: Path, tmp_path: Path
) -> None:
    write(origin, "a.txt", "a\n")
    dropped = commit_all(origin, "A commit that a force push drops")
    work = tmp_path / "work"
    cursor = run(work, url=str(origin))[-1].cursor

    git(origin, "reset", "-q", "--hard", "HEAD~1")
    write(origin, "b.txt", "b\n")
    replacement = commit_all(origin, "The rewritten history")
    items = run(work, cursor=cursor, full=False, url=str(origin))

    assert list(commits(items)) == [replacement]
    assert f"commits/{dropped}" in deletions(items)


def test_raising_the_bound_fills_in_the_older_commits_on_an_incremental_run(
    origin: Path, tmp_path: Path
) -> None:
    write(origin, "a.txt", "a\n")
    commit_all(origin, "Add a")
    work = tmp_path / "work"
    cursor = run(work, url=str(origin), history_commits=1)[-1].cursor
    items = run(work, cursor=cursor, full=False, url=str(origin), history_commits=5)
    assert len(commits(items)) == 2
    lowered = run(work, cursor=items[-1].cursor, full=False, url=str(origin), history_commits=1)
    assert deletions(lowered) == [f"commits/{git(origin, 'rev-parse', 'HEAD~1')}"]


def test_a_shallow_clone_gives_the_commits_it_has_and_nothing_fails(
    origin: Path, tmp_path: Path
) -> None:
    for number in range(3):
        write(origin, "src/app.py", f"VALUE = {number}\n")
        commit_all(origin, f"Change value to {number}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "2", origin.as_uri(), str(shallow))
    head = git(shallow, "rev-parse", "HEAD")
    boundary = git(shallow, "rev-parse", "HEAD~1")

    items = run(tmp_path / "work", url=str(shallow))

    found = commits(items)
    assert sorted(found) == sorted([head, boundary])
    # Git shows the commit where a shallow history is cut as adding every file; that is
    # not what the commit changed, so it is recorded without files.
    assert found[boundary].metadata["files"] == []
    assert found[boundary].metadata["history_cut"] is True
    assert list(files_of(found[head])) == ["src/app.py"]
    assert isinstance(items[-1], Checkpoint)
    assert warnings(items) == {}


def test_a_repository_whose_only_commit_is_its_root_records_its_files(
    origin: Path, tmp_path: Path
) -> None:
    found = commits(run(tmp_path / "work", url=str(origin)))
    (root,) = found.values()
    assert sorted(files_of(root)) == ["README.md", "src/app.py"]
    assert root.metadata["parents"] == []


def test_subdirectory_keeps_the_commits_that_touch_it_and_excluded_files_are_left_out(
    origin: Path, tmp_path: Path
) -> None:
    write(origin, "docs/guide.md", "guide\n")
    docs_only = commit_all(origin, "Docs only")
    write(origin, "src/app.py", "VALUE = 1\n")
    write(origin, "src/gen/out.py", "generated\n")
    both = commit_all(origin, "Code and generated code")

    found = commits(run(tmp_path / "work", url=str(origin), subdirectory="src", exclude=["gen/"]))

    assert docs_only not in found
    assert list(files_of(found[both])) == ["src/app.py"]


def test_a_github_remote_links_each_commit_to_its_page() -> None:
    record = githistory.commit_document(
        githistory.CommitRecord(
            sha="a" * 40,
            parents=("b" * 40,),
            author="Ann",
            date="2024-01-02T03:04:05+00:00",
            message="Subject\n",
        ),
        web_base="https://github.com/o/r",
    )
    assert record.url == f"https://github.com/o/r/commit/{'a' * 40}"


def test_a_window_read_in_slices_is_the_same_history_in_the_same_order(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(6):
        write(origin, "src/app.py", f"VALUE = {number}\n")
        commit_all(origin, f"Change value to {number}")
    whole = [r.key for r in run(tmp_path / "a", url=str(origin)) if isinstance(r, SourceDocument)]
    monkeypatch.setattr(githistory, "SLICE_MIN", 1)
    monkeypatch.setattr(githistory, "LOG_SLICES", 3)
    sliced = run(tmp_path / "b", url=str(origin), history_commits=5)

    keys = [r.key for r in sliced if isinstance(r, SourceDocument) and r.kind == "commit"]
    assert keys == [key for key in whole if key.startswith("commits/")][:5]
    assert len(set(keys)) == 5


def test_older_commits_name_where_a_file_they_changed_is_now(origin: Path, tmp_path: Path) -> None:
    write(origin, "src/app.py", "def main():\n    return 2\n")
    before = commit_all(origin, "Return two")
    git(origin, "mv", "src/app.py", "src/_app.py")
    commit_all(origin, "Make app private")
    work = tmp_path / "work"
    first = run(work, url=str(origin))

    assert files_of(commits(first)[before])["src/app.py"]["now"] == "src/_app.py"
    assert "src/app.py (now src/_app.py) (+1 -1)" in commits(first)[before].text

    git(origin, "mv", "src/_app.py", "src/main.py")
    commit_all(origin, "Rename again")
    items = run(work, cursor=first[-1].cursor, full=False, url=str(origin))
    # A rename rewrites the records of the older commits that name the file.
    assert files_of(commits(items)[before])["src/app.py"]["now"] == "src/main.py"
