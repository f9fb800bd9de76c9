"""bench/localization_set.py on a small real repository: which commits become questions,
what they expect, and where the snapshot is."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
import pytest

from projectqa.client import ClientError
from tests.connectors.local_repos import git

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import eval_localization
import localization_set as builder

SOURCES = [f"src/app/m{i}.py" for i in range(11)]


def write(repo: Path, path: str, text: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    for path, text in (files or {}).items():
        write(repo, path, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


class History:
    """A repository whose commits cover each rule of the builder; ``ids`` by role."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.ids: dict[str, str] = {}
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        first = {p: "x = 0\n" for p in ["src/app/core.py", "src/app/util.py", *SOURCES]}
        first |= {"tests/test_core.py": "def test(): pass\n", "README.md": "# app\n"}
        self.ids["root"] = commit(repo, "Initial import", first)
        self.ids["feature"] = commit(repo, "Add a setting", {"src/app/core.py": "x = 1\n"})

    def add(self, role: str, message: str, files: dict[str, str] | None = None) -> None:
        self.ids[role] = commit(self.repo, message, files)

    def build(self) -> History:
        self.add(
            "fix",
            "Fix crash when the config is empty\n\nIt raised KeyError.\n\n"
            "Signed-off-by: Ann <ann@example.com>\nCo-authored-by: Bob <bob@example.com>",
            {"src/app/core.py": "x = 2\n", "tests/test_core.py": "def test(): assert 1\n"},
        )
        self.add("test_only", "Fix the expectation of the parser", {"tests/test_core.py": "#\n"})
        self.add("docs_only", "Fix the install steps", {"README.md": "# app, fixed\n"})
        self.add("chore", "Fix lint", {"src/app/core.py": "x = 3\n"})
        git(self.repo, "mv", "src/app/util.py", "src/app/helpers.py")
        self.add("rename", "Move util to helpers")
        self.add("after_rename", "Off-by-one in slice (closes #12)", {"src/app/helpers.py": "y\n"})
        self.add("added", "Add the cache module", {"src/app/cache.py": "c = 0\n"})
        self.add("fix_of_added", "Fix the cache key", {"src/app/cache.py": "c = 1\n"})
        self.add("sweep", "Fix imports everywhere", {p: "x = 9\n" for p in SOURCES})
        self.add("revert", 'Revert "Fix the cache key"', {"src/app/cache.py": "c = 0\n"})
        self.merged_fix()
        return self

    def merged_fix(self) -> None:
        git(self.repo, "checkout", "-q", "-b", "unicode")
        self.add("branch_fix", "Fix unicode names in core", {"src/app/core.py": "x = 'é'\n"})
        git(self.repo, "checkout", "-q", "main")
        git(self.repo, "merge", "-q", "--no-ff", "-m", "Merge the bug fix for unicode", "unicode")
        self.ids["merge"] = git(self.repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    mirrors = tmp_path_factory.mktemp("mirrors")
    return History(mirrors / "owner+app" / "repo").build()


def built(history: History, fixes: int = 100) -> dict:
    repository = builder.Repository("app", "owner/app", history.ids["merge"], fixes)
    return builder.build_set(repository, history.repo.parents[1])


def test_only_bug_fixes_of_source_files_become_questions(history: History) -> None:
    found = built(history)
    assert found["snapshot"] == history.ids["root"]  # fewer fixes than wanted: the root
    by_commit = {q["commit"]: q for q in found["questions"]}
    roles = {role for role, sha in history.ids.items() if sha in by_commit}
    # Left out: no fix (feature, rename), no source file (tests, docs), a chore,
    # a file added after the snapshot, too many files, a revert, the merge itself.
    assert roles == {"fix", "after_rename", "branch_fix"}


def test_answers_are_the_source_files_as_named_at_the_snapshot(history: History) -> None:
    by_commit = {q["commit"]: q for q in built(history)["questions"]}
    expected = {c: [e["path"] for e in q["expected"]] for c, q in by_commit.items()}
    assert expected[history.ids["fix"]] == ["src/app/core.py"]  # the test file is no answer
    assert expected[history.ids["after_rename"]] == ["src/app/util.py"]  # its name at S
    assert expected[history.ids["branch_fix"]] == ["src/app/core.py"]


def test_the_question_is_the_message_without_trailers(history: History) -> None:
    fix = next(q for q in built(history)["questions"] if q["commit"] == history.ids["fix"])
    assert fix["question"] == "Fix crash when the config is empty\n\nIt raised KeyError."
    assert fix["id"] == f"app-{history.ids['fix'][:10]}" and fix["style"] == "bugfix"
    assert fix["names_expected_file"] is False


def test_the_snapshot_holds_the_wanted_number_of_fixes(history: History) -> None:
    # Back along the first-parent line from the merge: the branch's fix, then (past
    # the revert and the sweep) the cache fix, then the fix after the rename: three.
    found = built(history, fixes=3)
    assert found["snapshot"] == history.ids["rename"]
    # The cache module is not at the snapshot: its fix is left out; the renamed file
    # is expected under its new name, which the snapshot has.
    assert [q["commit"] for q in found["questions"]] == [
        history.ids["after_rename"],
        history.ids["branch_fix"],
    ]
    assert found["questions"][0]["expected"] == [{"path": "src/app/helpers.py"}]


def test_the_set_is_rebuilt_identically(history: History) -> None:
    assert built(history) == built(history)


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("src/click/core.py", True),
        ("src/walk.rs", True),
        ("tests/test_core.py", False),
        ("pkg/tests/helpers.py", False),
        ("test_api.py", False),
        ("conftest.py", False),
        ("docs/conf.py", False),
        ("CHANGES.rst", False),
        ("changelog.d/123.md", False),
        (".github/workflows/ci.yml", False),
        ("pyproject.toml", False),
        ("Cargo.lock", False),
        ("mkdocs.yml", False),
    ],
)
def test_source_files(path: str, source: bool) -> None:
    assert builder.is_source(path) is source


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ("Fix crash in the parser", True),
        ("BUG: wrong encoding", True),
        ("Handle empty headers\n\nCloses #42", True),
        ("Add a flag (#123)", False),  # a pull-request number alone
        ("Add a flag\n\nThis also fixes a typo", False),  # "fix" in the body only
        ("docs: fix link", False),
        ("Fix typo", False),
        ("Release 2.0, fix", False),
        ('Revert "Fix crash"\n\nThis reverts commit abc.', False),
    ],
)
def test_fix_messages(message: str, fix: bool) -> None:
    assert builder.is_fix_message(message) is fix


# ------------------------------------------------------- the bench's clone


def test_the_snapshot_clone_holds_nothing_after_the_snapshot(
    history: History, tmp_path: Path
) -> None:
    git(history.repo, "tag", "v9", history.ids["merge"])  # a tag on a later commit
    snapshot = history.ids["rename"]
    clone = eval_localization.snapshot_clone(history.repo, snapshot, tmp_path / "clone")
    assert git(clone, "rev-parse", "HEAD") == snapshot
    reachable = set(git(clone, "rev-list", "--all").split())
    assert reachable == set(git(history.repo, "rev-list", snapshot).split())
    assert history.ids["after_rename"] not in reachable and git(clone, "tag") == ""
    assert (clone / "src/app/helpers.py").is_file() and not (clone / "src/app/cache.py").exists()
    # Made once: a second call reuses it as it is.
    assert eval_localization.snapshot_clone(history.repo, "nonsense", clone) == clone


def test_a_refused_question_is_a_counted_miss() -> None:
    refused = eval_localization.Refusals()

    def search(question: str, mode: str, top_k: int) -> list[str]:
        if len(question) > 5:
            raise ClientError(grpc.StatusCode.INVALID_ARGUMENT, "query: too long")
        if question == "gone":
            raise ClientError(grpc.StatusCode.NOT_FOUND, "project")
        return ["a.py"]

    asked = eval_localization.tolerant(search, refused, ("click", "all files"))
    assert asked("short", "hybrid", 10) == ["a.py"]
    assert asked("a long report", "hybrid", 10) == [] and asked("too long", "dense", 10) == []
    where = ("click", "all files")
    assert refused.counts == {(*where, "hybrid"): 1, (*where, "dense"): 1}
    with pytest.raises(ClientError, match="NOT_FOUND"):
        asked("gone", "hybrid", 10)


# ------------------------------------------------------- traceback sets

TRACE = (
    "Handle a missing config\n\n"
    "Traceback (most recent call last):\n"
    '  File "/home/me/app/src/app/core.py", line 1, in <module>\n'
    "KeyError: 'x'\n"
)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> History:
    history = History(tmp_path_factory.mktemp("traces") / "owner+app" / "repo")
    history.add("fix", "Fix crash when the config is empty", {"src/app/core.py": "x = 2\n"})
    history.add("trace", TRACE, {"src/app/core.py": "x = 3\n", "src/app/util.py": "u = 1\n"})
    history.add("outside", TRACE.replace("missing", "bad"), {"src/app/m0.py": "x = 4\n"})
    reverted = 'Revert "Handle a missing config"\n\n' + TRACE
    history.add("revert", reverted, {"src/app/core.py": "x\n"})
    return history


def test_a_traceback_set_asks_the_commits_quoting_a_python_trace(traced: History) -> None:
    repository = builder.Repository(
        "traces-app", "owner/app", traced.ids["revert"], kind="traceback",
        include=("/src/app/core.py", "/src/app/util.py"), history_commits=50,
    )  # fmt: skip
    found = builder.build_set(repository, traced.repo.parents[1])

    # A trace is the report ("fix" not needed); a fix without one, a revert, and a trace
    # whose only answer file is outside ``include`` are left out.
    assert [q["commit"] for q in found["questions"]] == [traced.ids["trace"]]
    question = found["questions"][0]
    assert question["style"] == "traceback" and question["names_expected_file"] is True
    assert [e["path"] for e in question["expected"]] == ["src/app/core.py", "src/app/util.py"]
    assert found["connector"] == {
        "include": ["/src/app/core.py", "/src/app/util.py"],
        "history_commits": 50,
    }


def test_a_set_of_the_whole_repository_records_no_connector(history: History) -> None:
    assert "connector" not in built(history)


def test_the_bench_gives_a_set_its_own_connector_settings() -> None:
    assert eval_localization.connector_of("click") == {}
    assert eval_localization.connector_of("traces-electrum") == {
        "include": ["/electrum/**/*.py"],
        "history_commits": 2000,
    }
