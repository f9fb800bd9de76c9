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
