"""An editor on a local checkout that a ``git`` connector reads by path (as quickstart sets it
up) finds its project, and the bridge's messages name settings as that editor spells them.

The server, checkout and projects are tests/lsp/local_checkout.py's: project ``demo`` reads
the checkout by path, project ``monorepo`` reads the folder holding it, project
``remote-shop`` a remote repository, projects ``svc-a`` and ``svc-b`` two subdirectories of
another repository.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.waiting import eventually

from .conftest import Bridge, open_bridge
from .local_checkout import PROJECT, REMOTE_PROJECT, LocalCheckout, local_checkout

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def checkout(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCheckout]:
    async with local_checkout(tmp_path_factory) as started:
        yield started


def options(checkout: LocalCheckout) -> dict[str, str]:
    return {"address": checkout.address, "token": checkout.token}


async def test_the_checkout_of_a_git_connector_is_its_project(checkout: LocalCheckout) -> None:
    # ``monorepo`` holds the checkout too; the git connector's folder is the closer fit.
    async with open_bridge(checkout.repo, options=options(checkout)) as bridge:
        status = await bridge.wait_connected()
        assert status["project"] == PROJECT, status


async def test_a_folder_inside_the_checkout_finds_it_and_cites_files_at_the_checkout_root(
    checkout: LocalCheckout,
) -> None:
    folder = checkout.repo / "httpx"
    async with open_bridge(folder, options=options(checkout)) as bridge:
        assert (await bridge.wait_connected())["project"] == PROJECT
        result = await bridge.command(
            "projectqa.ask", {"question": "How long is the delay before a retry?"}
        )
    cited = [c for c in result["citations"] if c["label"].startswith("httpx/_config.py:")]
    assert cited, result["citations"]
    # Repository paths map onto the checkout, not onto the editor's folder (httpx/httpx/…).
    assert cited[0]["location"]["uri"] == (checkout.repo / "httpx/_config.py").as_uri()
    # The Sources list shows each label exactly, as inline code, numbered once.
    sources = result["answer"].split("**Sources**\n", 1)[1].splitlines()
    assert any(line.endswith(f"`{cited[0]['label']}`") for line in sources), sources
    assert all(line.startswith("- [") and "](" not in line for line in sources), sources


async def test_a_symlink_to_the_checkout_is_the_checkout(
    checkout: LocalCheckout, tmp_path: Path
) -> None:
    link = tmp_path / "shortcut"
    link.symlink_to(checkout.repo)
    async with open_bridge(link, options=options(checkout)) as bridge:
        assert (await bridge.wait_connected())["project"] == PROJECT


async def test_a_folder_beside_the_checkout_falls_back_to_the_enclosing_project(
    checkout: LocalCheckout,
) -> None:
    beside = checkout.enclosing / "docs"
    beside.mkdir(exist_ok=True)
    async with open_bridge(beside, options=options(checkout)) as bridge:
        assert (await bridge.wait_connected())["project"] == "monorepo"


@pytest.mark.parametrize("inside", ["", "src/deep"])
async def test_a_clone_of_a_remote_finds_the_project_of_that_remote(
    checkout: LocalCheckout, inside: str
) -> None:
    # The clone lies in ``monorepo``'s folder too, but its origin names the repository.
    clone = checkout.enclosing / f"clone{len(inside)}"
    (clone / inside).mkdir(parents=True)
    git = ["git", "-C", str(clone)]
    subprocess.run([*git, "init", "-q"], check=True, timeout=60)
    subprocess.run([*git, "remote", "add", "origin", "https://github.com/Acme/shop"], check=True)
    async with open_bridge(clone / inside, options=options(checkout)) as bridge:
        assert (await bridge.wait_connected())["project"] == REMOTE_PROJECT


@pytest.mark.parametrize(
    ("inside", "expected"),
    [("services/a/src", "svc-a"), ("services/a", "svc-a"), ("services/b", "svc-b")],
)
async def test_projects_of_subdirectories_of_one_repository_are_told_apart(
    checkout: LocalCheckout, inside: str, expected: str
) -> None:
    async with open_bridge(checkout.services / inside, options=options(checkout)) as bridge:
        assert (await bridge.wait_connected())["project"] == expected


async def test_a_subdirectory_project_cites_repository_paths_at_the_repository(
    checkout: LocalCheckout,
) -> None:
    folder = checkout.services / "services/a/src"
    async with open_bridge(folder, options=options(checkout)) as bridge:
        assert (await bridge.wait_connected())["project"] == "svc-a"
        result = await bridge.command(
            "projectqa.ask", {"question": "How is the invoice total computed?"}
        )
    key = "services/a/src/billing.py"
    cited = [c for c in result["citations"] if c["label"].startswith(f"{key}:")]
    assert cited, result["citations"]
    # Keys are repository-relative: the file is at the repository's root joined with the key.
    assert cited[0]["location"]["uri"] == (checkout.services / key).as_uri()


async def test_the_top_of_a_repository_of_two_subdirectory_projects_names_both(
    checkout: LocalCheckout,
) -> None:
    async with open_bridge(checkout.services, options=options(checkout)) as bridge:
        message = await shown_error(bridge)
    assert f"several projects index {checkout.services} (svc-a, svc-b): set " in message


async def shown_error(bridge: Bridge) -> str:
    def errors() -> list[str]:
        return bridge.shown(types.MessageType.Error)

    assert await eventually(lambda: bool(errors()), polls=800), "no error message was shown"
    return errors()[0]


@pytest.mark.parametrize(
    ("client_name", "names", "not_named"),
    [
        ("Neovim", "project in require('projectqa').setup{}", "projectqa.project"),
        ("Visual Studio Code", "the projectqa.project setting", "setup{}"),
        (None, "projectqa.project in the editor's settings", "setup{}"),
    ],
)
async def test_no_project_names_the_setting_of_the_editor_once_prefixed(
    checkout: LocalCheckout, tmp_path: Path, client_name: str | None, names: str, not_named: str
) -> None:
    async with open_bridge(tmp_path, options=options(checkout), client_name=client_name) as bridge:
        message = await shown_error(bridge)
        status = await bridge.status()
    assert message == f"ProjectQA: {status['message']}"
    # The reason itself has no prefix: each editor adds its own ("ProjectQA: ProjectQA: …").
    assert status["message"].startswith(f"no project indexes {tmp_path}: set {names}")
    assert status["message"].endswith("to its id or slug")
    assert not_named not in message
