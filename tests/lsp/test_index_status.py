"""Where indexing stands, in the editor: ``projectqa.status`` and ``projectqa.ask`` carry the
project's index status, and an answer from a partly embedded index says it may improve.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.service.retrieval_fixtures import IndexedProject
from tests.service.test_index_status import publish_unembedded_chunk

from .conftest import Bridge, connection_options, open_bridge

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

QUESTION = "How is a refund paid back to the card?"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bridge(qa: IndexedProject) -> AsyncIterator[Bridge]:
    async with open_bridge(qa.shop, options=connection_options(qa)) as started:
        await started.wait_connected()
        yield started


async def ask(bridge: Bridge) -> dict:  # type: ignore[type-arg]
    return await bridge.command("projectqa.ask", {"question": QUESTION, "extractive": True})


async def test_a_complete_index_is_reported_without_a_note(bridge: Bridge) -> None:
    index = (await bridge.status())["index"]
    assert index["generation"] > 0 and index["message"] == ""
    assert index["chunksIndexed"] == index["chunksEmbedded"] == index["chunksStored"] > 0
    result = await ask(bridge)
    assert result["indexStatus"] == index
    assert "results may improve" not in result["answer"]


async def test_an_answer_from_a_partly_embedded_index_says_it_may_improve(
    qa: IndexedProject, bridge: Bridge
) -> None:
    text = "def refund_to_card(order):\n    # a refund is paid back to the card it came from\n"
    await publish_unembedded_chunk(qa, "shop/refund_card.py", text)
    result = await ask(bridge)
    message = result["indexStatus"]["message"]
    assert message.startswith("dense index ") and message.endswith("results may improve")
    assert result["indexStatus"]["chunksEmbedded"] == result["indexStatus"]["chunksIndexed"] - 1
    assert "results may improve_" in result["answer"]  # the note, in italics, after the answer
    assert (await bridge.status())["index"]["message"] == message
