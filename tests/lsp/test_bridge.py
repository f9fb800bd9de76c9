"""The bridge end to end: an editor (pytest-lsp) ↔ projectqa-lsp ↔ a real ProjectQA server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.service.retrieval_fixtures import IndexedProject, definition_lines

from .conftest import Bridge, connection_options, open_bridge

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(qa: IndexedProject) -> AsyncIterator[Bridge]:
    """One bridge for the module; the project is inferred from the workspace folder."""
    async with open_bridge(qa.shop, options=connection_options(qa)) as started:
        await started.wait_connected()
        yield started


async def test_the_project_is_inferred_from_the_workspace_folder(bridge: Bridge) -> None:
    status = await bridge.status()
    assert status["connected"] is True
    assert status["project"] == "shop"
    assert status["user"]


async def test_ask_streams_chunks_and_progress_and_returns_cited_locations(
    bridge: Bridge,
) -> None:
    bridge.chunks.clear()
    result = await bridge.command(
        "projectqa.ask",
        {"question": "How is the discount applied to the price?", "askId": "a1"},
        token="ask-1",
    )
    assert result["askId"] == "a1"
    assert result["status"] == "completed"
    streamed = "".join(c["text"] for c in bridge.chunks if c["askId"] == "a1")
    assert streamed.strip() and streamed.strip() in result["answer"]
    assert "**Sources**" in result["answer"]
    labels = [c["label"] for c in result["citations"]]
    assert any(label.startswith("shop/pricing.py:") for label in labels), labels
    locations = result["locations"]
    assert locations and all(loc["uri"].startswith("file://") for loc in locations)
    pricing = next(loc for loc in locations if loc["uri"].endswith("shop/pricing.py"))
    start, _ = definition_lines((bridge.root / "shop/pricing.py").read_text(), "apply_discount")
    assert pricing["range"]["start"]["line"] <= start - 1
    kinds = [getattr(v, "kind", None) for v in bridge.client.progress_reports["ask-1"]]
    assert kinds[0] == "begin" and kinds[-1] == "end"


async def test_hover_shows_the_definition_site_and_its_first_lines(bridge: Bridge) -> None:
    uri = bridge.open("shop/cart.py")
    source = (bridge.root / "shop/cart.py").read_text()
    line_number = next(i for i, line in enumerate(source.splitlines()) if "apply_discount(" in line)
    column = source.splitlines()[line_number].index("apply_discount") + 3
    hover = await bridge.client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line_number, character=column),
        )
    )
    assert hover is not None
    text = hover.contents.value
    start, end = definition_lines((bridge.root / "shop/pricing.py").read_text(), "apply_discount")
    assert f"[`shop/pricing.py:{start}-{end}`](<file://" in text  # the label exactly, as code
    assert "def apply_discount" in text


async def test_workspace_symbols_come_from_the_symbol_index(bridge: Bridge) -> None:
    found = await bridge.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="Cart"))
    names = [symbol.name for symbol in found]
    assert "Cart" in names
    cart = next(symbol for symbol in found if symbol.name == "Cart")
    assert cart.location.uri == bridge.uri("shop/cart.py")
    assert cart.kind == types.SymbolKind.Class
    assert await bridge.client.workspace_symbol_async(types.WorkspaceSymbolParams(query="")) == []


async def test_explain_selection_sends_the_selected_lines_as_context(bridge: Bridge) -> None:
    uri = bridge.open("shop/pricing.py")
    start, end = definition_lines((bridge.root / "shop/pricing.py").read_text(), "apply_discount")
    selection = {
        "start": {"line": start - 1, "character": 0},
        "end": {"line": end, "character": 0},
    }
    result = await bridge.command(
        "projectqa.explainSelection", {"textDocument": {"uri": uri}, "range": selection}
    )
    assert result["status"] == "completed"
    assert any(c["label"].startswith("shop/pricing.py:") for c in result["citations"])


async def test_code_lenses_are_off_unless_asked_for(bridge: Bridge, qa: IndexedProject) -> None:
    uri = bridge.open("shop/cart.py")
    params = types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    assert not await bridge.client.text_document_code_lens_async(params)
    options = connection_options(qa, codeLens=True)
    async with open_bridge(qa.shop, options=options) as lensed:
        await lensed.wait_connected()
        lensed.open("shop/cart.py")
        lenses = await lensed.client.text_document_code_lens_async(params)
        source = (qa.shop / "shop/cart.py").read_text()
        add_item, _ = definition_lines(source, "Cart.add_item")
        cart, _ = definition_lines(source, "Cart")
        starts = {lens.range.start.line for lens in lenses}
        assert {cart - 1, add_item - 1} <= starts
        lens = next(lens for lens in lenses if lens.range.start.line == add_item - 1)
        assert lens.command is not None and lens.command.command == "projectqa.explainSelection"
        result = await lensed.command(lens.command.command, *lens.command.arguments)
        assert result["citations"]
