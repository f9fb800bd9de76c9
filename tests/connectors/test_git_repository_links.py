"""A local repository may not lead git to another one (issue #13, item 1).

A project admin who can write a repository under PROJECTQA_LOCAL_ROOTS writes into it
what git follows: a ``.git`` symlink or ``gitdir:`` file, symlinked ``objects``/``refs``,
``objects/info/alternates``, ``commondir``. Each would make the fetch read another
connector's private clone in the data directory. Each is refused (the run fails with the
reason), and the private content never appears. Layout: PROJECTQA_LOCAL_ROOTS=<tmp>/srv,
data directory <tmp>/srv/data.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from projectqa.plugins import gitlocal, landlock
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import SourceContext, SourceDocument, SourceError
from tests.connectors.local_repos import connector_type, git, make_repo

SECRET, MINE = "OTHER PROJECT'S PRIVATE CLONE", "mine"


@pytest.fixture
def git_type() -> ConnectorType:
    return connector_type("git")


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    srv = tmp_path / "srv"
    private = srv / "data" / "sources" / "con_OTHER" / "checkout"
    make_repo(private, SECRET)
    git(private, "repack", "-adq")  # its objects in a pack, as well as loose below
    make_repo(srv / "repos" / "app", MINE)
    return srv


def private_git_dir(srv: Path) -> Path:
    return srv / "data" / "sources" / "con_OTHER" / "checkout" / ".git"


def run(srv: Path, git_type: ConnectorType, url: str) -> str:
    """The texts one run indexed; raises ``SourceError`` if it failed."""
    work = srv / "data" / "sources" / "con_app"
    work.mkdir(exist_ok=True)
    guard = DataDirGuard(srv / "data", (srv,))
    context = SourceContext({"url": url, "branch": "main"}, None, work, folder_guard=guard)
    items = list(git_type.open_source(context).items())
    return "".join(i.text for i in items if isinstance(i, SourceDocument) and i.kind == "file")


def gitdir_file(app: Path, private: Path) -> None:
    _remove(app / ".git")
    (app / ".git").write_text(f"gitdir: {private}\n")


def git_symlink(app: Path, private: Path) -> None:
    _remove(app / ".git")
    (app / ".git").symlink_to(private, target_is_directory=True)


def objects_symlink(app: Path, private: Path) -> None:
    _remove(app / ".git" / "objects")
    (app / ".git" / "objects").symlink_to(private / "objects", target_is_directory=True)
    _point_main_at(app, private)


def alternates(app: Path, private: Path) -> None:
    (app / ".git" / "objects" / "info" / "alternates").write_text(f"{private / 'objects'}\n")
    _point_main_at(app, private)


def http_alternates(app: Path, private: Path) -> None:
    info = app / ".git" / "objects" / "info"
    (info / "http-alternates").write_text(f"{private / 'objects'}\n")
    _point_main_at(app, private)


def commondir(app: Path, private: Path) -> None:
    (app / ".git" / "commondir").write_text(f"{private}\n")


def refs_and_pack_symlinks(app: Path, private: Path) -> None:
    """Deeper: the branch and the pack, each a symlink into the clone."""
    _remove(app / ".git" / "refs" / "heads")
    (app / ".git" / "refs" / "heads").symlink_to(private / "refs" / "heads")
    _remove(app / ".git" / "objects" / "pack")
    (app / ".git" / "objects" / "pack").symlink_to(private / "objects" / "pack")
    (app / ".git" / "packed-refs").unlink(missing_ok=True)


def packed_refs_symlink(app: Path, private: Path) -> None:
    _remove(app / ".git" / "refs" / "heads")
    (app / ".git" / "refs" / "heads").mkdir()
    (app / ".git" / "packed-refs").symlink_to(private / "packed-refs")
    alternates(app, private)


def _point_main_at(app: Path, private: Path) -> None:
    """The attacker's branch names the clone's commit (ids are no secret: logs, webhooks)."""
    sha = git(private.parent, "rev-parse", "main")
    (app / ".git" / "refs" / "heads" / "main").write_text(f"{sha}\n")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        subprocess.run(["rm", "-rf", str(path)], check=True)
    else:
        path.unlink()


HOSTILE: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "gitdir file": (gitdir_file, r"\.git is a file"),
    ".git symlink": (git_symlink, r"\.git is a symlink"),
    "objects symlink": (objects_symlink, r"symlink"),
    "alternates": (alternates, r"alternates"),
    "http-alternates": (http_alternates, r"alternates"),
    "commondir": (commondir, r"commondir"),
    "refs and pack symlinks": (refs_and_pack_symlinks, r"symlink"),
    "packed-refs symlink": (packed_refs_symlink, r"symlink|alternates"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_repository_leading_elsewhere_is_refused(
    name: str, srv: Path, git_type: ConnectorType
) -> None:
    if name == "packed-refs symlink":
        git(private_git_dir(srv).parent, "pack-refs", "--all")
    make_hostile, reason = HOSTILE[name]
    app = srv / "repos" / "app"
    make_hostile(app, private_git_dir(srv))
    for url in (str(app), f"file://{app}"):
        try:
            text = run(srv, git_type, url)
        except SourceError as refused:
            assert re.search(reason, str(refused)), refused
            assert SECRET not in str(refused)
        else:
            pytest.fail(f"{name}: not refused; indexed {text!r}")


def test_a_bare_repository_with_alternates_is_refused(srv: Path, git_type: ConnectorType) -> None:
    bare = srv / "repos" / "bare.git"
    git(srv, "clone", "-q", "--bare", str(srv / "repos" / "app"), str(bare))
    (bare / "objects" / "info" / "alternates").write_text(f"{private_git_dir(srv) / 'objects'}\n")
    sha = git(private_git_dir(srv).parent, "rev-parse", "main")
    (bare / "packed-refs").unlink(missing_ok=True)
    (bare / "refs" / "heads" / "main").write_text(f"{sha}\n")
    with pytest.raises(SourceError, match="alternates"):
        run(srv, git_type, str(bare))


def test_plain_and_bare_repositories_still_ingest(srv: Path, git_type: ConnectorType) -> None:
    app = srv / "repos" / "app"
    assert run(srv, git_type, str(app)) == f"{MINE}\n"
    bare = srv / "repos" / "bare.git"
    git(srv, "clone", "-q", "--bare", str(app), str(bare))
    subprocess.run(["rm", "-rf", str(srv / "data" / "sources" / "con_app")], check=True)
    assert run(srv, git_type, f"file://{bare}") == f"{MINE}\n"
    (app / "f.txt").write_text("mine, changed\n")
    git(app, "commit", "-qam", "y")
    assert run(srv, git_type, str(app)) == "mine, changed\n"  # the next run fetches again


@pytest.mark.skipif(landlock.abi_version() < 1, reason="the kernel has no Landlock")
@pytest.mark.parametrize("name", ["objects symlink", "alternates", "refs and pack symlinks"])
def test_confined_git_cannot_read_the_data_directory_even_unchecked(
    name: str, srv: Path, git_type: ConnectorType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a swap inside ``.git`` after the checks could do: with the checks skipped,
    the confined git still reads nothing outside the repository."""
    monkeypatch.setattr(gitlocal, "refusal", lambda git_dir: "")
    HOSTILE[name][0](srv / "repos" / "app", private_git_dir(srv))
    try:
        text = run(srv, git_type, str(srv / "repos" / "app"))
    except SourceError as failed:
        text = str(failed)
    assert SECRET not in text


def test_the_folder_descriptor_is_all_git_is_given(srv: Path) -> None:
    """``repos/app`` itself is never named to git: renaming it away after the open does
    not change what the run reads."""
    app = srv / "repos" / "app"
    folder = os.open(app, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with gitlocal.open_repository(folder) as repository:
            os.rename(app, srv / "repos" / "moved")
            assert os.path.samefile(repository.url, srv / "repos" / "moved" / ".git")
    finally:
        os.close(folder)


@pytest.mark.skipif(landlock.abi_version() < 1, reason="the kernel has no Landlock")
def test_no_rule_of_the_confinement_holds_the_data_directory(srv: Path) -> None:
    app = srv / "repos" / "app"
    folder = os.open(app, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with gitlocal.open_repository(folder) as repository:
            argv = repository.confinement(srv / "data" / "sources" / "con_app", Path("/usr/x"))
    finally:
        os.close(folder)
    assert "/etc" in argv
    assert "/usr" not in argv


HOSTILE_CONFIG = [
    ("remote.evil.promisor", "true"),  # a promisor remote: lazy fetch elsewhere
    ("remote.evil.partialclonefilter", "blob:none"),
    ("extensions.partialClone", "evil"),
    ("extensions.worktreeConfig", "true"),  # config.worktree, read unchecked
    ("protocol.ext.allow", "always"),
    ("include.path", "/etc/gitconfig"),
    ("includeIf.gitdir:/.path", "/etc/gitconfig"),
    ("core.fsmonitor", "touch /tmp/pwned"),
    ("core.sshCommand", "touch /tmp/pwned"),
    ("core.hooksPath", "/tmp"),
    ("uploadpack.packObjectsHook", "touch /tmp/pwned"),
]


@pytest.mark.parametrize(("key", "value"), HOSTILE_CONFIG)
def test_a_repository_config_beyond_the_harmless_keys_is_refused(
    key: str, value: str, srv: Path, git_type: ConnectorType
) -> None:
    """Security review of issue #13: only the word ``partialclone`` was looked for, so a
    promisor remote (``remote.<x>.promisor``, an ``ext::`` url and ``protocol.ext.allow``)
    or an include of another config file passed."""
    app = srv / "repos" / "app"
    git(app, "config", "--file", str(app / ".git" / "config"), key, value)
    with pytest.raises(SourceError, match=rf"config sets {re.escape(key.lower())}\b"):
        run(srv, git_type, str(app))


def test_a_cloned_repository_config_is_harmless(srv: Path, git_type: ConnectorType) -> None:
    clone = srv / "repos" / "clone"
    git(srv, "clone", "-q", str(srv / "repos" / "app"), str(clone))
    git(clone, "config", "user.email", "ann@example.com")
    assert run(srv, git_type, str(clone)) == f"{MINE}\n"
