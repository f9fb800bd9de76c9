"""``projectqa.searchFiles`` over stdio: the files that answer a question, each with its
best lines as editor Locations, from a real server that ingested the ``shop`` project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from tests.service.retrieval_fixtures import SHOP_FILES, IndexedProject

from .conftest import Bridge, connection_options, open_bridge

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

COMMAND = "projectqa.searchFiles"
INVALID_PARAMS = -32602
REQUEST_FAILED = -32803
QUESTION = "which file sends the order receipt to the customer by email?"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(qa: IndexedProject) -> AsyncIterator[Bridge]:
    async with open_bridge(qa.shop, options=connection_options(qa, project="shop")) as started:
        await started.wait_connected()
        yield started


async def test_files_come_best_first_with_locations_of_their_best_lines(bridge: Bridge) -> None:
    result = await bridge.command(COMMAND, {"question": QUESTION})

    best = result["files"][0]
    assert best["path"] == "shop/mailer.py", [f["path"] for f in result["files"]]
    assert best["language"] == "python" and best["passages"] >= 1
    assert best["locations"] and best["label"].startswith("shop/mailer.py:")
    last_line = SHOP_FILES["shop/mailer.py"].count("\n")
    for where in best["locations"]:
        assert where["uri"] == bridge.uri("shop/mailer.py")
        assert 0 <= where["range"]["start"]["line"] < where["range"]["end"]["line"] <= last_line + 1
    assert len({f["path"] for f in result["files"]}) == len(result["files"])
    assert result["indexStatus"]["generation"] > 0


async def test_top_k_paths_and_citations_per_file(bridge: Bridge) -> None:
    result = await bridge.command(
        COMMAND,
        {"question": "shopping cart", "topK": 2, "paths": ["shop/**"], "citationsPerFile": 1},
    )
    assert 1 <= len(result["files"]) <= 2
    assert all(f["path"].startswith("shop/") for f in result["files"])
    assert all(len(f["locations"]) == 1 for f in result["files"])


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "arguments[0].question"),
        ({"question": "  "}, "arguments[0].question"),
        ({"question": "q", "topK": "3"}, "arguments[0].topK"),
        ({"question": "q", "topK": True}, "arguments[0].topK"),
        ({"question": "q", "paths": "*.py"}, "arguments[0].paths"),
        ({"question": "q", "paths": [1]}, "arguments[0].paths"),
        ({"question": "q", "citationsPerFile": 2.5}, "arguments[0].citationsPerFile"),
    ],
)
async def test_bad_arguments_name_the_field(
    bridge: Bridge, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(JsonRpcException) as raised:
        await bridge.command(COMMAND, arguments)
    assert raised.value.code == INVALID_PARAMS
    assert raised.value.message.startswith(f"{field}:"), raised.value.message


async def test_a_value_the_server_refuses_fails_naming_its_field(bridge: Bridge) -> None:
    with pytest.raises(JsonRpcException) as raised:
        await bridge.command(COMMAND, {"question": "cart", "citationsPerFile": 11})
    assert raised.value.code == REQUEST_FAILED
    assert "INVALID_ARGUMENT" in raised.value.message
    assert "max_per_document" in raised.value.message
