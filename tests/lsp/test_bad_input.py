"""Bad input to the bridge: every request gets a JSON-RPC error naming what is wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.service.retrieval_fixtures import IndexedProject

from .conftest import Bridge, connection_options, open_bridge

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVALID_PARAMS = -32602


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(qa: IndexedProject) -> AsyncIterator[Bridge]:
    async with open_bridge(qa.shop, options=connection_options(qa, project="shop")) as started:
        await started.wait_connected()
        started.open("shop/cart.py")
        yield started


async def rejected(bridge: Bridge, name: str, *arguments: Any) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as raised:
        await bridge.command(name, *arguments)
    return raised.value


async def test_an_unknown_command_names_the_known_ones(bridge: Bridge) -> None:
    error = await rejected(bridge, "projectqa.nope", {})
    assert error.code == INVALID_PARAMS
    assert "unknown command 'projectqa.nope'" in error.message
    assert "projectqa.ask" in error.message


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ((), "arguments"),
        (("just a string",), "arguments"),
        (({"question": "a"}, {"question": "b"}), "arguments"),
        (({},), "arguments[0].question"),
        (({"question": "   "},), "arguments[0].question"),
        (({"question": 42},), "arguments[0].question"),
        (({"question": "x" * 8001},), "arguments[0].question"),
        (({"question": "q", "extractive": "yes"},), "arguments[0].extractive"),
        (({"question": "q", "textDocument": "file:///x"},), "arguments[0].textDocument"),
        (({"question": "q", "textDocument": {"uri": "{cart}"}},), "arguments[0].range"),
        (
            ({"question": "q", "textDocument": {"uri": "{cart}"}, "range": {"start": 1}},),
            "arguments[0].range",
        ),
    ],
)
async def test_malformed_ask_arguments_name_the_field(
    bridge: Bridge, arguments: tuple[Any, ...], field: str
) -> None:
    cart = bridge.uri("shop/cart.py")
    filled = [
        {k: ({"uri": cart} if v == {"uri": "{cart}"} else v) for k, v in a.items()}
        if isinstance(a, dict)
        else a
        for a in arguments
    ]
    error = await rejected(bridge, "projectqa.ask", *filled)
    assert error.code == INVALID_PARAMS
    assert error.message.startswith(f"{field}:"), error.message


async def test_explain_needs_a_selection(bridge: Bridge) -> None:
    error = await rejected(bridge, "projectqa.explainSelection", {"question": "why?"})
    assert error.code == INVALID_PARAMS
    assert error.message.startswith("arguments[0].textDocument:")


async def test_a_document_the_editor_never_opened_is_refused(bridge: Bridge) -> None:
    never_opened = bridge.uri("shop/pricing.py")
    selection = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
    error = await rejected(
        bridge,
        "projectqa.explainSelection",
        {"textDocument": {"uri": never_opened}, "range": selection},
    )
    assert error.code == INVALID_PARAMS
    assert "is not open in the editor" in error.message
    with pytest.raises(JsonRpcException) as raised:
        await bridge.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=never_opened),
                position=types.Position(line=0, character=0),
            )
        )
    assert raised.value.code == INVALID_PARAMS
    assert raised.value.message.startswith("textDocument.uri:")


@pytest.mark.parametrize(
    ("line", "character", "expected"),
    [(900, 0, "line 900 is past the end"), (0, 500, "character 500 is past the end of line 0")],
)
async def test_positions_out_of_range_are_refused(
    bridge: Bridge, line: int, character: int, expected: str
) -> None:
    with pytest.raises(JsonRpcException) as raised:
        await bridge.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=bridge.uri("shop/cart.py")),
                position=types.Position(line=line, character=character),
            )
        )
    assert raised.value.code == INVALID_PARAMS
    assert raised.value.message.startswith("position:") and expected in raised.value.message
    end = {"line": line, "character": character}
    selection = {"start": {"line": 0, "character": 0}, "end": end}
    error = await rejected(
        bridge,
        "projectqa.explainSelection",
        {"textDocument": {"uri": bridge.uri("shop/cart.py")}, "range": selection},
    )
    assert error.message.startswith("arguments[0].range.end:") and expected in error.message


async def test_a_backwards_range_is_refused(bridge: Bridge) -> None:
    selection = {"start": {"line": 3, "character": 0}, "end": {"line": 1, "character": 0}}
    error = await rejected(
        bridge,
        "projectqa.explainSelection",
        {"textDocument": {"uri": bridge.uri("shop/cart.py")}, "range": selection},
    )
    assert error.message == "arguments[0].range: end comes before start"


async def test_hover_on_whitespace_or_an_unknown_word_is_empty(bridge: Bridge) -> None:
    uri = bridge.uri("shop/cart.py")
    for position in (types.Position(line=1, character=0), types.Position(line=0, character=1)):
        document = types.TextDocumentIdentifier(uri=uri)
        hover = await bridge.client.text_document_hover_async(
            types.HoverParams(text_document=document, position=position)
        )
        assert hover is None


async def test_the_bridge_still_answers_after_bad_input(bridge: Bridge) -> None:
    assert (await bridge.status())["connected"] is True
