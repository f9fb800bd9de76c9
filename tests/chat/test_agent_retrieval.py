"""What a chat turn retrieves on: the whole question (issue 16), not its last 2,000 characters."""

from __future__ import annotations

from datetime import UTC, datetime

from projectqa.server.chat.agent import TurnInput, retrieval_text
from projectqa.server.models import Project
from projectqa.server.retrieval.query import MAX_QUERY_CHARS, SearchQuery


def turn(question: str, pending: list[str] | None = None) -> TurnInput:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    project = Project("prj_1", "shop", "Shop", "", now, now)
    return TurnInput(project, question, [], "", pending or [], [], {}, False, False)


def test_a_long_question_is_retrieved_on_whole_title_first() -> None:
    question = "Title: parse_price crashes\n\n" + "filler words " * 1200
    assert len(question) > 2000

    text = retrieval_text(turn(question))

    assert text == question
    assert SearchQuery.checked(text).text.startswith("Title: parse_price crashes")


def test_the_pending_question_comes_first_when_there_is_room() -> None:
    assert retrieval_text(turn("the cart one", ["Which total?"])) == "Which total? the cart one"


def test_a_question_of_the_limit_leaves_no_room_for_the_pending_question() -> None:
    question = "q" * MAX_QUERY_CHARS

    assert retrieval_text(turn(question, ["Which total?"])) == question
    assert len(retrieval_text(turn("q" * (MAX_QUERY_CHARS - 5), ["Which?"]))) <= MAX_QUERY_CHARS
