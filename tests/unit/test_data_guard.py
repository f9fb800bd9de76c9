"""DataDirGuard: overlaps with the data directory through symlinks and bind mounts, and the
identities tools must not open."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server import data_guard
from projectqa.server.data_guard import DataDirGuard, FolderRefused, open_folder
from projectqa.server.ingestion.prepare import data_dir_refusal
from projectqa.server.registry import PluginCatalog
from projectqa.server.tools.beneath import CheckoutRoot, RootUnavailable
from tests.mounts import in_mount_namespace


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    (tmp_path / "srv" / "data" / "sources").mkdir(parents=True)
    (tmp_path / "srv" / "data" / "admin.token").write_text("secret\n")
    (tmp_path / "srv" / "repos" / "app").mkdir(parents=True)
    return tmp_path / "srv"


def identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def test_overlaps_by_path(srv: Path) -> None:
    guard = DataDirGuard(srv / "data")
    assert guard.overlap(srv) == "contains"
    assert guard.overlap(srv / "data") == "is"
    assert guard.overlap(srv / "data" / "sources" / "x") == "lies inside"
    assert guard.overlap(srv / "repos") == ""
    assert guard.overlap(srv / "data-other") == ""  # a name prefix is no parent


def test_refusal_names_the_first_offending_path(srv: Path) -> None:
    guard = DataDirGuard(srv / "data")
    assert guard.refusal([str(srv / "repos")]) == ""
    message = guard.refusal([str(srv / "repos"), str(srv)])
    expected = f"connectors may not read the server's data directory: {str(srv)!r} contains it"
    assert message == expected


def test_protected_identities(srv: Path) -> None:
    protected = DataDirGuard(srv / "data").protected()
    for inside in (srv / "data", srv / "data" / "sources", srv / "data" / "admin.token"):
        assert protected.forbids(identity(inside))
    assert not protected.forbids(identity(srv / "repos" / "app"))


def test_a_missing_data_directory_protects_its_ancestors(tmp_path: Path) -> None:
    guard = DataDirGuard(tmp_path / "not-yet")
    with pytest.raises(FolderRefused, match="contains it"):
        open_folder(tmp_path, guard)


# -------------------------------------------------------------------- bind mounts
# Each case runs in a private mount namespace (``unshare``), where bind mounts can be made
# without touching the machine's own; skipped where that is not allowed.
BIND_CASES = r"""
import json, subprocess, sys
from pathlib import Path
from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server import data_guard
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.ingestion.prepare import data_dir_refusal
from projectqa.server.tools.beneath import CheckoutRoot, RootUnavailable
from projectqa.server.registry import PluginCatalog

base = Path(sys.argv[1])
srv, data = base / "srv", base / "srv" / "data"
binds = {
    "srv-elsewhere": srv,
    "data-elsewhere": data,
    "sources-elsewhere": data / "sources",
    "repos-elsewhere": srv / "repos",
    "srv/repos/app/data-inside": data,
    "srv/repos/other/sources-inside": data / "sources",
}
for name, source in binds.items():
    (base / name).mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(source), str(base / name)], check=True)
guard = DataDirGuard(data)
paths = [
    "srv-elsewhere", "data-elsewhere", "data-elsewhere/not-yet", "sources-elsewhere",
    "repos-elsewhere", "srv/repos/app", "srv/repos/other", "srv/repos/app/data-inside",
]
found = {name: guard.overlap(base / name) for name in paths}
data_guard.MOUNTINFO = base / "no-mountinfo"  # identities alone
found_by_identity = {name: guard.overlap(base / name) for name in paths}
print(json.dumps([found, found_by_identity]))
"""


def test_bind_mounts_do_not_hide_the_data_directory(srv: Path) -> None:
    by_everything, by_identity = in_mount_namespace(BIND_CASES, str(srv.parent))
    assert by_everything == {
        "srv-elsewhere": "contains",
        "data-elsewhere": "is",
        "data-elsewhere/not-yet": "lies inside",
        "sources-elsewhere": "lies inside",
        "repos-elsewhere": "",
        "srv/repos/app": "contains",  # the data directory is mounted below it
        "srv/repos/other": "contains",  # a part of it is
        "srv/repos/app/data-inside": "is",
    }
    # Without mountinfo, identities along both paths still see the plain bind mounts.
    assert {k: v for k, v in by_identity.items() if v} == {
        "srv-elsewhere": "contains",
        "data-elsewhere": "is",
        "data-elsewhere/not-yet": "lies inside",
        "srv/repos/app/data-inside": "is",
    }


def test_mountinfo_escapes_are_decoded() -> None:
    assert data_guard._unescape(r"/srv/my\040repos\134x") == "/srv/my repos\\x"


def test_runs_refuse_any_type_declaring_local_paths(srv: Path) -> None:
    catalog = PluginCatalog()
    for module in (git_plugin, local_plugin):
        module.projectqa_register_connectors(lambda item: catalog.add("builtin", item))
    git, local = catalog.connector_type("git"), catalog.connector_type("local")
    assert git is not None and local is not None
    guard = DataDirGuard(srv / "data")
    assert "contains it" in data_dir_refusal(guard, git, {"url": f"file://{srv}"})
    assert "is it" in data_dir_refusal(guard, git, {"url": str(srv / "data")})
    assert data_dir_refusal(guard, git, {"url": "https://example.com/x.git"}) == ""
    assert "lies inside it" in data_dir_refusal(guard, local, {"path": str(srv / "data" / "x")})
    assert data_dir_refusal(guard, local, {"path": str(srv / "repos")}) == ""
    assert data_dir_refusal(None, local, {"path": str(srv)}) == ""


def test_a_path_that_cannot_be_resolved_is_refused_with_the_reason(
    srv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """realpath raises EINVAL when a name it saw as a symlink is swapped for a folder
    before its readlink (issue #13 follow-up, item 5): a refusal, not an internal error."""
    guard = DataDirGuard(srv / "data")

    def raced(path: object, *, strict: bool = False) -> str:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os.path, "realpath", raced)
    app = str(srv / "repos" / "app")
    assert guard.refusal([app]) == f"{app!r} cannot be resolved: Invalid argument"
    with pytest.raises(OSError):
        open_folder(app, guard)  # the run's open: a SourceError naming the reason


def _out_of_descriptors(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


def test_unreadable_mountinfo_refuses_rather_than_skipping_the_mount_check(
    srv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Out of descriptors, mountinfo cannot be read: judging without it would miss a
    # bind mount of the data directory below a root, so the folder is refused.
    guard = DataDirGuard(srv / "data")
    monkeypatch.setattr(Path, "read_text", _out_of_descriptors)
    assert "Too many open files" in guard.refusal([str(srv / "repos" / "app")])
    with pytest.raises(OSError, match="Too many open files"):
        open_folder(srv / "repos" / "app", guard)


def test_an_unlistable_data_directory_refuses_rather_than_protecting_less(
    srv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listing the data directory fails (out of descriptors): protecting only the folder
    # itself would leave admin.token open, so nothing is opened.
    guard = DataDirGuard(srv / "data")
    monkeypatch.setattr(os, "scandir", _out_of_descriptors)
    with pytest.raises(OSError, match="Too many open files"):
        guard.protected()
    with pytest.raises(OSError, match="Too many open files"):
        open_folder(srv / "repos" / "app", guard)


def test_a_data_directory_not_created_yet_protects_only_itself(tmp_path: Path) -> None:
    assert DataDirGuard(tmp_path / "not-yet").protected().inside == frozenset()


def test_a_tool_root_is_unavailable_when_the_data_directory_cannot_be_listed(
    srv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = DataDirGuard(srv / "data")
    monkeypatch.setattr(os, "scandir", _out_of_descriptors)
    with pytest.raises(RootUnavailable, match="cannot be judged: Too many open files"):
        CheckoutRoot(srv / "repos" / "app", guard)
