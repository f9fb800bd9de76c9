"""The ``git`` connector on hostile repositories: a per-file problem is a warning, not the end.

Issue #13 item 7. Repositories are real, written with git's plumbing (no worktree could
hold them): paths past PATH_MAX, names past NAME_MAX, names git refuses to check out,
submodules, symlinks dangling or with targets too long for the system.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from projectqa.plugins.gitcheckout import Limits, refused_name
from projectqa.server.sources import Checkpoint, SourceDocument, SourceItem, SourceWarning

from .git_objects import (
    Symlink,
    bare_repository,
    git_bytes,
    path_past_path_max,
    plumbed_commit,
)
from .test_git import commit_all, docs, git, run, warnings, write
from .trees import PATH_MAX, clone_without_submodules

NAME_MAX = 255
DEEP = path_past_path_max()
DEEP_KEY = DEEP.decode()
LONG_NAME = b"n" * 300 + b".txt"
NOT_CHECKED_OUT = "not checked out, so OpenFile and Grep cannot read it: "


def warning_list(items: list[SourceItem]) -> list[tuple[str, str]]:
    return sorted((i.key, i.message) for i in items if isinstance(i, SourceWarning))


def checked_out(checkout: Path) -> list[str]:
    """Every file of the checkout (relative keys), read through os.walk as tools would list them."""
    found = []
    for folder, dirs, files in os.walk(checkout):
        dirs[:] = [d for d in dirs if d != ".git" or Path(folder) != checkout]
        found += [os.path.relpath(os.path.join(folder, f), checkout) for f in files]
    return sorted(found)


def test_paths_too_long_for_the_system_are_indexed_and_left_out_of_the_checkout(
    tmp_path: Path,
) -> None:
    """The reported crash: ``git checkout`` failed on a path past 4,096 bytes and ended the run."""
    repo = bare_repository(tmp_path / "origin")
    first = plumbed_commit(
        repo,
        {
            b"ok.txt": b"fine\n",
            DEEP: b"def deep():\n    return 42\n",
            LONG_NAME: b"a long name\n",
            b"src/app.py": b"def main():\n    pass\n",
        },
    )
    work = tmp_path / "work"
    items = run(work, url=str(repo))

    assert sorted(docs(items)) == sorted([DEEP_KEY, "ok.txt", LONG_NAME.decode(), "src/app.py"])
    assert docs(items)[DEEP_KEY].text == "def deep():\n    return 42\n"
    assert warning_list(items) == [
        (
            DEEP_KEY,
            f"{NOT_CHECKED_OUT}its path is {len(DEEP):,} bytes, "
            f"longer than this system allows ({PATH_MAX - 1:,})",
        ),
        (
            LONG_NAME.decode(),
            f"{NOT_CHECKED_OUT}a name on its path is {len(LONG_NAME)} bytes, "
            f"longer than this file system allows ({NAME_MAX})",
        ),
    ]
    assert items[-1] == Checkpoint(
        {"commit": first, "checkout": str(work / "checkout"), "history": 10_000}, revision=first
    )
    checkout = work / "checkout"
    assert checked_out(checkout) == ["ok.txt", "src/app.py"]
    assert git(checkout, "rev-parse", "HEAD") == first

    # The next run moves the checkout on, and says again what it leaves out.
    second = plumbed_commit(
        repo, {b"ok.txt": b"fine\n", DEEP: b"changed\n", b"src/new.py": b"NEW = 1\n"}
    )
    items = run(work, cursor=items[-1].cursor, full=False, url=str(repo))
    assert sorted(docs(items)) == [DEEP_KEY, "src/new.py"]
    assert [key for key, _ in warning_list(items)] == [DEEP_KEY]
    assert checked_out(checkout) == ["ok.txt", "src/new.py"]
    assert git(checkout, "rev-parse", "HEAD") == second


def test_names_git_refuses_to_check_out_are_warnings(tmp_path: Path) -> None:
    """``git checkout`` refuses ``.GIT``, ``git~1``, ``..``: it failed the run after every file."""
    repo = bare_repository(tmp_path / "origin")
    plumbed_commit(
        repo,
        {
            b"ok.txt": b"fine\n",
            b".GIT/config": b"[core]\n\tfsmonitor = touch pwned\n",
            b"git~1/notes.txt": b"notes\n",
            b"docs/.git. /x.txt": b"x\n",
            b"docs/.gitmodules": Symlink(b"../ok.txt"),
            b"../escape.txt": b"outside\n",
            b"a/./b.txt": b"dot\n",
            b"nl\nname.txt": b"a newline in the name\n",
            b"bad\xffname.txt": b"not UTF-8\n",
        },
    )
    work = tmp_path / "work"
    items = run(work, url=str(repo))

    refused = "{}its path holds {!r}, a name git refuses to check out"
    assert sorted(docs(items)) == [
        ".GIT/config",
        "docs/.git. /x.txt",
        "git~1/notes.txt",
        "nl\nname.txt",
        "ok.txt",
    ]
    assert warning_list(items) == sorted(
        [
            ("../escape.txt", "its path holds '..', which git refuses; not indexed"),
            (".GIT/config", refused.format(NOT_CHECKED_OUT, ".GIT")),
            ("a/./b.txt", "its path holds '.', which git refuses; not indexed"),
            ("bad\ufffdname.txt", "file name is not valid UTF-8"),
            ("docs/.git. /x.txt", refused.format(NOT_CHECKED_OUT, ".git. ")),
            ("git~1/notes.txt", refused.format(NOT_CHECKED_OUT, "git~1")),
        ]
    )
    checkout = work / "checkout"
    assert checked_out(checkout) == sorted(["ok.txt", "nl\nname.txt", "bad\udcffname.txt"])
    assert not (work / "escape.txt").exists() and not (checkout / "pwned").exists()


@pytest.mark.parametrize("symlink", [False, True], ids=["file", "symlink"])
def test_refused_names_are_those_git_refuses(tmp_path: Path, symlink: bool) -> None:
    """The names :func:`refused_name` predicts are exactly those git's ``verify_path`` refuses
    (protectNTFS on, as by default), plus the HFS look-alikes of ``.git`` (refused always)."""
    names = [
        *(b".git", b".GIT", b".Git ", b".git.", b".git. . ", b".git:stream", b".git\\x"),
        *(b"git~1", b"GIT~1", b"git~2", b"git~10"),
        *(b".gitmodules", b".GitModules", b".gitmodules. ", b".gitmodules:x"),
        *(b"gitmod~1", b"GITMOD~4", b"gitmod~5", b"gi7eba~1", b"gi7eb~12", b"~1234567"),
        *(b"~123456", b"gi7ebb~1", b"gitmo~12", b".", b"..", b"..."),
        *(b".git-x", b".gitignore", b".github", b"a.git", b"git", b"x~1", b"name\nnl"),
    ]
    hfs_only = [".g\u200cit".encode(), ".GI\ufeffT".encode()]
    repo = bare_repository(tmp_path / "repo")
    blob = git_bytes(repo, "hash-object", "-w", "--stdin", stdin=b"x").decode().strip()
    mode = "120000" if symlink else "100644"
    for name in [*names, *hfs_only]:
        record = f"{mode} blob {blob}\t".encode() + name + b"\0"
        tree = git_bytes(repo, "mktree", "-z", stdin=record).decode().strip()
        index = tmp_path / "index"
        refused_by_git = (
            subprocess.run(
                ["git", "-C", str(repo), "read-tree", f"--index-output={index}", tree],
                capture_output=True,
            ).returncode
            != 0
        )
        expected = refused_by_git or name in hfs_only
        assert refused_name(name, symlink=symlink) == expected, (name, refused_by_git)


def test_submodules_are_reported_not_silently_skipped(tmp_path: Path) -> None:
    clone_without_submodules(tmp_path)  # tmp_path/upstream: app.py and the submodule lib
    upstream = tmp_path / "upstream"
    pinned = git(upstream, "rev-parse", "HEAD:lib")
    items = run(tmp_path / "work", url=str(upstream))

    assert sorted(docs(items)) == [".gitmodules", "app.py"]
    assert warnings(items) == {
        "lib": f"git submodule at commit {pinned[:12]}; its files are not indexed"
    }
    assert warnings(run(tmp_path / "work2", url=str(upstream), exclude=["lib/"])) == {}

    # Moving the submodule to another commit is a change: reported again.
    git(upstream / "lib", "commit", "-q", "--allow-empty", "-m", "later")
    moved = commit_all(upstream, "move lib")
    incremental = run(tmp_path / "work", cursor=items[-1].cursor, full=False, url=str(upstream))
    pinned = git(upstream, "rev-parse", f"{moved}:lib")
    assert warnings(incremental) == {
        "lib": f"git submodule at commit {pinned[:12]}; its files are not indexed"
    }


def test_broken_and_overlong_symlinks_are_reported(tmp_path: Path) -> None:
    repo = bare_repository(tmp_path / "origin")
    plumbed_commit(
        repo,
        {
            b"src/app.py": b"def main():\n    pass\n",
            b"src/alias.py": Symlink(b"app.py"),
            b"src/folder": Symlink(b"../docs"),
            b"docs/guide.md": b"Guide\n",
            b"dangling.txt": Symlink(b"src/missing.py"),
            b"huge": Symlink(b"x/" * 3000),
            b"via-link.md": Symlink(b"src/folder/guide.md"),  # through a symlink: not judged
        },
    )
    items = run(tmp_path / "work", url=str(repo))

    assert sorted(docs(items)) == ["docs/guide.md", "src/app.py"]
    assert warning_list(items) == [
        ("dangling.txt", "broken symlink; skipped"),
        (
            "huge",
            f"symlink target of 6,000 bytes, longer than this system allows "
            f"({PATH_MAX - 1:,}); skipped",
        ),
    ]
    checkout = tmp_path / "work" / "checkout"
    assert os.readlink(checkout / "src" / "alias.py") == "app.py"
    assert not os.path.lexists(checkout / "huge")


def test_newlines_and_quotes_in_names_survive_incremental_runs(tmp_path: Path) -> None:
    """Git quotes such names in its output unless ``-z`` is used: every listing uses it."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    write(origin, 'say "hi"\n.txt', "quoted\n")
    write(origin, "tab\there.txt", "tab\n")
    commit_all(origin)
    cursor = run(tmp_path / "work", url=str(origin))[-1].cursor
    git(origin, "mv", 'say "hi"\n.txt', "renamed\n.txt")
    write(origin, "tab\there.txt", "changed\n")
    commit_all(origin)

    items = run(tmp_path / "work", cursor=cursor, full=False, url=str(origin))

    assert sorted(docs(items)) == ["renamed\n.txt", "tab\there.txt"]
    assert [i.key for i in items if type(i).__name__ == "Deletion"] == ['say "hi"\n.txt']
    assert warnings(items) == {}


def test_a_checkout_failure_nobody_foresaw_is_a_warning_not_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the limits be misjudged (here: a file system said to take any path), git's
    own failure to write a path leaves the checkout behind, with a warning; the run succeeds."""
    monkeypatch.setattr(Limits, "of", classmethod(lambda cls, folder: cls(path_max=1 << 20)))
    repo = bare_repository(tmp_path / "origin")
    commit = plumbed_commit(repo, {b"ok.txt": b"fine\n", DEEP: b"deep\n"})

    items = run(tmp_path / "work", url=str(repo))

    assert sorted(docs(items)) == [DEEP_KEY, "ok.txt"]
    [(key, message)] = warning_list(items)
    assert key == ""
    assert message.startswith(
        f"the checkout OpenFile and Grep read was not moved to {commit[:12]} "
        "(fatal: cannot create directory at 'deep/ddd"
    )
    assert message.endswith("dd…); they may show older files, or miss some")
    assert len(message) < 450
    assert items[-1].revision == commit


def test_a_name_listed_twice_in_a_forged_tree_is_indexed_once(tmp_path: Path) -> None:
    repo = bare_repository(tmp_path / "origin")
    first = git_bytes(repo, "hash-object", "-w", "--stdin", stdin=b"first\n").decode().strip()
    second = git_bytes(repo, "hash-object", "-w", "--stdin", stdin=b"second\n").decode().strip()
    records = [f"100644 blob {sha}\ttwice.txt\0".encode() for sha in (first, second)]
    tree = git_bytes(repo, "mktree", "-z", stdin=b"".join(records)).decode().strip()
    commit = git_bytes(repo, "commit-tree", tree, "-m", "forged").decode().strip()
    git_bytes(repo, "update-ref", "refs/heads/main", commit)

    listed_first = git_bytes(repo, "ls-tree", "main").split()[2].decode()  # in the tree's order

    items = run(tmp_path / "work", url=str(repo))

    assert [
        (i.key, i.version) for i in items if isinstance(i, SourceDocument) and i.kind == "file"
    ] == [("twice.txt", listed_first)]
    assert warning_list(items) == [
        ("twice.txt", "listed twice in its folder; only the first is indexed")
    ]
