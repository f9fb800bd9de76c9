"""open_file and path confinement over real folders, symlinks included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from projectqa.server.errors import FailedPrecondition, InvalidArgument, NotFound
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.confine import normalise
from projectqa.server.tools.openfile import MAX_CONTENT_BYTES, MAX_LINES, open_file


def write(root: Path, key: str, content: str | bytes) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def checkout(root: Path, name: str = "repo", commit: str = "") -> Checkout:
    return Checkout(f"con_{name}", name, root.resolve(), commit)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    write(folder, "src/app.py", "".join(f"line {n}\n" for n in range(1, 11)))
    return folder


def test_whole_file_with_its_facts(root: Path) -> None:
    opened = open_file([checkout(root, commit="abc123")], "src/app.py")
    assert opened.content == "\n".join(f"line {n}" for n in range(1, 11))
    assert (opened.start_line, opened.end_line, opened.total_lines) == (1, 10, 10)
    assert (opened.connector_id, opened.path, opened.commit) == ("con_repo", "src/app.py", "abc123")
    assert opened.language == "python"
    assert not opened.truncated


def test_ranges(root: Path) -> None:
    some = open_file([checkout(root)], "src/app.py", 3, 5)
    assert some.content == "line 3\nline 4\nline 5"
    assert (some.start_line, some.end_line, some.total_lines) == (3, 5, 10)
    tail = open_file([checkout(root)], "src/app.py", 9)
    assert (tail.content, tail.end_line) == ("line 9\nline 10", 10)
    past_end = open_file([checkout(root)], "src/app.py", 8, 50)
    assert (past_end.end_line, past_end.truncated) == (10, False)
    last = open_file([checkout(root)], "src/app.py", 10, 10)
    assert last.content == "line 10"


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(11, 0, "start_line"), (5, 4, "end_line"), (-1, 0, "start_line"), (0, -2, "end_line")],
)
def test_bad_ranges_name_the_field(root: Path, start: int, end: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        open_file([checkout(root)], "src/app.py", start, end)
    assert error.value.field == field


def test_line_endings_and_counts(tmp_path: Path) -> None:
    write(tmp_path, "crlf.txt", "a\r\nb\r\n")
    write(tmp_path, "no-eol.txt", "a\nb")
    write(tmp_path, "blank-end.txt", "a\n\n")
    write(tmp_path, "empty.txt", "")
    crlf = open_file([checkout(tmp_path)], "crlf.txt")
    assert (crlf.content, crlf.total_lines) == ("a\nb", 2)
    assert open_file([checkout(tmp_path)], "no-eol.txt").total_lines == 2
    blank = open_file([checkout(tmp_path)], "blank-end.txt")
    assert (blank.content, blank.total_lines) == ("a\n", 2)
    empty = open_file([checkout(tmp_path)], "empty.txt")
    assert (empty.content, empty.total_lines, empty.start_line, empty.end_line) == ("", 0, 1, 0)
    with pytest.raises(InvalidArgument):
        open_file([checkout(tmp_path)], "empty.txt", 2)


def test_line_cap(tmp_path: Path) -> None:
    write(tmp_path, "long.txt", "".join(f"{n}\n" for n in range(1, 3001)))
    opened = open_file([checkout(tmp_path)], "long.txt")
    assert (opened.start_line, opened.end_line, opened.total_lines) == (1, MAX_LINES, 3000)
    assert opened.truncated
    later = open_file([checkout(tmp_path)], "long.txt", 2500)
    assert (later.end_line, later.truncated) == (3000, False)


def test_byte_cap(tmp_path: Path) -> None:
    write(tmp_path, "wide.txt", ("x" * 1023 + "\n") * 400)
    opened = open_file([checkout(tmp_path)], "wide.txt")
    assert opened.truncated and opened.total_lines == 400
    assert opened.end_line == MAX_CONTENT_BYTES // 1024
    assert len(opened.content.encode()) <= MAX_CONTENT_BYTES


def test_a_line_over_the_cap_is_cut(tmp_path: Path) -> None:
    write(tmp_path, "min.js", "é" * MAX_CONTENT_BYTES + "\nnext\n")
    opened = open_file([checkout(tmp_path)], "min.js")
    assert (opened.start_line, opened.end_line, opened.total_lines) == (1, 1, 2)
    assert opened.truncated
    assert opened.content == "é" * (MAX_CONTENT_BYTES // 2)


def test_binary_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(FailedPrecondition, match=r"logo\.png is a binary file"):
        open_file([checkout(tmp_path)], "logo.png")


def test_text_is_decoded_as_ingestion_decodes_it(tmp_path: Path) -> None:
    write(tmp_path, "latin1.txt", b"caf\xe9\nok\n")
    write(tmp_path, "bom.txt", b"\xef\xbb\xbffirst\nsecond\n")
    write(tmp_path, "wide.txt", "\ufeffone\r\ntwo\r\n".encode("utf-16-le"))
    assert open_file([checkout(tmp_path)], "latin1.txt").content == "caf\ufffd\nok"
    assert open_file([checkout(tmp_path)], "bom.txt").content == "first\nsecond"
    wide = open_file([checkout(tmp_path)], "wide.txt")
    assert (wide.content, wide.total_lines) == ("one\ntwo", 2)


def test_missing_files_and_folders(root: Path) -> None:
    with pytest.raises(NotFound, match=r"src/nope\.py"):
        open_file([checkout(root)], "src/nope.py")
    with pytest.raises(InvalidArgument, match="directory"):
        open_file([checkout(root)], "src")
    with pytest.raises(NotFound):
        open_file([], "src/app.py")


def test_a_fifo_is_not_opened(root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(NotFound):
        open_file([checkout(root)], "pipe")


def test_first_checkout_with_the_file_unless_one_is_named(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write(first, "only-a.txt", "a\n")
    write(second, "only-b.txt", "b\n")
    write(first, "both.txt", "from a\n")
    write(second, "both.txt", "from b\n")
    both = [checkout(first, "alpha"), checkout(second, "beta", "sha-b")]
    assert open_file(both, "only-b.txt").connector_id == "con_beta"
    assert open_file(both, "both.txt").content == "from a"
    named = open_file(both, "both.txt", connector="beta")
    assert (named.content, named.commit) == ("from b", "sha-b")
    assert open_file(both, "both.txt", connector="con_beta").content == "from b"
    with pytest.raises(NotFound):
        open_file(both, "only-a.txt", connector="beta")
    with pytest.raises(NotFound):
        open_file(both, "both.txt", connector="gamma")


def test_paths_are_normalised(root: Path) -> None:
    assert open_file([checkout(root)], "./src//app.py").path == "src/app.py"
    assert normalise("src/./app.py") == "src/app.py"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "   ",
        ".",
        "./",
        "../secret.txt",
        "src/../../secret.txt",
        "src/..",
        "/etc/passwd",
        "//server/share",
        "C:\\Windows\\win.ini",
        "C:/Windows/win.ini",
        "\\\\server\\share\\x",
        "src\\app.py",
        "%2e%2e/secret.txt",
        "%2e%2e%2fsecret.txt",
        "src%2Fapp.py",
        "src/app%2epy",
        "~/secret.txt",
        "~root/.ssh/id_rsa",
        "src/app.py\x00.txt",
        "src/\napp.py",
        ".git/config",
        "vendor/.git/HEAD",
        "x" * 5000,
    ],
)
def test_paths_that_could_leave_the_checkout_are_refused(root: Path, path: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        open_file([checkout(root)], path)
    assert error.value.field == "path"


def test_symlink_escapes_are_refused(tmp_path: Path) -> None:
    outside, root = tmp_path / "outside", tmp_path / "root"
    write(outside, "secret.txt", "secret\n")
    root.mkdir()
    (root / "file-link").symlink_to(outside / "secret.txt")
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    (root / "relative-link").symlink_to("../outside/secret.txt")
    (root / "loop").symlink_to(root / "loop")
    for path in ("file-link", "dir-link/secret.txt", "relative-link", "loop"):
        with pytest.raises(InvalidArgument) as error:
            open_file([checkout(root)], path)
        assert error.value.field == "path"


def test_symlinks_into_git_are_refused(tmp_path: Path) -> None:
    write(tmp_path, ".git/config", "[remote]\n")
    (tmp_path / "config-link").symlink_to(tmp_path / ".git" / "config")
    with pytest.raises(InvalidArgument, match=r"\.git"):
        open_file([checkout(tmp_path)], "config-link")


def test_symlinks_inside_the_checkout_are_followed(root: Path) -> None:
    (root / "docs").mkdir()
    (root / "docs" / "app-link.py").symlink_to(Path("..") / "src" / "app.py")
    (root / "source").symlink_to(root / "src", target_is_directory=True)
    assert open_file([checkout(root)], "docs/app-link.py", 1, 1).content == "line 1"
    assert open_file([checkout(root)], "source/app.py", 2, 2).content == "line 2"


def test_a_checkout_root_is_walked_as_the_real_path_it_was_listed_by(tmp_path: Path) -> None:
    """project_checkouts gives real paths; a symlink on the way now is a swap: not followed."""
    write(tmp_path, "real/a.txt", "a\n")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert open_file([Checkout("con_1", "one", tmp_path / "real")], "a.txt").content == "a"
    with pytest.raises(NotFound):
        open_file([Checkout("con_1", "one", tmp_path / "alias")], "a.txt")
