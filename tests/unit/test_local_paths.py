"""Connector configs that read the server's disk are confined (LocalPathPolicy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.server.admin.local_paths import LocalPathPolicy
from projectqa.server.auth import Principal
from projectqa.server.errors import InvalidArgument, PermissionDenied
from projectqa.server.models import Token, User, utcnow
from projectqa.server.registry import ConnectorType

FOLDER = ConnectorType(
    "folder", "reads a folder", {"type": "object"}, iter, local_paths=lambda c: [c["path"]]
)


def principal(global_admin: bool) -> Principal:
    now = utcnow()
    user = User("usr_1", "ann", "Ann", global_admin, now)
    return Principal(user, Token("tok_1", "usr_1", "h", "", now))


@pytest.fixture
def policy(tmp_path: Path) -> LocalPathPolicy:
    (tmp_path / "repos" / "app").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    return LocalPathPolicy.of([tmp_path / "repos"], tmp_path / "data")


def test_project_admins_stay_under_the_configured_roots(policy: LocalPathPolicy, tmp_path: Path):
    policy.check(principal(False), FOLDER, {"path": str(tmp_path / "repos" / "app")})
    with pytest.raises(PermissionDenied, match="PROJECTQA_LOCAL_ROOTS"):
        policy.check(principal(False), FOLDER, {"path": "/etc"})


def test_a_symlink_out_of_a_root_is_judged_by_its_target(policy: LocalPathPolicy, tmp_path: Path):
    (tmp_path / "repos" / "escape").symlink_to("/etc")
    with pytest.raises(PermissionDenied):
        policy.check(principal(False), FOLDER, {"path": str(tmp_path / "repos" / "escape")})


def test_global_admins_may_read_anywhere_but_the_data_directory(
    policy: LocalPathPolicy, tmp_path: Path
):
    policy.check(principal(True), FOLDER, {"path": "/etc"})
    with pytest.raises(PermissionDenied, match="data directory"):
        policy.check(principal(True), FOLDER, {"path": str(tmp_path / "data" / "sources")})


def test_relative_paths_are_refused(policy: LocalPathPolicy):
    with pytest.raises(InvalidArgument, match="absolute"):
        policy.check(principal(True), FOLDER, {"path": "repos/app"})


def test_types_that_read_no_local_paths_are_not_checked(policy: LocalPathPolicy):
    remote = ConnectorType("remote", "an API", {"type": "object"}, iter)
    policy.check(principal(False), remote, {"path": "/etc"})


# ---------------------------------------------------------------- the data directory
# PROJECTQA_LOCAL_ROOTS=<tmp>/srv and the data directory at <tmp>/srv/data (issue #13).
@pytest.fixture
def srv(tmp_path: Path) -> Path:
    (tmp_path / "srv" / "data" / "sources").mkdir(parents=True)
    (tmp_path / "srv" / "repos" / "app").mkdir(parents=True)
    return tmp_path / "srv"


@pytest.mark.parametrize("global_admin", [False, True], ids=["project-admin", "global-admin"])
@pytest.mark.parametrize(
    ("where", "relation"),
    [
        ("srv", "contains"),
        ("..", "contains"),
        ("/", "contains"),
        ("srv/data", "is"),
        ("srv/data/sources", "lies inside"),
        ("srv/data/not/yet/made", "lies inside"),
    ],
)
def test_no_root_may_contain_be_or_lie_inside_the_data_directory(
    srv: Path, global_admin: bool, where: str, relation: str
) -> None:
    policy = LocalPathPolicy.of([srv], srv / "data")
    path = where if where == "/" else str((srv.parent / where).absolute())
    with pytest.raises(PermissionDenied, match=f"data directory: .* {relation} it"):
        policy.check(principal(global_admin), FOLDER, {"path": path})


def test_a_sibling_of_the_data_directory_is_fine(srv: Path) -> None:
    policy = LocalPathPolicy.of([srv], srv / "data")
    policy.check(principal(False), FOLDER, {"path": str(srv / "repos" / "app")})
    policy.check(principal(False), FOLDER, {"path": str(srv / "repos")})


def test_symlinks_do_not_hide_the_data_directory(srv: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(srv, target_is_directory=True)
    (srv / "repos" / "app" / "data-link").symlink_to(srv / "data", target_is_directory=True)
    (tmp_path / "data-alias").symlink_to(srv / "data", target_is_directory=True)
    by_alias = LocalPathPolicy.of([tmp_path], tmp_path / "data-alias")
    for policy in (LocalPathPolicy.of([tmp_path], srv / "data"), by_alias):
        for path, relation in [
            (tmp_path / "alias", "contains"),
            (srv / "repos" / "app" / "data-link", "is"),
            (tmp_path / "alias" / "data" / "sources", "lies inside"),
        ]:
            with pytest.raises(PermissionDenied, match=f"{relation} it"):
                policy.check(principal(True), FOLDER, {"path": str(path)})
