"""Ingestion under a real swap race (issue #13, item 1): someone who can write in the
parent of a connector's folder exchanges it with a symlink to the server's data directory
(or to another connector's private clone) in a loop, while runs start. A run's check of
the path and its reading of the folder are two moments; only the folder as opened may
decide. No run may ever read the data directory.

Each run is what the pipeline does: ``data_dir_refusal`` on the configured paths, then the
source, opened with the server's ``folder_guard``. Bounded in count; after ``BUDGET_S`` a
test stops early, but only once the race has let a run through (a slow machine runs longer
rather than test nothing; nothing is asserted about time).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from projectqa.server.data_guard import DataDirGuard
from projectqa.server.ingestion.prepare import data_dir_refusal
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import SourceContext, SourceDocument, SourceError
from tests.connectors.local_repos import connector_type, make_repo
from tests.swapping import swapping

TOKEN = "pqa_admin_token_canary"
OTHER = "another project's private clone"
LOCAL_RUNS, GIT_RUNS = 400, 60
BUDGET_S = 20.0
MORE_RUNS = 5


def run_once(ctype: ConnectorType, config: dict[str, str], work: Path, guard: DataDirGuard) -> str:
    """One run as the pipeline makes it: the texts it indexed, "" if it was refused."""
    if data_dir_refusal(guard, ctype, config):
        return ""
    context = SourceContext(config=config, cursor=None, work_dir=work, folder_guard=guard)
    try:
        items = list(ctype.open_source(context).items())
    except SourceError:
        return ""
    return "".join(item.text for item in items if isinstance(item, SourceDocument))


def race(ctype: ConnectorType, config: dict[str, str], srv: Path, runs: int) -> tuple[int, int]:
    """``runs`` runs while ``repos/app`` is exchanged with ``repos/bait``: (runs that
    read the folder itself, runs that read the data directory)."""
    guard = DataDirGuard(srv / "data")
    work = srv / "data" / "sources" / "con_app"
    work.mkdir(parents=True)
    read = leaked = 0
    deadline = time.monotonic() + BUDGET_S
    with swapping(srv / "repos" / "app", srv / "repos" / "bait") as swapper:
        # Up to five times ``runs`` while none has read the folder yet: on a machine
        # busy enough that the swapper wins every time, run longer rather than test nothing.
        for done in range(MORE_RUNS * runs):
            text = run_once(ctype, config, work, guard)
            read += "mine" in text
            leaked += TOKEN in text or OTHER in text
            if read and (done + 1 >= runs or time.monotonic() > deadline):
                break
        swaps = swapper.stop()
    print(f"{ctype.name}: {runs} runs, {read} read the folder, {leaked} leaked, {swaps} swaps")
    return read, leaked


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    (data / "admin.token").write_text(f"{TOKEN}\n")
    return tmp_path / "srv"


def test_a_local_folder_swapped_for_the_data_directory_is_never_read(srv: Path) -> None:
    app = srv / "repos" / "app"
    app.mkdir(parents=True)
    (app / "cart.py").write_text("mine = 1\n")
    (srv / "repos" / "bait").symlink_to(srv / "data", target_is_directory=True)
    read, leaked = race(connector_type("local"), {"path": str(app)}, srv, LOCAL_RUNS)
    assert leaked == 0
    assert read > 0  # the race let runs through: the test tested something


def test_a_local_repository_swapped_for_another_clone_is_never_fetched(srv: Path) -> None:
    make_repo(srv / "repos" / "app", "mine")
    clone = srv / "data" / "sources" / "con_other" / "checkout"
    make_repo(clone, OTHER)
    (srv / "repos" / "bait").symlink_to(clone, target_is_directory=True)
    config = {"url": str(srv / "repos" / "app"), "branch": "main"}
    read, leaked = race(connector_type("git"), config, srv, GIT_RUNS)
    assert leaked == 0
    assert read > 0
