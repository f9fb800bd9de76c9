"""A ``git`` connector whose URL names a repository on the server's disk is judged by the
path git will open (issue #13, item 3): git takes ``file://<any host>/<path>``, decodes
every ``%XX`` in it and keeps ``?`` and ``#`` as part of the path; the checks must read it
the same way, and a run fetches from the folder it judged (``/proc/self/fd/N``), never by
the URL again. The layout is the issue's: PROJECTQA_LOCAL_ROOTS=<tmp>/srv, data directory
<tmp>/srv/data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.plugins import git as git_plugin
from projectqa.server.admin.local_paths import LocalPathPolicy
from projectqa.server.auth import Principal
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.errors import PermissionDenied
from projectqa.server.models import Token, User, utcnow
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import SourceContext, SourceDocument, SourceError
from tests.connectors.local_repos import connector_type, git, make_repo

OTHER, PRIVATE, MINE = "OTHER PROJECT CLONE", "ALICE PRIVATE", "mine"


def project_admin() -> Principal:
    now = utcnow()
    return Principal(User("usr_1", "ann", "Ann", False, now), Token("tok_1", "usr_1", "h", "", now))


@pytest.fixture
def git_type() -> ConnectorType:
    return connector_type("git")


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    srv = tmp_path / "srv"
    make_repo(srv / "data" / "sources" / "con_OTHER" / "checkout", OTHER)
    make_repo(tmp_path / "home" / "alice" / "private", PRIVATE)
    make_repo(srv / "repos" / "app", MINE)
    (srv / "repos" / "app?").mkdir()  # so that "app?/.." resolves, for git as for realpath
    return srv


def hostile_urls(srv: Path) -> list[str]:
    return [
        f"file://{srv}/%64ata/sources/con_OTHER/checkout",  # %64 is "d": srv/data
        f"file://{srv}/%2E%2E/home/alice/private",  # %2E%2E is "..": outside the root
        f"file://{srv}/repos%2F..%2Fdata/sources/con_OTHER/checkout",
        f"file://{srv}/repos/app?/../../data/sources/con_OTHER/checkout",  # "?" is no query
        f"file://elsewhere{srv}/data/sources/con_OTHER/checkout",  # the host is ignored
    ]


def test_git_opens_the_paths_the_checks_judge(srv: Path) -> None:
    """Ground truth from git itself: every hostile URL does reach a repository."""
    for url in hostile_urls(srv):
        [path] = git_plugin._local_repository({"url": url})
        assert git(srv, "ls-remote", "--", url) == git(srv, "ls-remote", "--", path), url


def test_project_admins_cannot_save_encoded_paths_out_of_their_root(
    srv: Path, git_type: ConnectorType
) -> None:
    policy = LocalPathPolicy.of([srv], srv / "data")
    for url in hostile_urls(srv):
        with pytest.raises(PermissionDenied):
            policy.check(project_admin(), git_type, {"url": url, "branch": "main"})
    policy.check(project_admin(), git_type, {"url": f"file://{srv}/repos/%61pp", "branch": "main"})


def test_runs_of_saved_encoded_urls_read_nothing_outside(
    srv: Path, git_type: ConnectorType, tmp_path: Path
) -> None:
    """A connector saved before the checks read URLs as git does: its runs are refused."""
    guard = DataDirGuard(srv / "data", (srv,))
    for number, url in enumerate(hostile_urls(srv)):
        work = srv / "data" / "sources" / f"con_{number}"
        work.mkdir()
        context = SourceContext({"url": url, "branch": "main"}, None, work, folder_guard=guard)
        with pytest.raises(SourceError, match=r"data directory|PROJECTQA_LOCAL_ROOTS"):
            list(git_type.open_source(context).items())
    work = srv / "data" / "sources" / "con_app"
    url = f"file://{srv}/repos/%61pp"
    context = SourceContext({"url": url, "branch": "main"}, None, work, folder_guard=guard)
    items = list(git_type.open_source(context).items())
    assert [i.text for i in items if isinstance(i, SourceDocument) and i.kind == "file"] == [
        f"{MINE}\n"
    ]
