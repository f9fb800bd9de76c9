"""The ``github`` connector links pull requests to the files they changed and issues to the
merged pull requests that closed them, against the local fake of GitHub's REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.plugins import github as github_plugin

from .fakes import FakeGitHub
from .test_github import TOKEN, docs, source


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_issue(
            7, "Crash when the parser meets a tab", "2024-01-01T10:00:00Z", state="closed"
        )
        fake.add_issue(8, "Slow start", "2024-01-02T10:00:00Z")  # open: no timeline asked
        fake.add_issue(
            9,
            "Handle tabs in the parser",
            "2024-01-03T10:00:00Z",
            body="Fixes #7. Also see #8.",
            state="closed",
            pull={"head": "tabs", "merged": True},
            files=(
                ("src/parser.py", 12, 3, ""),
                ("src/lexer.py", 4, 0, "src/scanner.py"),
                ("tests/test_parser.py", 30, 0, ""),
            ),
        )
        fake.add_issue(
            10,
            "Try another tab fix",
            "2024-01-04T10:00:00Z",
            body="Closes #7 too, but was never merged.",
            state="closed",
            pull={"head": "other"},
            files=(("src/other.py", 1, 1, ""),),
        )
        yield fake


def test_a_pull_request_records_the_files_it_changed_and_the_issues_it_closes(
    github: FakeGitHub, tmp_path: Path
) -> None:
    pull = docs(list(source(github, tmp_path).items()))["pulls/9"]

    assert pull.metadata["files"] == [
        {"path": "src/parser.py", "added": 12, "removed": 3},
        {"path": "src/lexer.py", "old_path": "src/scanner.py", "added": 4, "removed": 0},
        {"path": "tests/test_parser.py", "added": 30, "removed": 0},
    ]
    assert pull.metadata["files_total"] == 3
    assert pull.metadata["closes"] == ["issues/7"]  # "see #8" is no closing keyword
    assert "src/scanner.py → src/lexer.py (+4 -0)" in pull.text


def test_a_closed_issue_names_the_merged_pull_requests_that_closed_it(
    github: FakeGitHub, tmp_path: Path
) -> None:
    found = docs(list(source(github, tmp_path).items()))

    assert found["issues/7"].metadata["closed_by"] == ["pulls/9"]  # pulls/10 was not merged
    assert "closed_by" not in found["issues/8"].metadata
    assert not github.seen("/issues/8/timeline")  # an open issue has no closer to look up


def test_the_files_of_a_pull_request_are_read_page_by_page_and_bounded(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_plugin, "MAX_PULL_FILES", 2)
    github.add_issue(
        11,
        "Rename many",
        "2024-01-05T10:00:00Z",
        pull={"head": "many"},
        files=tuple((f"src/m{n}.py", 1, 0, "") for n in range(5)),
    )

    pull = docs(list(source(github, tmp_path).items()))["pulls/11"]

    assert [f["path"] for f in pull.metadata["files"]] == ["src/m0.py", "src/m1.py"]
    assert (pull.metadata["files_total"], pull.metadata["files_left_out"]) == (5, 3)
    assert len(github.seen("/pulls/11/files")) == 1  # stops once the bound is reached


def test_unchanged_links_cost_304s_on_the_next_run(github: FakeGitHub, tmp_path: Path) -> None:
    list(source(github, tmp_path).items())
    github.requests.clear()
    list(source(github, tmp_path).items())
    assert github.seen("/pulls/9/files", status=304)
    assert github.seen("/issues/7/timeline", status=304)
