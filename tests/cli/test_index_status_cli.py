"""Where indexing stands, as ``projectqa search``, ``ask`` and ``metadata`` show it: nothing
extra for a complete index, "dense index NN % … — results may improve" for a project
whose served generation has chunks without vectors yet (real server, real model).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from projectqa.client import Client
from projectqa.client.index_status import status_line
from projectqa.server.index import IndexManager
from projectqa.server.models import DocumentWrite
from projectqa.server.store import SqliteStore
from projectqa.v1 import retrieval_pb2
from tests.index.conftest import make_chunk, make_document

from .conftest import Cli, RunningServer, running_server
from .test_search_tools import ingested_shop

pytestmark = pytest.mark.model

QUESTION = "how is a refund paid back to the card?"
INCOMPLETE = re.compile(r"dense index \d+ % \(\d+ of \d+ chunks embedded\) — results may improve")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("status-server"), plugins=["local"]) as started:
        yield started


@pytest.fixture(scope="module")
def shop(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ingested_shop(server, tmp_path_factory)


def write_unembedded_chunk(server: RunningServer, project: str) -> retrieval_pb2.IndexStatus:
    """A chunk in the Store without a vector, published in a new generation: what a run
    that embeds behind serves for a while."""
    with Client(server.address, server.admin_token) as client:
        before = client.index_status(project)
        project_id = client.get_project(project).id
        connector_id = next(iter(client.list_connectors(project))).id
    store = SqliteStore(server.data_dir / "projectqa.sqlite3").open()
    try:
        document = make_document(project_id, connector_id, "shop/refund_card.py", 1)
        text = "def refund_to_card(order):\n    # a refund is paid back to the card\n"
        store.write_documents([DocumentWrite(document, [make_chunk(document, 0, "r", text)])])
        store.bump_index_generation(project_id)
        IndexManager(store, server.data_dir / "indexes", before.embedder).rebuild(project_id)
    finally:
        store.close()
    with Client(server.address, server.admin_token) as client:
        return client.index_status(project)


def test_a_complete_index_adds_no_status_line(admin_cli: Cli, shop: str) -> None:
    assert "results may improve" not in admin_cli.ok("search", shop, QUESTION).stdout
    shown = admin_cli.ok("metadata", shop).stdout
    assert "chunks embedded" in shown and "results may improve" not in shown
    status = admin_cli.json("search", shop, QUESTION)["index_status"]
    assert status["chunks_indexed"] == status["chunks_embedded"]


def test_a_partly_embedded_index_says_results_may_improve(
    server: RunningServer, admin_cli: Cli, shop: str
) -> None:
    status = write_unembedded_chunk(server, shop)
    assert status.chunks_embedded == status.chunks_indexed - 1
    line = status_line(status)
    assert INCOMPLETE.fullmatch(line), line
    searched = admin_cli.ok("search", shop, QUESTION).stdout
    assert line in searched and "shop/refund_card.py" in searched
    assert line in admin_cli.ok("metadata", shop).stdout
    answered = admin_cli.ok("ask", "--project", shop, "--extractive", QUESTION).stdout
    assert line in answered
    events = admin_cli.ok("--json", "ask", "--project", shop, "--extractive", QUESTION).stdout
    assert "results may improve" not in events  # JSON lines stay JSON
