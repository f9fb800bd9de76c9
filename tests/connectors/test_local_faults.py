"""The ``local`` connector on hostile trees: a per-file OS fault is a warning, not the run's end.

Trees are real: paths past PATH_MAX built through directory descriptors, FIFOs, Unix
sockets, device nodes, git submodules, files that vanish or change kind between the
listing and the read, and (as an unprivileged user, also when the suite runs as root)
files and folders that cannot be read.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projectqa.plugins import folder as folder_module
from projectqa.plugins.local import FolderSource
from projectqa.server.sources import (
    Checkpoint,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

from .test_local import docs, run, run_unprivileged, warnings, write
from .trees import PATH_MAX, clone_without_submodules, deep_folder, unix_socket


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def warning_list(items: list[SourceItem]) -> list[tuple[str, str]]:
    return [(i.key, i.message) for i in items if isinstance(i, SourceWarning)]


@pytest.mark.parametrize("held", [None, 3], ids=["default", "deeper-than-held"])
def test_paths_longer_than_path_max_are_listed_read_and_ignored(
    root: Path, held: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported crash: a ``.gitignore`` whose path crosses 4,096 bytes ended the run."""
    if held is not None:  # folders deeper than the chain of held descriptors are reopened
        monkeypatch.setattr(folder_module, "HELD_FOLDERS", held, raising=False)
    write(root, "ok.txt")
    deep = deep_folder(
        root, {".gitignore": b"*.log\n", "deep.py": b"def deep():\n    pass\n", "noise.log": b"x"}
    )
    assert len(os.fsencode(root / deep.key)) > PATH_MAX

    items = run(root)

    assert sorted(docs(items)) == sorted([f"{deep.key}/deep.py", "ok.txt", deep.gitignore_key])
    assert docs(items)[f"{deep.key}/deep.py"].text == "def deep():\n    pass\n"
    assert warning_list(items) == []
    incremental = run(root, cursor=items[-1].cursor, full=False)
    assert docs(incremental) == {} and warning_list(incremental) == []


def test_fifos_sockets_and_devices_are_reported_and_never_opened(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root, "a.txt")
    os.mkfifo(root / "pipe")
    os.mkfifo(root / "skipped.fifo")
    with unix_socket(root, "server.sock"):
        if os.geteuid() == 0:
            os.mknod(root / "null", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
        opened: list[str] = []
        real_open = os.open

        def watching_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            opened.append(os.fsdecode(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", watching_open)
        items = run(root, exclude=["*.fifo"])

    assert list(docs(items)) == ["a.txt"]
    expected = {"pipe": "named pipe (FIFO); not read", "server.sock": "socket; not read"}
    if os.geteuid() == 0:
        expected["null"] = "character device; not read"
    assert warnings(items) == expected
    assert not {"pipe", "server.sock", "null", "skipped.fifo"} & set(opened)


def changed_after_listing(root: Path, change: Any) -> list[SourceItem]:
    """Run the connector, calling ``change()`` once the first document was read.

    Files are listed first and read in key order, so everything after the first key
    is listed as it was and read as ``change`` left it: the race, made deterministic.
    """
    context = SourceContext(config={"path": str(root)}, cursor=None, work_dir=root)
    items: list[SourceItem] = []
    for item in FolderSource(context).items():
        if isinstance(item, SourceDocument) and not any(
            isinstance(i, SourceDocument) for i in items
        ):
            change()
        items.append(item)
    return items


def test_files_that_vanish_or_change_kind_after_listing_are_warnings(
    root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "hunter2\n")
    for key in ("a.txt", "b_vanishes.txt", "c_becomes_fifo.txt", "d/swapped.txt", "e.txt"):
        write(root, key, key)
    write(root, "gone/inside.txt")

    def change() -> None:
        (root / "b_vanishes.txt").unlink()
        (root / "c_becomes_fifo.txt").unlink()
        os.mkfifo(root / "c_becomes_fifo.txt")
        (root / "d").rename(tmp_path / "d_moved")
        (root / "d").symlink_to(outside, target_is_directory=True)
        os.rename(outside / "secret.txt", outside / "swapped.txt")
        shutil.rmtree(root / "gone")

    items = changed_after_listing(root, change)

    assert sorted(docs(items)) == ["a.txt", "e.txt"]
    assert warnings(items) == {
        "b_vanishes.txt": "gone since it was listed",
        "c_becomes_fifo.txt": "became a named pipe (FIFO) since it was listed; not read",
        "d/swapped.txt": "its folder was replaced by a symlink or a file; not followed",
        "gone/inside.txt": "its folder is gone since it was listed",
    }
    assert not any("hunter2" in repr(item) for item in items)
    assert isinstance(items[-1], Checkpoint)
    assert sorted(items[-1].cursor["manifest"]) == ["a.txt", "e.txt"]


def test_unreadable_files_folders_and_gitignores_are_warnings(root: Path) -> None:
    write(root, "ok.txt")
    write(root, "secret.txt").chmod(0)
    write(root, "locked/inside.txt")
    write(root, "pkg/.gitignore", "*.tmp\n").chmod(0)
    write(root, "pkg/kept.py")
    write(root, "pkg/scratch.tmp")
    (root / "locked").chmod(0)
    try:
        items = run_unprivileged(root)
    finally:
        (root / "locked").chmod(0o755)

    assert sorted(docs(items)) == ["ok.txt", "pkg/kept.py", "pkg/scratch.tmp"]
    assert sorted(warning_list(items)) == [
        ("locked", "cannot list: Permission denied"),
        ("pkg/.gitignore", "not applied: permission denied"),
        ("pkg/.gitignore", "permission denied"),
        ("secret.txt", "permission denied"),
    ]


def test_invalid_and_undecodable_gitignores_are_warnings(root: Path) -> None:
    write(root, ".gitignore", "!\n*.log\n[z-a]\n")
    write(root, "pkg/.gitignore", b"caf\xe9/\n*.tmp\n")
    for key in ("a.log", "a.py", "pkg/b.tmp", "pkg/b.py"):
        write(root, key)

    items = run(root)

    assert sorted(docs(items)) == [".gitignore", "a.py", "pkg/.gitignore", "pkg/b.py"]
    assert warnings(items) == {
        ".gitignore": "lines 1, 3 are not valid patterns; ignored",
        "pkg/.gitignore": "not valid UTF-8; patterns with undecodable bytes match nothing",
    }


def test_an_invalid_exclude_pattern_fails_the_run_clearly(root: Path) -> None:
    with pytest.raises(SourceError, match=r"exclude pattern '!' is not a valid"):
        run(root, exclude=["*.log", "!"])


def test_submodules_not_checked_out_are_reported_nested_repositories_indexed(
    tmp_path: Path,
) -> None:
    clone = clone_without_submodules(tmp_path)
    with (clone / ".gitmodules").open("a") as gitmodules:
        gitmodules.write('[submodule "gone"]\n\tpath = vendor/gone\n\turl = ../gone\n')
        gitmodules.write('[submodule "hidden"]\n\tpath = build/hidden\n\turl = ../hidden\n')

    items = run(clone, exclude=["build/"])

    assert sorted(docs(items)) == [".gitmodules", "app.py", "tools/other/tool.py"]
    assert warnings(items) == {
        "lib": "git submodule not checked out (empty folder); its files are not indexed",
        "vendor/gone": "git submodule not checked out (no folder); its files are not indexed",
    }


def test_a_root_that_cannot_be_opened_fails_the_run_with_the_reason(root: Path) -> None:
    write(root, "file.txt")
    with pytest.raises(SourceError, match="does not exist or is not a folder"):
        run(root / "file.txt")
    too_long = Path("/" + "x" * 300)  # a name over NAME_MAX (the path is walked name by name)
    with pytest.raises(SourceError, match="cannot be opened: File name too long"):
        run(too_long)


def test_descriptors_are_closed_at_the_end_and_when_a_run_is_abandoned(root: Path) -> None:
    deep = deep_folder(root, {"deep.txt": b"x"})
    write(root, "z.txt")
    before = _open_descriptors()
    run(root)
    assert _open_descriptors() == before
    abandoned: Iterator[SourceItem] = FolderSource(
        SourceContext(config={"path": str(root)}, cursor=None, work_dir=root)
    ).items()
    assert next(abandoned).key == f"{deep.key}/deep.txt"
    abandoned.close()
    assert _open_descriptors() == before


def _open_descriptors() -> set[str]:
    try:
        return set(os.listdir("/proc/self/fd"))
    except OSError as exc:  # pragma: no cover - no /proc
        pytest.skip(f"cannot list descriptors: {errno.errorcode[exc.errno]}")


def test_folders_nested_past_the_depth_limit_are_reported_not_listed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reopening a folder costs its depth: a hostile nesting must not make a run quadratic."""
    monkeypatch.setattr(folder_module, "MAX_DEPTH", 2)
    for key in ("a/y.txt", "a/b/x.txt", "a/b/c/d.txt"):
        write(root, key)
    items = run(root)
    assert sorted(docs(items)) == ["a/b/x.txt", "a/y.txt"]
    assert warnings(items) == {"a/b/c": "nested deeper than 2 folders; not listed"}


def test_relative_symlinks_are_judged_from_the_folder_they_are_in(
    root: Path, tmp_path: Path
) -> None:
    write(tmp_path / "outside", "passwords.txt", "hunter2\n")
    write(root, "a/b/real.txt")
    (root / "up.txt").symlink_to("../outside/passwords.txt")
    (root / "a" / "b" / "escape").symlink_to("../../../outside", target_is_directory=True)
    (root / "a" / "b" / "sibling.txt").symlink_to("../../a/b/real.txt")
    items = run(root)
    assert list(docs(items)) == ["a/b/real.txt"]
    assert warnings(items) == {
        "a/b/escape": "symlink points outside the folder; not followed",
        "up.txt": "symlink points outside the folder; not followed",
    }


def test_an_io_error_while_reading_is_a_warning(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO (a failing disk, a dropped network mount), injected where the read meets it."""
    write(root, "ok.txt")
    write(root, "bad.txt")
    real_fstat = os.fstat

    def failing_fstat(fd: int) -> os.stat_result:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/bad.txt"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", failing_fstat)
    items = run(root)
    assert list(docs(items)) == ["ok.txt"]
    assert warnings(items) == {"bad.txt": "cannot read: Input/output error"}
