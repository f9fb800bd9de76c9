"""The ``local`` connector over real folders: what it takes, skips, resumes and notices."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest

from projectqa.plugins import files, local
from projectqa.plugins.local import FolderSource
from projectqa.server.plugin_host import load_plugins
from projectqa.server.sources import (
    Checkpoint,
    Deletion,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

AN_HOUR_NS = 3600 * 10**9
NOBODY = 65534


def run(
    root: Path, cursor: dict[str, Any] | None = None, full: bool = True, **config: Any
) -> list[SourceItem]:
    context = SourceContext(
        config={"path": str(root), **config}, cursor=cursor, work_dir=root, full=full
    )
    return list(FolderSource(context).items())


def run_unprivileged(root: Path) -> list[SourceItem]:
    """Run the connector as ``nobody``, so permissions bite even when tests run as root.

    The test's temporary folders are private to root, and the connector walks the
    folder's real path from ``/``: so the tree is copied (modes kept) into a folder
    only searchable by others. The child sends its items back pickled through a pipe.
    """
    if os.geteuid() != 0:
        return run(root)
    run(root)  # imports everything the child needs while files are still readable
    reachable = Path(tempfile.mkdtemp())
    try:
        reachable.chmod(0o711)
        shutil.copytree(root, reachable / "tree", symlinks=True)
        return _run_as_nobody(reachable / "tree")
    finally:
        shutil.rmtree(reachable, ignore_errors=True)


def _run_as_nobody(root: Path) -> list[SourceItem]:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            items = run(root)
            with os.fdopen(writer, "wb") as out:
                pickle.dump(items, out)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        payload = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and payload, "the unprivileged run failed"
    return pickle.loads(payload)


def docs(items: list[SourceItem]) -> dict[str, SourceDocument]:
    return {i.key: i for i in items if isinstance(i, SourceDocument)}


def warnings(items: list[SourceItem]) -> dict[str, str]:
    return {i.key: i.message for i in items if isinstance(i, SourceWarning)}


def deletions(items: list[SourceItem]) -> list[str]:
    return [i.key for i in items if isinstance(i, Deletion)]


def write(root: Path, key: str, content: str | bytes = "text\n", settle: bool = True) -> Path:
    """Write a file; ``settle`` dates it an hour back, as an untouched file would be."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if settle:
        settle_file(path)
    return path


def settle_file(path: Path) -> None:
    """Date a file an hour before its own mtime: relative to the file system's clock when the
    file was written, not to a time taken at import (the suite may run for longer than that)."""
    mtime_ns = path.stat().st_mtime_ns - AN_HOUR_NS
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def test_a_file_becomes_a_document_with_its_path_as_key(root: Path) -> None:
    write(root, "src/app.py", "def main():\n    return 1\n")
    items = run(root)
    doc = docs(items)["src/app.py"]
    assert doc.kind is DocumentKind.FILE
    assert (doc.path, doc.title, doc.url) == ("src/app.py", "app.py", "")
    assert doc.text == "def main():\n    return 1\n"
    assert doc.metadata == {"size": 25}
    assert len(doc.version) == 40
    assert isinstance(items[-1], Checkpoint)


def test_excludes_includes_and_the_git_folder(root: Path) -> None:
    for key in ("a.py", "a.log", "build/out.py", "docs/x.md", ".git/config", "sub/.git/HEAD"):
        write(root, key)
    items = run(root, exclude=["*.log", "build/"])
    assert sorted(docs(items)) == ["a.py", "docs/x.md"]
    items = run(root, include=["*.md"])
    assert sorted(docs(items)) == ["docs/x.md"]


def test_patterns_match_paths_with_a_newline_in_them(root: Path) -> None:
    # "*" and "**" match any character but "/" in git, a newline too.
    for key in ("nl\nname/a.log", "nl\nname/deep\ndir/b.py", "a\nb.log", "ok.py"):
        write(root, key)
    write(root, "tail.log\n")  # "*.log" matches no name that merely ends in a newline
    write(root, "g\nit/.gitignore", "*.tmp\n")
    write(root, "g\nit/x\ny/c.tmp")

    kept = sorted(docs(run(root, exclude=["*.log", "**/deep*/"])))

    assert kept == ["g\nit/.gitignore", "ok.py", "tail.log\n"]
    assert sorted(docs(run(root, include=["*.log", "nl*/**/*.py"]))) == [
        "a\nb.log",
        "nl\nname/a.log",
        "nl\nname/deep\ndir/b.py",
    ]


def test_gitignore_files_in_the_tree_are_honoured(root: Path) -> None:
    write(root, ".gitignore", "*.tmp\nnode_modules/\n")
    write(root, "pkg/.gitignore", "!keep.tmp\ngenerated.py\n")
    for key in ("a.tmp", "node_modules/x.js", "pkg/keep.tmp", "pkg/drop.tmp", "pkg/generated.py"):
        write(root, key)
    write(root, "generated.py")  # the pattern in pkg/ does not reach its parent
    assert sorted(docs(run(root))) == [
        ".gitignore",
        "generated.py",
        "pkg/.gitignore",
        "pkg/keep.tmp",
    ]


def test_a_file_over_the_size_cap_is_skipped_with_a_warning(root: Path) -> None:
    write(root, "big.txt", "x" * 101)
    write(root, "small.txt", "x" * 100)
    items = run(root, max_file_bytes=100)
    assert list(docs(items)) == ["small.txt"]
    assert "max_file_bytes" in warnings(items)["big.txt"]


def test_binary_files_are_skipped_quietly(root: Path) -> None:
    write(root, "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    items = run(root)
    assert docs(items) == {} and warnings(items) == {}


def test_text_with_a_few_bad_bytes_is_kept_and_mostly_undecodable_bytes_are_not(
    root: Path,
) -> None:
    latin1 = "# Menu\n\nDessert: cr\xe8me br\xfbl\xe9e, served cold.\n"
    write(root, "latin1.txt", latin1.encode("latin-1"))
    write(root, "noise.dat", bytes(range(128, 256)) * 4)
    write(root, "utf16.txt", "h\u00e9llo\n".encode("utf-16"))
    items = run(root)
    assert docs(items)["latin1.txt"].text == latin1.replace("\xe8", "\ufffd").replace(
        "\xfb", "\ufffd"
    ).replace("\xe9", "\ufffd")
    assert docs(items)["utf16.txt"].text == "h\u00e9llo\n"
    assert "noise.dat" not in docs(items)
    assert warnings(items)["noise.dat"] == "not UTF-8 text"


def test_an_unreadable_file_is_a_warning_not_a_failure(root: Path) -> None:
    write(root, "ok.txt")
    write(root, "secret.txt").chmod(0)
    items = run_unprivileged(root)
    assert list(docs(items)) == ["ok.txt"]
    assert warnings(items)["secret.txt"] == "permission denied"


def test_a_read_refused_by_the_os_is_a_warning_not_a_failure(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What chmod 000 does for a non-root user, injected so it also runs as root."""
    write(root, "ok.txt")
    write(root, "secret.txt")
    real_open = os.open

    def open_refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if path == "secret.txt":  # files are opened by name, relative to their folder
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", open_refusing)
    items = run(root)
    assert list(docs(items)) == ["ok.txt"]
    assert warnings(items)["secret.txt"] == "permission denied"


def test_an_unlistable_folder_is_a_warning_not_a_failure(root: Path) -> None:
    write(root, "ok.txt")
    write(root, "locked/inside.txt")
    (root / "locked").chmod(0)
    try:
        items = run_unprivileged(root)
    finally:
        (root / "locked").chmod(0o755)
    assert list(docs(items)) == ["ok.txt"]
    assert warnings(items)["locked"] == "cannot list: Permission denied"


def test_broken_symlinks_are_skipped_with_a_warning(root: Path) -> None:
    write(root, "a.txt")
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    (root / "loop").symlink_to(root / "loop")
    items = run(root)
    assert list(docs(items)) == ["a.txt"]
    assert warnings(items) == {
        "dangling.txt": "broken symlink; skipped",
        "loop": "broken symlink; skipped",
    }


def test_a_symlink_out_of_the_folder_is_never_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "passwords.txt", "hunter2\n")
    (root / "link.txt").symlink_to(outside / "passwords.txt")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    items = run(root)
    assert docs(items) == {}
    assert "outside the folder" in warnings(items)["link.txt"]
    assert "outside the folder" in warnings(items)["linked_dir"]
    assert not any("hunter2" in repr(item) for item in items)


def test_symlinks_inside_the_folder_are_skipped_quietly_and_cannot_loop(root: Path) -> None:
    write(root, "real/file.txt")
    (root / "real" / "again").symlink_to(root / "real", target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "real" / "file.txt")
    items = run(root)
    assert list(docs(items)) == ["real/file.txt"]
    assert warnings(items) == {}


def test_fifos_are_skipped_without_blocking(root: Path) -> None:
    write(root, "a.txt")
    os.mkfifo(root / "pipe")
    assert list(docs(run(root))) == ["a.txt"]


def test_a_full_run_checkpoints_and_resumes_after_the_last_checkpoint(root: Path) -> None:
    keys = [f"f{n:03}.txt" for n in range(450)]
    for key in keys:
        write(root, key, key)
    items = run(root)
    checkpoints = [i for i in items if isinstance(i, Checkpoint)]
    assert [c.cursor for c in checkpoints[:-1]] == [{"after": keys[199]}, {"after": keys[399]}]
    assert "manifest" in checkpoints[-1].cursor
    resumed = run(root, cursor=checkpoints[0].cursor)
    assert list(docs(resumed)) == keys[200:]
    # The final cursor still covers the files indexed before the resume.
    assert sorted(resumed[-1].cursor["manifest"]) == keys


def test_incremental_run_yields_only_changes_and_deletions(root: Path) -> None:
    write(root, "same.txt", "same")
    write(root, "edited.txt", "before")
    write(root, "removed.txt", "gone soon")
    write(root, "turns_binary.txt", "text for now")
    first = run(root)
    cursor = first[-1].cursor

    write(root, "edited.txt", "after, longer", settle=False)
    write(root, "added.txt", "new", settle=False)
    (root / "removed.txt").unlink()
    write(root, "turns_binary.txt", b"\0\1\2", settle=False)
    second = run(root, cursor=cursor, full=False)
    assert sorted(docs(second)) == ["added.txt", "edited.txt"]
    assert docs(second)["edited.txt"].text == "after, longer"
    assert deletions(second) == ["removed.txt", "turns_binary.txt"]
    assert not any(isinstance(i, Checkpoint) for i in second[:-1])

    # Files changed just before a scan are re-read next time ("racy" mtimes);
    # files settled since the last scan are not.
    for key in ("edited.txt", "added.txt"):
        settle_file(root / key)
    third = run(root, cursor=second[-1].cursor, full=False)
    assert sorted(docs(third)) == ["added.txt", "edited.txt"]
    fourth = run(root, cursor=third[-1].cursor, full=False)
    assert docs(fourth) == {} and deletions(fourth) == []


def test_a_missing_or_relative_folder_fails_the_run(root: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        run(root / "nope")
    with pytest.raises(SourceError, match="absolute"):
        list(FolderSource(SourceContext({"path": "rel/dir"}, None, root)).items())


def test_cancelling_stops_the_run_without_a_final_checkpoint(root: Path) -> None:
    write(root, "a.txt")
    context = SourceContext({"path": str(root)}, None, root, cancelled=lambda: True)
    assert list(FolderSource(context).items()) == []


def test_local_and_git_are_registered_through_entry_points() -> None:
    host = load_plugins(["local", "git"])
    assert host.blocked == {}
    assert host.catalog.connector_type("local").open_source is FolderSource
    git_type = host.catalog.connector_type("git")
    assert git_type is not None
    assert git_type.secret_fields == ["token", "webhook_secret"]
    assert local.CONFIG_SCHEMA["additionalProperties"] is False
