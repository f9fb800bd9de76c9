"""Build the bug-localization question sets from real public git history.

For each repository of :data:`REPOSITORIES` (bare mirrors brought onto this
machine with ``fetch``, under ``/work/.mirror/<owner>+<name>/repo``) this writes
``bench/eval/localization/<name>.json``: questions a user could ask ("here is a bug
report, where is it?") and the files that answer them. No existing benchmark is
used (none of these repositories is in SWE-bench); the set holds commit ids,
commit messages and paths only, no code.

Method (docs/LOCALIZATION_EVAL.md discusses it):

1. **Pinned head.** Each repository names a head commit H (the mirror's HEAD
   when the set was made), so a re-fetched mirror rebuilds the same set.
2. **Bug-fixing commits** among the non-merge commits reachable from H: the
   message says "fix"/"fixes"/"fixed", "bug"/"bugfix", "regression", "crash", or
   "closes/resolves #N"; not a revert, a release or version bump, a dependency
   bump; the subject is not about chores (typo, lint, formatting, CI, docs,
   tests, type checking: :data:`CHORE`). A pull-request number alone ("(#123)",
   which squash-merged repositories put on every commit) does not make a fix.
3. **Answer files** of a fix: the files it changed that are source code, i.e. not
   tests (``tests/``, ``test_*.py``, ``conftest.py``, ...), not docs or changelogs
   (``docs/``, ``*.md``, ``*.rst``, ``CHANGES``...), not project metadata (dotfiles,
   CI, lock files, ``pyproject.toml``, ``Cargo.toml``, ``setup.py``). A commit with
   no answer file (docs-only, test-only) or more than :data:`MAX_SOURCE_FILES`
   of them (a sweep, not a bug fix) is left out.
4. **Snapshot S.** Walking H's first-parent line back from H, S is the first
   commit such that at least ``fixes`` bug-fixing commits lie in ``S..H``. The
   questions are the fixes in ``S..H`` (oldest first), and every question is
   asked of the repository *at S*: one ingestion per repository instead of one
   per fix's parent. This is fair in the direction that matters: S precedes every
   fix, so no fix (and no later code) can leak into the index; the price is that
   the code may have drifted between S and the fix's parent. Answer paths are
   therefore mapped back to S: a file renamed between S and the fix's parent is
   expected under its name at S (``git diff -M S C^``), and a file that does not
   exist at S as a text file (added after S) is dropped; a fix left with no
   answer file is left out.
5. **The question** is the commit message as written (subject and body), with
   git trailers (``Signed-off-by:``, ``Co-authored-by:``...) removed. Paths the
   message names are kept: bug reports name files and tracebacks name frames,
   and the issue asks for the message. Each question records
   ``names_expected_file`` (the message contains an answer file's name) so the
   share of such "easy" questions is visible. Linked issues' texts are not
   added: git history does not carry them (the GitHub API is not reachable here).

**Traceback sets** (``kind="traceback"``, e.g. ``traces-electrum``): the questions
are the commits whose message carries a Python stack trace (a ``File "...", line N``
frame, :data:`PY_FRAME`): the trace *is* the bug report, so no "fix" word is needed
(reverts are still left out). Such a set may index only part of the repository
(``include``: gitignore patterns the bench's git connector is given, recorded in the
set's ``connector``); answer files outside it are dropped like files added after S.

Usage::

    python bench/localization_set.py [--repos click httpx] [--mirrors /work/.mirror]
"""

from __future__ import annotations

import argparse
import itertools
import json
import posixpath
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

BENCH = Path(__file__).resolve().parent
OUTPUT = BENCH / "eval" / "localization"
MIRRORS = Path("/work/.mirror")
MAX_SOURCE_FILES = 10
MAX_BLOB_BYTES = 1_000_000  # as the connectors' default file size limit


@dataclass(frozen=True, slots=True)
class Repository:
    """A public repository, the head its set is pinned to, and how many fixes to take."""

    name: str
    github: str  # owner/name
    head: str
    fixes: int = 45
    kind: str = "bugfix"  # or "traceback": commits whose message carries a Python trace
    include: tuple[str, ...] = ()  # gitignore patterns of the files indexed (all when empty)
    history_commits: int | None = None  # commits indexed as history (the connector's default)

    def connector(self) -> dict[str, object]:
        """What the bench's git connector is given besides its clone (none by default)."""
        config: dict[str, object] = {"include": list(self.include)} if self.include else {}
        if self.history_commits is not None:
            config["history_commits"] = self.history_commits
        return config

    def mirror(self, root: Path = MIRRORS) -> Path:
        return root / self.github.replace("/", "+") / "repo"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.github}"


REPOSITORIES = (
    Repository("click", "pallets/click", "2c8cd3ac958a7eb316d67f2d316c27086c4c0369"),
    Repository("httpx", "encode/httpx", "ae1b9f66238f75ced3ced5e4485408435de10768", fixes=35),
    Repository("attrs", "python-attrs/attrs", "c1dc5dcba16ed827aa6dcad896b41a3afedb4e32"),
    Repository(
        "marshmallow", "marshmallow-code/marshmallow", "341b927f219205704728c05cd61f04d7e9727523"
    ),
    Repository("fd", "sharkdp/fd", "ee20f426ddf338ac7ead5c5f00ea49258005caaf", fixes=35),
    # Pasted stack traces: Electrum's developers quote the traceback a fix answers in the
    # commit message (182 such commits; the most of ~25 Python repositories checked).
    # Only its Python package and the last 2,000 commits of its history are indexed: the
    # whole tree (wordlists, wallet fixtures, build scripts, QML) and 10,000 commit records
    # would take over 15 minutes to ingest on the bench's shared machine.
    Repository(
        "traces-electrum",
        "spesmilo/electrum",
        "923578010e56243ee85b3965604d6ad6974d8f33",
        fixes=55,
        kind="traceback",
        include=("/electrum/**/*.py",),
        history_commits=2000,
    ),
)

FIX = re.compile(r"\b(fix(e[sd]|ing)?|bug(s|fix(es)?)?|regression|crash(es|ed)?)\b", re.IGNORECASE)
# In the body only an issue link makes a fix ("fix" alone there often describes a feature).
LINKED_FIX = re.compile(r"\b(fix(e[sd])?|close[sd]?|resolve[sd]?)\s*:?\s+#\d+", re.IGNORECASE)
# Subjects that are not bug reports even when they say "fix".
CHORE = re.compile(
    r"^\s*(docs?|ci|test|tests|chore|build|style|refactor|release)(\([^)]*\))?!?:"
    r"|\b(typos?|lint(ing|er)?|clippy|ruff|flake8|mypy|pyright|pre-commit|format(ting)?|"
    r"markup|docstrings?|badges?|readme|changelog|spelling|grammar|ci|workflows?|docs?|documentation|"
    r"tests?|coverage|deprecation warnings?|dependabot)\b",
    re.IGNORECASE,
)
RELEASE = re.compile(
    r"^\s*(revert\b|release\b|bump\b|prepare\b.*\brelease|(version|v)\s*\d+\.\d+|\d+\.\d+(\.\d+)?\s*$)",
    re.IGNORECASE,
)
# A Python stack-trace frame, as evidence.py reads it: the mark of a pasted traceback.
PY_FRAME = re.compile(r'File "[^"\n]{1,200}", line \d{1,9}')
TRAILER = re.compile(r"^[A-Za-z][A-Za-z-]*(-by|-authored-by|-Id)\s*:.*$", re.IGNORECASE)

TEST_DIRS = {"tests", "test", "testing", "__tests__", "testdata", "fixtures"}
TEST_FILE = re.compile(r"^(test_.*\.py|.*_test\.(py|go|rs)|conftest\.py|.*\.(test|spec)\.[jt]sx?)$")
DOC_DIRS = {"docs", "doc", "changelog.d", "changes", "man", "examples"}
DOC_SUFFIXES = {".md", ".rst", ".txt", ".adoc", ".html", ".svg", ".png", ".jpg", ".gif"}
DOC_NAMES = re.compile(
    r"^(changes|changelog|history|news|authors|license|readme|contributing)\b", re.I
)
META_SUFFIXES = {".lock", ".yml", ".yaml", ".toml", ".cfg", ".ini"}
META_NAMES = {
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "tox.ini",
    "noxfile.py",
    "cargo.toml",
    "cargo.lock",
    "makefile",
    "manifest.in",
    "requirements.txt",
}


# ----------------------------------------------------------------- file kinds


def is_test(path: str) -> bool:
    parts = path.split("/")
    return bool(TEST_DIRS & set(parts[:-1])) or bool(TEST_FILE.match(parts[-1]))


def is_doc(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    suffix = posixpath.splitext(name)[1].lower()
    return bool(DOC_DIRS & set(parts[:-1])) or suffix in DOC_SUFFIXES or bool(DOC_NAMES.match(name))


def is_meta(path: str) -> bool:
    """Project metadata: dotfiles and dot-folders (CI), build and lock files."""
    parts = path.split("/")
    name = parts[-1].lower()
    dotted = any(p.startswith(".") for p in parts)
    return dotted or name in META_NAMES or posixpath.splitext(name)[1] in META_SUFFIXES


def is_source(path: str) -> bool:
    return not (is_test(path) or is_doc(path) or is_meta(path))


# ------------------------------------------------------------------------ git


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, check=True, text=True
    )
    return done.stdout


@dataclass(frozen=True, slots=True)
class Change:
    """One file a commit changed: git's status letter, the path before and after."""

    status: str
    old: str
    new: str


def parse_name_status(raw: str) -> list[Change]:
    """``--name-status -z`` output: renames and copies carry two paths."""
    fields = raw.split("\0")
    changes, i = [], 0
    while i < len(fields) and fields[i]:
        status = fields[i][0]
        if status in "RC":
            changes.append(Change(status, fields[i + 1], fields[i + 2]))
            i += 3
        else:
            changes.append(Change(status, fields[i + 1], fields[i + 1]))
            i += 2
    return changes


def commit_changes(repo: Path, commit: str) -> list[Change]:
    raw = git(repo, "diff-tree", "-r", "-M", "--no-commit-id", "--name-status", "-z", commit)
    return parse_name_status(raw)


def renames_between(repo: Path, old: str, new: str) -> dict[str, str]:
    """Path at ``new`` → path at ``old`` for the files git sees renamed in between."""
    raw = git(repo, "diff", "-M", "--name-status", "-z", old, new)
    return {c.new: c.old for c in parse_name_status(raw) if c.status == "R"}


def parent_count(repo: Path, commit: str) -> int:
    return len(git(repo, "rev-list", "--parents", "-n1", commit).split()) - 1


def message(repo: Path, commit: str) -> str:
    return git(repo, "log", "-1", "--format=%B", commit)


def text_files_at(repo: Path, commit: str) -> set[str]:
    """The paths of ``commit`` that an ingestion would read: blobs, not too big, not binary."""
    listing = git(repo, "ls-tree", "-r", "-l", "-z", commit)
    paths = set()
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, _, size = meta.split()
        if kind == "blob" and mode != "120000" and int(size) <= MAX_BLOB_BYTES:
            paths.add(path)
    return paths


# ------------------------------------------------------------------- commits


def clean_message(raw: str) -> str:
    """The message without git trailers and surrounding blank lines."""
    lines = [line for line in raw.splitlines() if not TRAILER.match(line.strip())]
    return "\n".join(lines).strip()


@dataclass(frozen=True, slots=True)
class Fix:
    """A bug-fixing commit: its id, cleaned message and the source files it changed."""

    commit: str
    text: str
    files: tuple[str, ...]


def is_fix_message(text: str) -> bool:
    """A fix by its subject, or by an issue link in its body; not a chore, release or revert."""
    subject = text.splitlines()[0] if text else ""
    says_fix = bool(FIX.search(subject) or LINKED_FIX.search(text))
    chore = CHORE.search(subject) or RELEASE.match(subject) or "This reverts commit" in text
    return says_fix and not chore


def is_trace_message(text: str) -> bool:
    """A message quoting a Python stack trace (a report by itself); not a revert."""
    subject = text.splitlines()[0] if text else ""
    revert = re.match(r"\s*revert\b", subject, re.I) or "This reverts commit" in text
    return bool(PY_FRAME.search(text)) and not revert


ASKS = {"bugfix": is_fix_message, "traceback": is_trace_message}


def as_fix(repo: Path, commit: str, kind: str = "bugfix") -> Fix | None:
    """The commit as a Fix, or None when it is no bug fix (of ``kind``: :data:`ASKS`) by
    the rules of the module doc."""
    if parent_count(repo, commit) != 1:
        return None  # a merge (its changes are in the commits it merges) or a root commit
    text = clean_message(message(repo, commit))
    if not ASKS[kind](text):
        return None
    changes = commit_changes(repo, commit)
    files = tuple(sorted({c.old for c in changes if c.status != "A" and is_source(c.old)}))
    if not files or len(files) > MAX_SOURCE_FILES:
        return None
    return Fix(commit, text, files)


class FixFinder:
    """Decides, once per commit, whether it is a fix (the snapshot search asks again)."""

    def __init__(self, repo: Path, kind: str = "bugfix") -> None:
        self.repo = repo
        self.kind = kind
        self._seen: dict[str, Fix | None] = {}

    def fix(self, commit: str) -> Fix | None:
        if commit not in self._seen:
            self._seen[commit] = as_fix(self.repo, commit, self.kind)
        return self._seen[commit]

    def fixes_in(self, revisions: str) -> list[Fix]:
        """The fixes among the non-merge commits of a revision range, oldest first."""
        commits = git(self.repo, "rev-list", "--no-merges", "--reverse", "--topo-order", revisions)
        return [f for f in map(self.fix, commits.split()) if f is not None]


def choose_snapshot(finder: FixFinder, head: str, wanted: int) -> str:
    """The first commit S on ``head``'s first-parent line with ``wanted`` fixes in S..head
    (the root of that line when the whole history holds fewer)."""
    line = git(finder.repo, "rev-list", "--first-parent", head).split()
    found = 0
    for newer, older in itertools.pairwise(line):
        found += len(finder.fixes_in(f"{older}..{newer}"))
        if found >= wanted:
            return older
    return line[-1]


# ------------------------------------------------------------------ questions


def answer_files(repo: Path, fix: Fix, snapshot: str, at_snapshot: set[str]) -> list[str]:
    """The fix's source files as named at the snapshot, those the snapshot has as text."""
    back = renames_between(repo, snapshot, f"{fix.commit}^")
    named = {back.get(path, path) for path in fix.files}
    return sorted(path for path in named if path in at_snapshot and is_source(path))


def names_a_file(text: str, paths: Iterable[str]) -> bool:
    """Whether the message names one of ``paths`` (its file name, e.g. ``core.py``)."""
    return any(posixpath.basename(p) in text for p in paths)


def indexed(paths: set[str], include: Sequence[str]) -> set[str]:
    """The paths an ingestion with ``include`` patterns (gitignore syntax) reads."""
    if not include:
        return paths
    spec = GitIgnoreSpec.from_lines(include)
    return {path for path in paths if spec.match_file(path)}


def questions(
    repo: Path,
    fixes: Sequence[Fix],
    snapshot: str,
    prefix: str,
    include: Sequence[str] = (),
    style: str = "bugfix",
) -> Iterator[dict]:
    at_snapshot = indexed(text_files_at(repo, snapshot), include)
    asked: set[str] = set()  # a fix cherry-picked onto another branch is asked once
    for fix in fixes:
        files = answer_files(repo, fix, snapshot, at_snapshot)
        if files and fix.text not in asked:
            asked.add(fix.text)
            yield {
                "id": f"{prefix}-{fix.commit[:10]}",
                "question": fix.text,
                "style": style,
                "commit": fix.commit,
                "names_expected_file": names_a_file(fix.text, files),
                "expected": [{"path": path} for path in files],
            }


def build_set(repository: Repository, mirrors: Path = MIRRORS) -> dict:
    """The question set of ``repository`` (a pure function of its mirror and pinned head)."""
    repo = repository.mirror(mirrors)
    finder = FixFinder(repo, repository.kind)
    snapshot = choose_snapshot(finder, repository.head, repository.fixes)
    fixes = finder.fixes_in(f"{snapshot}..{repository.head}")
    found = list(
        questions(repo, fixes, snapshot, repository.name, repository.include, repository.kind)
    )
    built = {
        "name": repository.name,
        "source": repository.url,
        "snapshot": snapshot,
        "head": repository.head,
        "method": "bench/localization_set.py (see its docstring and docs/LOCALIZATION_EVAL.md)",
    }
    # Only a partial index records its connector (the first sets' files stay as they were).
    connector = repository.connector()
    return built | ({"connector": connector} if connector else {}) | {"questions": found}


def write_set(question_set: dict, folder: Path = OUTPUT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{question_set['name']}.json"
    path.write_text(json.dumps(question_set, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [r.name for r in REPOSITORIES]
    parser.add_argument("--repos", nargs="+", choices=names, default=names)
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    for repository in REPOSITORIES:
        if repository.name in args.repos:
            built = build_set(repository, args.mirrors)
            path = write_set(built, args.out)
            easy = sum(q["names_expected_file"] for q in built["questions"])
            print(
                f"{repository.name}: {len(built['questions'])} questions at "
                f"{built['snapshot'][:12]} ({easy} name an answer file) -> {path}"
            )


if __name__ == "__main__":
    main()
