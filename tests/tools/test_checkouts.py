"""Which folders tools read: from a real Store, the built-in connector types and a real clone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projectqa.plugins import git as git_plugin
from projectqa.plugins import local as local_plugin
from projectqa.server.errors import NotFound
from projectqa.server.models import RunStatus
from projectqa.server.registry import ConnectorType, PluginCatalog
from projectqa.server.sources import Checkpoint, SourceContext
from projectqa.server.store import SqliteStore
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.checkouts import project_checkouts, resolve_checkout
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file
from tests.store.contract import make_connector, make_project
from tests.store.contract_ingestion import make_run

SHA = "a" * 40


def no_source(context: SourceContext) -> Any:
    raise AssertionError("not used")


def typed(name: str, checkout: Any = None) -> ConnectorType:
    return ConnectorType(name, name, {"type": "object"}, no_source, checkout=checkout)


def failing_checkout(config: dict[str, Any], cursor: Any, work_dir: Path) -> Path:
    raise RuntimeError("plugin bug")


@pytest.fixture
def catalog() -> PluginCatalog:
    catalog = PluginCatalog()
    for module in (git_plugin, local_plugin):
        module.projectqa_register_connectors(lambda item: catalog.add("builtin", item))
    catalog.add("builtin", typed("jira"))
    catalog.add("third", typed("svn", lambda config, cursor, work_dir: Path(config["wc"])))
    catalog.add("third", typed("buggy", failing_checkout))
    return catalog


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db").open()
    yield store
    store.close()


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    return tmp_path / "sources"


class Project:
    """A project in the store, and helpers to give it connectors and runs."""

    def __init__(self, store: SqliteStore, sources: Path) -> None:
        self.store, self.sources = store, sources
        self.record = make_project("demo")
        store.create_project(self.record)

    def connector(self, name: str, type_: str, **config: Any) -> str:
        connector = make_connector(self.record.id, name, type=type_, config=config)
        self.store.create_connector(connector)
        return connector.id

    def run(self, connector_id: str, status: RunStatus, **changes: Any) -> None:
        self.store.create_run(make_run(self.record.id, connector_id, status, **changes))

    def clone(self, connector_id: str) -> Path:
        folder = self.sources / connector_id / "checkout"
        folder.mkdir(parents=True)
        return folder

    def checkouts(self, catalog: PluginCatalog) -> list[Checkout]:
        return project_checkouts(self.store, self.sources, self.record.id, catalog)


@pytest.fixture
def project(store: SqliteStore, sources: Path) -> Project:
    return Project(store, sources)


def test_git_needs_a_succeeded_run_and_its_clone(project: Project, catalog: PluginCatalog) -> None:
    indexed = project.connector("indexed", "git", url="https://x/y.git")
    never = project.connector("never-ran", "git", url="https://x/z.git")
    failed = project.connector("only-failed", "git", url="https://x/w.git")
    gone = project.connector("clone-gone", "git", url="https://x/v.git")
    clone = project.clone(indexed)
    project.clone(never)
    project.clone(failed)
    cursor = {"commit": SHA, "checkout": str(clone)}
    project.run(indexed, RunStatus.SUCCEEDED, cursor=cursor, revision=SHA)
    project.run(indexed, RunStatus.FAILED, cursor={"commit": "b" * 40})
    project.run(failed, RunStatus.FAILED, cursor={"commit": SHA})
    project.run(gone, RunStatus.SUCCEEDED, cursor={"commit": SHA}, revision=SHA)
    assert project.checkouts(catalog) == [Checkout(indexed, "indexed", clone.resolve(), SHA)]


def test_local_folders_third_party_types_and_order(
    project: Project, catalog: PluginCatalog, tmp_path: Path
) -> None:
    folder, working_copy = tmp_path / "folder", tmp_path / "wc"
    folder.mkdir()
    working_copy.mkdir()
    local = project.connector("b-local", "local", path=str(folder))
    project.connector("a-missing-folder", "local", path=str(tmp_path / "nope"))
    project.connector("c-relative", "local", path="relative/folder")
    svn = project.connector("a-svn", "svn", wc=str(working_copy))
    project.connector("d-jira", "jira")
    project.connector("e-buggy", "buggy")
    project.connector("f-unknown-type", "mercurial")
    assert project.checkouts(catalog) == [
        Checkout(svn, "a-svn", working_copy.resolve(), ""),
        Checkout(local, "b-local", folder.resolve(), ""),
    ]


def test_resolve_checkout_by_id_or_name() -> None:
    one = Checkout("con_1", "one", Path("/a"))
    two = Checkout("con_2", "two", Path("/b"))
    assert resolve_checkout([one, two], "") == [one, two]
    assert resolve_checkout([one, two], "two") == [two]
    assert resolve_checkout((one, two), "con_1") == [one]
    assert resolve_checkout([], "") == []
    with pytest.raises(NotFound, match="three"):
        resolve_checkout([one, two], "three")


def test_many_connectors_are_paged_through(project: Project, catalog: PluginCatalog) -> None:
    for n in range(520):
        project.connector(f"c{n:03d}", "jira")
    last = project.connector("zz-local", "local", path=str(project.sources.parent))
    assert [c.connector_id for c in project.checkouts(catalog)] == [last]


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    done = subprocess.run(
        ["git", *identity, "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


async def test_a_real_clone_is_grepped_and_opened_at_the_indexed_commit(
    project: Project, catalog: PluginCatalog, tmp_path: Path
) -> None:
    upstream = tmp_path / "upstream"
    (upstream / "src").mkdir(parents=True)
    (upstream / "src" / "app.py").write_text("def handler():\n    return 'needle'\n")
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "first")
    commit = git(upstream, "rev-parse", "HEAD")
    connector = project.connector("repo", "git", url=str(upstream))
    work_dir = project.sources / connector
    work_dir.mkdir(parents=True)
    source = git_plugin.GitSource(SourceContext({"url": str(upstream)}, None, work_dir))
    (last,) = [item for item in source.items() if isinstance(item, Checkpoint)][-1:]
    project.run(connector, RunStatus.SUCCEEDED, cursor=last.cursor, revision=last.revision)

    (found,) = project.checkouts(catalog)
    assert (found.connector_name, found.commit) == ("repo", commit)
    result = await grep([found], GrepQuery("needle"))
    assert [(m.path, m.line.number, m.commit) for m in result.matches] == [
        ("src/app.py", 2, commit)
    ]
    assert open_file([found], "src/app.py", 1, 1).content == "def handler():"
    # The clone's .git (HEAD, refs) names the commit; grep never looks in there.
    assert not (await grep([found], GrepQuery(commit, path_globs=("**",)))).matches
    assert (found.root / ".git" / "HEAD").read_text().strip() == commit
