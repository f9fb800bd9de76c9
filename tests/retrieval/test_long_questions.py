"""Long questions end to end (issue 16): pasted bug reports through Search, Ask and the tools.

A real server over the real ingested ``shop`` project (tests/service/retrieval_fixtures.py):
a question up to the chat limit is a question everywhere, one character more is refused
naming the field and the limit, and retrieval reads the whole question (its title too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from projectqa.server.config import MAX_QUESTION_CHARS
from projectqa.v1 import chat_pb2, retrieval_pb2, tools_pb2
from tests.service.helpers import Code, rpc_error
from tests.service.retrieval_fixtures import PROJECT, IndexedProject, indexed_project

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

LIMIT = 16_000

TRACEBACK = """\
Traceback (most recent call last):
  File "/home/ann/app/checkout.py", line 41, in pay
    amount = parse_price(form["price"])
  File "/home/ann/venv/lib/python3.12/site-packages/shop/pricing.py", line 14, in parse_price
    return int(dollars) * 100 + int((cents + "00")[:2])
ValueError: invalid literal for int() with base 10: '1,299'
"""

# Prose that names nothing in the project: only the title and the traceback can find code.
FILLER = (
    "We noticed this on our staging machine last Tuesday while upgrading everything; "
    "nobody on the team could reproduce it locally, and restarting did not help at all.\n"
)


def bug_report(title: str, length: int, traceback: str = "") -> str:
    """A title, a traceback (if any), then filler prose, exactly ``length`` characters."""
    head = f"{title}\n\n{traceback}\n"
    body = FILLER * (length // len(FILLER) + 1)
    return (head + body)[:length]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


async def search(qa: IndexedProject, query: str) -> retrieval_pb2.SearchResponse:
    return await qa.admin.retrieval.Search(
        retrieval_pb2.SearchRequest(project=PROJECT, query=query)
    )


async def ask(qa: IndexedProject, question: str) -> list[chat_pb2.ChatEvent]:
    call = qa.member.chat.Ask(chat_pb2.AskRequest(project=PROJECT, question=question))
    return [event async for event in call]


async def test_one_limit_for_every_question() -> None:
    assert MAX_QUESTION_CHARS == LIMIT


async def test_search_takes_a_question_of_the_chat_limit(qa: IndexedProject) -> None:
    question = bug_report("Prices with a thousands separator crash", LIMIT, TRACEBACK)

    response = await search(qa, question)

    assert response.hits[0].citation.path == "shop/pricing.py", [
        h.citation.label for h in response.hits
    ]


async def test_search_refuses_one_character_more_naming_query_and_the_limit(
    qa: IndexedProject,
) -> None:
    await rpc_error(search(qa, "x" * (LIMIT + 1)), Code.INVALID_ARGUMENT, "query", "16000")


async def test_ask_takes_a_question_of_the_chat_limit(qa: IndexedProject) -> None:
    events = await ask(qa, bug_report("Prices with a thousands separator crash", LIMIT, TRACEBACK))

    assert events[-1].done.status == chat_pb2.TURN_STATUS_COMPLETE
    paths = [e.citation.citation.path for e in events if e.HasField("citation")]
    assert "shop/pricing.py" in paths


async def test_ask_refuses_one_character_more_naming_the_field_and_the_limit(
    qa: IndexedProject,
) -> None:
    await rpc_error(ask(qa, "x" * (LIMIT + 1)), Code.INVALID_ARGUMENT, "question", "16000")


async def test_ask_retrieves_on_the_title_at_the_start_of_a_long_question(
    qa: IndexedProject,
) -> None:
    """The title is the only part naming code; the old agent read the last 2,000 characters."""
    question = bug_report("How is a price written with a dollar sign parsed into cents?", LIMIT)

    events = await ask(qa, question)

    paths = [e.citation.citation.path for e in events if e.HasField("citation")]
    assert paths and paths[0] == "shop/pricing.py", paths


async def test_the_search_tool_takes_a_question_of_the_chat_limit(qa: IndexedProject) -> None:
    request = tools_pb2.InvokeToolRequest(project=PROJECT, tool="search")
    request.arguments.update({"query": bug_report("parse_price crash", LIMIT, TRACEBACK)})

    response = await qa.admin.tools.InvokeTool(request)

    assert "shop/pricing.py" in str(response.result)
    request.arguments.update({"query": "x" * (LIMIT + 1)})
    await rpc_error(qa.admin.tools.InvokeTool(request), Code.INVALID_ARGUMENT, "query")


async def test_a_question_of_only_a_stack_trace(qa: IndexedProject) -> None:
    response = await search(qa, TRACEBACK)

    assert response.hits[0].citation.path == "shop/pricing.py"
    assert response.hits[0].symbol == "parse_price"


async def test_a_question_of_only_code(qa: IndexedProject) -> None:
    code = (
        "cart = Cart('ann')\ncart.add_item('pear', 4)\n"
        "total = cart.total_price({'pear': 250}, discount_percent=10)\n"
    )

    response = await search(qa, code)

    assert response.hits[0].citation.path == "shop/cart.py"
