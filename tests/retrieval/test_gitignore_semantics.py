"""Path patterns mean what git means (issue 16): each pattern of a table, on each path of a
table, decided by ``git check-ignore`` in a real temporary repository, and compared with

- Search's path filter: a glob takes what git would ignore under it; "!glob" leaves out
  what git would ignore under "glob" (``tests/`` and ``!tests/`` reach a ``tests`` folder
  at any depth);
- the file connectors' ``exclude`` (whole ``.gitignore`` files, "!" re-includes, nothing
  re-included below an excluded folder) and ``include`` lists, walked as they walk.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from projectqa.plugins.files import FileRules
from projectqa.server.retrieval.query import path_spec

PATHS = (
    "tests/a.py",
    "a/tests/b.py",
    "a/b/tests/c/d.py",
    "tests.py",
    "a/tests",
    "src/app.py",
    "src/vendor/lib.py",
    "src/vendor/keep.txt",
    "docs/guide/x.md",
    "README.md",
    "build/out.o",
    "a/build/out.o",
    "keep.log",
    "a/debug.log",
    "x/foo/y/bar.txt",
    "foo/bar.txt",
)

# One pattern per row: Search's filter takes one or more globs, each a single pattern.
PATTERNS = (
    "tests/",
    "tests",
    "/tests/",
    "**/tests/**",
    "*.py",
    "src/**/*.py",
    "src/",
    "/src/vendor/",
    "docs/**/*.md",
    "*.md",
    "/README.md",
    "build",
    "*.log",
    "foo/**/bar.txt",
    "**/foo/**",
    "a/*",
    "a/**",
    "*",
)

# Whole exclude lists, with re-inclusions: what a connector's config holds.
EXCLUDE_LISTS = (
    ("*.log", "!keep.log"),
    ("build/", "!build/out.o"),  # nothing is re-included below an excluded folder
    ("src/", "!src/vendor/"),
    ("src/*", "!src/vendor/"),
    ("*", "!*/", "!*.py"),
    ("tests/", "!a/tests/"),
    ("**/tests", "!tests"),
)


def git_ignored(tmp: Path, lines: tuple[str, ...], paths: tuple[str, ...] = PATHS) -> set[str]:
    """The paths git ignores when ``lines`` are the repository's .gitignore."""
    repo = tmp / f"repo{abs(hash(lines))}"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for path in paths:
        target = repo / path
        if not (target.parent.exists() and target.parent.is_file()):
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_text("x\n")
    (repo / ".gitignore").write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", "--no-index", "--stdin", "-z"],
        input="\0".join(paths) + "\0",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: nothing ignored
    return set(filter(None, done.stdout.split("\0")))


def file_paths(paths: tuple[str, ...] = PATHS) -> tuple[str, ...]:
    """``a/tests`` is a file in one row and a folder in another: keep the folder."""
    return tuple(p for p in paths if not any(q.startswith(p + "/") for q in paths))


def connector_takes(rules: FileRules, path: str) -> bool:
    """Walked as the connectors walk: an excluded folder is not entered."""
    parts = path.split("/")
    folders = ("/".join(parts[:n]) for n in range(1, len(parts)))
    return not any(rules.excludes(f, is_dir=True) for f in folders) and rules.takes(path)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_search_glob_takes_what_git_ignores_under_it(tmp_path: Path, pattern: str) -> None:
    paths = file_paths()
    ignored = git_ignored(tmp_path, (pattern,), paths)

    taken = {p for p in paths if path_spec((pattern,)).match_file(p)}
    left = {p for p in paths if path_spec(("!" + pattern,)).match_file(p)}

    assert taken == ignored
    assert left == set(paths) - ignored


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_connector_include_or_exclude_pattern_as_git(tmp_path: Path, pattern: str) -> None:
    paths = file_paths()
    ignored = git_ignored(tmp_path, (pattern,), paths)

    excluding = FileRules.from_config({"exclude": [pattern]})
    including = FileRules.from_config({"include": [pattern]})

    assert {p for p in paths if not connector_takes(excluding, p)} == ignored
    assert {p for p in paths if connector_takes(including, p)} == ignored


@pytest.mark.parametrize("lines", EXCLUDE_LISTS, ids=" | ".join)
def test_a_connector_exclude_list_with_reinclusions_as_git(
    tmp_path: Path, lines: tuple[str, ...]
) -> None:
    paths = file_paths()
    ignored = git_ignored(tmp_path, lines, paths)

    rules = FileRules.from_config({"exclude": list(lines)})

    assert {p for p in paths if not connector_takes(rules, p)} == ignored


def test_exclusions_and_inclusions_combine() -> None:
    spec = path_spec(("src/", "!src/vendor/", "!**/tests/"))

    assert [p for p in PATHS if spec.match_file(p)] == ["src/app.py"]
