"""CheckoutRoot: files opened below a root by descriptor, name by name, links walked by hand."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.server.data_guard import DataDirGuard
from projectqa.server.tools.beneath import (
    DATA_DIR,
    INTO_GIT,
    IS_LINK,
    LEAVES,
    LOOPS,
    CheckoutRoot,
    Refused,
    RootUnavailable,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "src" / "app.py").write_text("app\n")
    (root / "src" / "deep" / "x.txt").write_text("x\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    return root


@pytest.fixture
def root(tree: Path) -> Iterator[CheckoutRoot]:
    with CheckoutRoot(tree) as opened:
        yield opened


def read(root: CheckoutRoot, path: str, follow_links: bool = True) -> str:
    fd, info = root.open(path.split("/"), follow_links=follow_links)
    with os.fdopen(fd, "rb") as handle:
        assert stat.S_ISREG(info.st_mode)
        return handle.read().decode()


def kind(root: CheckoutRoot, path: str) -> str:
    fd, info = root.open(path.split("/"), follow_links=True)
    os.close(fd)
    return "dir" if stat.S_ISDIR(info.st_mode) else "file"


def refusal(root: CheckoutRoot, path: str, follow_links: bool = True) -> str:
    with pytest.raises(Refused) as refused:
        root.open(path.split("/"), follow_links=follow_links)
    return str(refused.value)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_plain_files_and_folders(root: CheckoutRoot) -> None:
    assert read(root, "src/app.py") == "app\n"
    assert read(root, "src/deep/x.txt") == "x\n"
    assert kind(root, "src/deep") == "dir"
    with pytest.raises(FileNotFoundError):
        root.open(["src", "nope.py"], follow_links=True)
    with pytest.raises(NotADirectoryError):
        root.open(["src", "app.py", "x"], follow_links=True)


def test_links_that_stay_inside_are_walked(tree: Path, root: CheckoutRoot) -> None:
    (tree / "rel").symlink_to("src/app.py")
    (tree / "src" / "up").symlink_to("../src/deep/x.txt")
    (tree / "abs").symlink_to(tree / "src" / "deep", target_is_directory=True)
    (tree / "chain").symlink_to("rel")
    (tree / "src" / "deep" / "parent").symlink_to("..", target_is_directory=True)
    (tree / "src" / "dotted").symlink_to(f"{tree}//src/./deep/../app.py")
    assert read(root, "rel") == "app\n"
    assert read(root, "src/up") == "x\n"
    assert read(root, "abs/x.txt") == "x\n"
    assert read(root, "chain") == "app\n"
    assert read(root, "src/deep/parent/app.py") == "app\n"
    assert read(root, "src/dotted") == "app\n"
    assert kind(root, "src/deep/parent") == "dir"  # a link to the folder above


def test_links_that_leave_loop_or_enter_git_are_refused(tree: Path, root: CheckoutRoot) -> None:
    outside = tree.parent / "outside"
    (tree / "abs-out").symlink_to(outside / "secret.txt")
    (tree / "rel-out").symlink_to("../outside/secret.txt")
    (tree / "src" / "climb").symlink_to("../../outside", target_is_directory=True)
    (tree / "down-up").symlink_to("src/../../outside/secret.txt")
    (tree / "prefix").symlink_to(f"{tree}-sibling/secret.txt")  # a name prefix is no parent
    (tree / "a").symlink_to("b")
    (tree / "b").symlink_to("a")
    (tree / ".git").mkdir()
    (tree / ".git" / "config").write_text("[remote]\n")
    (tree / "git-link").symlink_to(".git/config")
    for path in ("abs-out", "rel-out", "src/climb/secret.txt", "down-up", "prefix"):
        assert refusal(root, path) == LEAVES, path
    assert refusal(root, "a") == LOOPS
    assert refusal(root, "git-link") == INTO_GIT
    (tree / "self").symlink_to(".", target_is_directory=True)
    assert refusal(root, "self") == "names the checkout itself"


def test_without_following_any_link_is_refused(tree: Path, root: CheckoutRoot) -> None:
    (tree / "rel").symlink_to("src/app.py")
    (tree / "dir-link").symlink_to("src", target_is_directory=True)
    assert refusal(root, "rel", follow_links=False) == IS_LINK
    assert refusal(root, "dir-link/app.py", follow_links=False) == IS_LINK
    assert read(root, "src/app.py", follow_links=False) == "app\n"


def test_folders_are_kept_between_opens_and_never_leak(tree: Path) -> None:
    for n in range(50):
        (tree / "src" / "deep" / f"f{n}.txt").write_text(f"{n}\n")
    (tree / "src" / "link").symlink_to("deep/f1.txt")
    before = open_descriptors()
    with CheckoutRoot(tree) as root:
        for n in range(50):
            assert read(root, f"src/deep/f{n}.txt", follow_links=False) == f"{n}\n"
        assert read(root, "src/link") == "1\n"  # after a link, the kept folders are dropped
        assert read(root, "src/deep/f2.txt") == "2\n"
        with pytest.raises(FileNotFoundError):
            root.open(["src", "deep", "missing"], follow_links=False)
        assert read(root, "src/app.py") == "app\n"
    assert open_descriptors() == before


def test_a_folder_swapped_after_the_root_was_opened_is_never_followed(tree: Path) -> None:
    with CheckoutRoot(tree) as root:
        (tree / "src").rename(tree / "moved")
        (tree / "src").symlink_to(tree.parent / "outside", target_is_directory=True)
        assert refusal(root, "src/secret.txt") == LEAVES
        assert refusal(root, "src/secret.txt", follow_links=False) == IS_LINK


def test_a_root_that_is_not_a_folder_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for path in (tmp_path / "missing", tmp_path / "file"):
        with pytest.raises(RootUnavailable):
            CheckoutRoot(path)


def test_the_data_directory_is_never_opened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin.token").write_text("token\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    os.link(data / "admin.token", repo / "hard-link")  # same inode, another name
    (repo / "plain.txt").write_text("plain\n")
    guard = DataDirGuard(data)
    with CheckoutRoot(repo, guard) as root:
        assert refusal(root, "hard-link") == DATA_DIR
        assert read(root, "plain.txt") == "plain\n"
    for holding in (data, tmp_path):
        with pytest.raises(RootUnavailable, match="data directory"):
            CheckoutRoot(holding, guard)
