"""Tools under a real swap race at the checkout's root (issue #13, item 2): the folder of a
``local`` connector is exchanged with a symlink to another connector's private clone
(``data/sources/<id>/checkout``) in a loop, while OpenFile, Grep and a script tool run.
Listing the checkouts and opening the root are two moments; each call must read only the
folder it judged. Nothing of the other clone may ever come back.

Bounded in count; after ``BUDGET_S`` a test stops early, but only once the race has let a
call through (so a slow machine runs longer rather than test nothing; nothing is asserted
about time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server.data_guard import DataDirGuard
from projectqa.server.errors import ProjectQAError
from projectqa.server.models import CustomTool, utcnow
from projectqa.server.registry import PluginCatalog
from projectqa.server.store import SqliteStore
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.checkouts import project_checkouts
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file
from projectqa.server.tools.scripts import run_script_tool
from tests.store.contract import make_connector, make_project
from tests.swapping import swapping

MINE, OTHER = "needle mine", "needle OTHER PROJECT"
OPEN_CALLS, GREP_CALLS, SCRIPT_CALLS = 1500, 100, 60
BUDGET_S = 15.0


@dataclass
class Project:
    srv: Path
    guard: DataDirGuard
    checkouts: Callable[[], list[Checkout]]  # as every tool call lists them


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    srv = tmp_path / "srv"
    clone = srv / "data" / "sources" / "con_other" / "checkout"
    clone.mkdir(parents=True)
    (clone / "secret.txt").write_text(f"{OTHER}\n")
    app = srv / "repos" / "app"
    app.mkdir(parents=True)
    (app / "secret.txt").write_text(f"{MINE}\n")
    (srv / "repos" / "bait").symlink_to(clone, target_is_directory=True)
    store = SqliteStore(tmp_path / "store.db").open()
    catalog = PluginCatalog()
    for module in (git_plugin, local_plugin):
        module.projectqa_register_connectors(lambda item: catalog.add("builtin", item))
    made = make_project("demo")
    store.create_project(made)
    store.create_connector(make_connector(made.id, "app", type="local", config={"path": str(app)}))
    guard = DataDirGuard(srv / "data")
    sources = srv / "data" / "sources"

    def checkouts() -> list[Checkout]:
        return project_checkouts(store, sources, made.id, catalog, guard)

    try:
        yield Project(srv, guard, checkouts)
    finally:
        store.close()


def racing(project: Project) -> Iterator[None]:
    """The app folder exchanged with the bait while the calls run."""
    return swapping(project.srv / "repos" / "app", project.srv / "repos" / "bait")


def test_open_file_never_reads_a_root_swapped_after_the_listing(project: Project) -> None:
    read = leaked = 0
    deadline = time.monotonic() + BUDGET_S
    with racing(project) as swapper:
        for _ in range(OPEN_CALLS):
            try:
                content = open_file(project.checkouts(), "secret.txt", guard=project.guard).content
            except ProjectQAError:
                content = ""  # no checkout at that moment, or refused
            read += MINE in content
            leaked += OTHER in content
            if read and time.monotonic() > deadline:
                break
        swaps = swapper.stop()
    print(f"open_file: {read} read, {leaked} leaked, {swaps} swaps")
    assert leaked == 0
    assert read > 0


async def test_grep_never_searches_a_root_swapped_after_the_listing(project: Project) -> None:
    matches = leaked = 0
    deadline = time.monotonic() + BUDGET_S
    with racing(project) as swapper:
        for _ in range(GREP_CALLS):
            try:
                found = await grep(project.checkouts(), GrepQuery("needle"), guard=project.guard)
            except ProjectQAError:
                continue
            matches += sum(MINE in match.line.text for match in found.matches)
            leaked += sum(OTHER in match.line.text for match in found.matches)
            if matches and time.monotonic() > deadline:
                break
        swaps = swapper.stop()
    print(f"grep: {matches} matches, {leaked} leaked, {swaps} swaps")
    assert leaked == 0
    assert matches > 0


async def test_script_tools_never_start_in_a_root_swapped_after_the_listing(
    project: Project,
) -> None:
    now = utcnow()
    cat = CustomTool(
        id="ctl_cat", project_id="prj", name="cat", description="cat",
        command=["cat", "secret.txt"],
        arguments_schema={"type": "object"}, timeout_seconds=30, max_output_bytes=4096,
        side_effects=False, connector="", enabled=True, created_at=now, updated_at=now,
    )  # fmt: skip
    read = leaked = 0
    deadline = time.monotonic() + BUDGET_S
    with racing(project) as swapper:
        for _ in range(SCRIPT_CALLS):
            for checkout in project.checkouts()[:1]:
                result = await run_script_tool(cat, {}, checkout, project.guard)
                output = str(result.value["stdout"]) if result.value else ""
                read += MINE in output
                leaked += OTHER in output
            if read and time.monotonic() > deadline:
                break
        swaps = swapper.stop()
    print(f"scripts: {read} read, {leaked} leaked, {swaps} swaps")
    assert leaked == 0
    assert read > 0
