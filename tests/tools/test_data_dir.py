"""Tools never read the server's data directory, even through a connector saved before
that was refused, a hard link, or a bind mount inside a checkout (issue #13, item 1).

The layout is the issue's: PROJECTQA_LOCAL_ROOTS=<tmp>/srv, data directory <tmp>/srv/data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.errors import FailedPrecondition, InvalidArgument, NotFound
from projectqa.server.models import RunStatus
from projectqa.server.registry import PluginCatalog
from projectqa.server.store import SqliteStore
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.checkouts import project_checkouts
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file, refuse_unreadable
from tests.mounts import in_mount_namespace
from tests.store.contract import make_connector, make_project
from tests.store.contract_ingestion import make_run

TOKEN = "pqa_admin_token_canary"


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    data = tmp_path / "srv" / "data"
    (data / "sources").mkdir(parents=True)
    (data / "admin.token").write_text(f"{TOKEN}\n")
    app = tmp_path / "srv" / "repos" / "app"
    app.mkdir(parents=True)
    (app / "main.py").write_text("print('hello')\n")
    return tmp_path / "srv"


@pytest.fixture
def guard(srv: Path) -> DataDirGuard:
    return DataDirGuard(srv / "data")


def checkout(root: Path, name: str = "repo") -> Checkout:
    return Checkout(f"con_{name}", name, root.resolve())


async def test_a_checkout_holding_the_data_directory_is_not_read(
    srv: Path, guard: DataDirGuard
) -> None:
    for root in (srv, srv / "data"):
        with pytest.raises(NotFound):
            open_file([checkout(root)], "data/admin.token", guard=guard)
        with pytest.raises(NotFound):
            open_file([checkout(root)], "admin.token", guard=guard)
        with pytest.raises(FailedPrecondition, match="cannot search the files of 'repo'"):
            await grep([checkout(root)], GrepQuery(TOKEN), guard=guard)


async def test_a_hard_link_to_a_data_file_is_not_read(srv: Path, guard: DataDirGuard) -> None:
    app = srv / "repos" / "app"
    os.link(srv / "data" / "admin.token", app / "token.txt")
    with pytest.raises(InvalidArgument, match="data directory"):
        open_file([checkout(app)], "token.txt", guard=guard)
    with pytest.raises(InvalidArgument, match="data directory"):
        refuse_unreadable([checkout(app)], "token.txt", guard=guard)
    result = await grep([checkout(app)], GrepQuery(TOKEN), guard=guard)
    assert result.matches == [] and result.files_searched == 1  # main.py only
    assert open_file([checkout(app)], "main.py", guard=guard).content == "print('hello')"


BIND_INSIDE = r"""
import asyncio, json, subprocess, sys
from pathlib import Path
from projectqa.server import data_guard
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.errors import ProjectQAError
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file

srv = Path(sys.argv[1])
app, data = srv / "repos" / "app", srv / "data"
(app / "mnt").mkdir()
subprocess.run(["mount", "--bind", str(data), str(app / "mnt")], check=True)
guard = DataDirGuard(data)
checkout = Checkout("con_app", "app", app)


def tools() -> dict[str, object]:
    try:
        opened = open_file([checkout], "mnt/admin.token", guard=guard).content
    except ProjectQAError as error:
        opened = f"refused: {error}"
    try:
        found = asyncio.run(grep([checkout], GrepQuery(sys.argv[2]), guard=guard))
        grepped: object = [m.line.text for m in found.matches]
    except ProjectQAError as error:
        grepped = f"refused: {error}"
    return {"open": opened, "grep": grepped}


seen = tools()  # the mount is seen when the root is opened
data_guard.MOUNTINFO = srv / "no-mountinfo"  # as if mounted after the root was judged
print(json.dumps([seen, tools()]))
"""


def test_the_data_directory_mounted_inside_a_checkout_is_not_read(srv: Path) -> None:
    if sys.platform != "linux":
        pytest.skip("bind mounts in a private mount namespace: Linux")
    when_judged, after = in_mount_namespace(BIND_INSIDE, str(srv), TOKEN)
    assert when_judged == {  # the checkout holds the data directory: no checkout at all
        "open": "refused: file 'mnt/admin.token' not found in app",
        "grep": "refused: cannot search the files of 'app': the folder is gone or cannot be read",
    }
    assert after == {  # below the root, by identity
        "open": "refused: path: 'mnt/admin.token' leads into the server's data directory",
        "grep": [],
    }


def test_project_checkouts_skip_folders_overlapping_the_data_directory(
    srv: Path, guard: DataDirGuard, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "store.db").open()
    catalog = PluginCatalog()
    for module in (git_plugin, local_plugin):
        module.projectqa_register_connectors(lambda item: catalog.add("builtin", item))
    project = make_project("demo")
    store.create_project(project)
    sources = srv / "data" / "sources"

    def connector(name: str, type_: str, **config: str) -> str:
        made = make_connector(project.id, name, type=type_, config=config)
        store.create_connector(made)
        return made.id

    fine = connector("a-app", "local", path=str(srv / "repos" / "app"))
    connector("b-srv", "local", path=str(srv))
    connector("c-data", "local", path=str(srv / "data"))
    connector("d-sources", "local", path=str(sources))
    clone = connector("e-clone", "git", url="https://example.com/x.git")
    (sources / clone / "checkout").mkdir(parents=True)
    cursor = {"commit": "a" * 40}
    store.create_run(make_run(project.id, clone, RunStatus.SUCCEEDED, cursor=cursor))
    try:
        found = project_checkouts(store, sources, project.id, catalog, guard)
        unguarded = project_checkouts(store, sources, project.id, catalog)
    finally:
        store.close()
    # The git clone lives in the data directory by right: its own work folder.
    assert [c.connector_id for c in found] == [fine, clone]
    assert len(unguarded) == 5
