"""PROJECTQA_LOCAL_ROOTS holds at every run and whenever tools list checkouts, not only
when a connector is saved (issue #13, item 4): a folder written under a root and later
replaced by a symlink out of it is neither indexed nor read by the tools. A path written
outside every root (only a global admin may save one) is not confined.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server.admin.local_paths import LocalPathPolicy
from projectqa.server.auth import Principal
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.errors import PermissionDenied
from projectqa.server.models import Token, User, utcnow
from projectqa.server.registry import ConnectorType, PluginCatalog
from projectqa.server.sources import SourceContext, SourceDocument, SourceError
from projectqa.server.store import SqliteStore
from projectqa.server.tools.checkouts import project_checkouts
from tests.store.contract import make_connector, make_project


@pytest.fixture
def catalog() -> PluginCatalog:
    catalog = PluginCatalog()
    for module in (git_plugin, local_plugin):
        module.projectqa_register_connectors(lambda item: catalog.add("builtin", item))
    return catalog


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    (tmp_path / "srv" / "data" / "sources").mkdir(parents=True)
    for folder, text in [("srv/repos/app", "mine"), ("home/alice/private", "PRIVATE")]:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "f.txt").write_text(f"{text}\n")
    return tmp_path


def principal(global_admin: bool) -> Principal:
    now = utcnow()
    user = User("usr_1", "ann", "Ann", global_admin, now)
    return Principal(user, Token("tok_1", "usr_1", "h", "", now))


def texts(ctype: ConnectorType, path: Path, work: Path, guard: DataDirGuard) -> list[str]:
    context = SourceContext({"path": str(path)}, None, work, folder_guard=guard)
    items = ctype.open_source(context).items()
    return [item.text for item in items if isinstance(item, SourceDocument)]


def swap_out(layout: Path) -> Path:
    """Replace the folder under the root with a symlink out of it; return the folder."""
    app = layout / "srv" / "repos" / "app"
    app.rename(layout / "srv" / "repos" / "app-old")
    app.symlink_to(layout / "home" / "alice" / "private", target_is_directory=True)
    return app


def test_runs_refuse_a_folder_that_left_its_root(layout: Path, catalog: PluginCatalog) -> None:
    local = catalog.connector_type("local")
    assert local is not None
    srv = layout / "srv"
    guard = DataDirGuard(srv / "data", (srv,))
    work = srv / "data" / "sources" / "con_app"
    app = srv / "repos" / "app"
    assert texts(local, app, work, guard) == ["mine\n"]
    swap_out(layout)
    with pytest.raises(SourceError, match="no longer inside PROJECTQA_LOCAL_ROOTS"):
        texts(local, app, work, guard)
    # Written outside every root (a global admin's connector): not confined.
    assert texts(local, layout / "home" / "alice" / "private", work, guard) == ["PRIVATE\n"]


def test_tools_do_not_list_a_folder_that_left_its_root(
    layout: Path, catalog: PluginCatalog, tmp_path: Path
) -> None:
    srv = layout / "srv"
    store = SqliteStore(tmp_path / "store.db").open()
    project = make_project("demo")
    store.create_project(project)
    store.create_connector(
        make_connector(project.id, "app", type="local", config={"path": str(srv / "repos" / "app")})
    )
    guard = DataDirGuard(srv / "data", (srv,))
    sources = srv / "data" / "sources"
    try:
        assert len(project_checkouts(store, sources, project.id, catalog, guard)) == 1
        swap_out(layout)
        assert project_checkouts(store, sources, project.id, catalog, guard) == []
    finally:
        store.close()


@pytest.mark.parametrize("global_admin", [False, True], ids=["project-admin", "global-admin"])
def test_a_path_written_under_a_root_must_lead_inside_it(
    layout: Path, catalog: PluginCatalog, global_admin: bool
) -> None:
    local = catalog.connector_type("local")
    assert local is not None
    srv = layout / "srv"
    policy = LocalPathPolicy.of([srv], srv / "data")
    app = swap_out(layout)
    for path in (app, srv / ".." / "home" / "alice" / "private"):
        with pytest.raises(PermissionDenied, match="leads outside it"):
            policy.check(principal(global_admin), local, {"path": str(path)})
