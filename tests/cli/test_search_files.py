"""``projectqa search --files``: the files that answer a question, against a real server
that ingested a small folder with the real embedding model (``local`` connector, SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from projectqa.client import Client

from .conftest import Cli, RunningServer, running_server
from .test_search_tools import ingested_shop, model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Overrides the session server of conftest: this one has the ``local`` connector."""
    with running_server(tmp_path_factory.mktemp("files-server"), plugins=["local"]) as started:
        yield started


@pytest.fixture(scope="module")
def shop(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ingested_shop(server, tmp_path_factory)


QUESTION = "which file retries when the payment gateway times out?"


@model
def test_search_files_prints_a_table_of_files_with_their_best_lines(
    admin_cli: Cli, shop: str
) -> None:
    out = admin_cli.ok("search", shop, QUESTION, "--files").stdout
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith("│")
    ]
    assert rows and rows[0][:2] == ["1", "shop/payment.py"], out
    response = admin_cli.json("search", shop, QUESTION, "--files")
    best = response["files"][0]
    lines = ", ".join(
        str(c["start_line"])
        if c["start_line"] == c["end_line"]
        else f"{c['start_line']}-{c['end_line']}"
        for c in best["citations"]
    )
    assert rows[0][2] == lines
    assert len(rows) == len(response["files"]) == len({f["path"] for f in response["files"]})


@model
def test_search_files_json_is_the_response(admin_cli: Cli, shop: str) -> None:
    response = admin_cli.json("search", shop, QUESTION, "--files", "-k", "2", "--per-document", "1")
    assert response["hits"] == []
    assert [f["path"] for f in response["files"]][:1] == ["shop/payment.py"]
    assert len(response["files"]) <= 2
    best = response["files"][0]
    assert len(best["citations"]) == 1 and best["connector_id"].startswith("con_")
    assert best["citations"][0]["label"].startswith("shop/payment.py:")


@model
def test_search_files_filters(admin_cli: Cli, shop: str) -> None:
    by_path = admin_cli.json("search", shop, "refunds and payments", "--files", "--path", "*.md")
    assert [f["path"] for f in by_path["files"]] == ["docs/refunds.md"]


@model
def test_search_files_bad_input_is_a_clean_usage_error(admin_cli: Cli, shop: str) -> None:
    issues = admin_cli("search", shop, "cart", "--files", "--kind", "issue")
    assert issues.exit_code == 2 and "filter.kinds" in issues.stderr
    too_many = admin_cli("search", shop, "cart", "--files", "--per-document", "11")
    assert too_many.exit_code == 2 and "max_per_document" in too_many.stderr


@model
def test_client_search_files(server: RunningServer, shop: str) -> None:
    with Client(server.address, server.admin_token) as qa:
        response = qa.search_files(shop, QUESTION, top_k=1, citations_per_file=2)
    assert [f.path for f in response.files] == ["shop/payment.py"]
    assert 1 <= len(response.files[0].citations) <= 2
