"""Query checks and the evidence a question carries on its face."""

from __future__ import annotations

import pytest

from projectqa.server.errors import InvalidArgument
from projectqa.server.retrieval.query import (
    Mention,
    SearchFilter,
    SearchMode,
    SearchQuery,
    evidence_of,
)


def test_defaults_and_bounds() -> None:
    query = SearchQuery.checked("  where is it  ")
    assert (query.text, query.mode, query.top_k, query.max_per_document) == (
        "where is it",
        SearchMode.HYBRID,
        10,
        3,
    )
    assert SearchQuery.checked("q", top_k=100, max_per_document=1).top_k == 100


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": ""}, "query"),
        ({"text": " \t\n"}, "query"),
        ({"text": "x" * 2001}, "query"),
        ({"text": "q", "top_k": -1}, "top_k"),
        ({"text": "q", "top_k": 101}, "top_k"),
        ({"text": "q", "top_k": 10**9}, "top_k"),
        ({"text": "q", "max_per_document": 1000}, "max_per_document"),
        ({"text": "q", "search_filter": SearchFilter(kinds=("file", "wiki"))}, "filter.kinds"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        SearchQuery.checked(**kwargs)
    assert caught.value.field == field


def test_plain_questions_carry_no_evidence() -> None:
    assert not evidence_of("Where does a Session persist cookies between requests?")


def test_stack_trace_gives_path_line_and_function() -> None:
    path = "/usr/lib/python3/site-packages/flask/app.py"
    found = evidence_of(f'File "{path}", line 1511, in wsgi_app')
    assert found.identifiers == ("wsgi_app",)
    assert found.mentions == (Mention(path, 1511),)


def test_dotted_backticked_and_code_style_names() -> None:
    found = evidence_of(
        "TypeError in requests.models.PreparedRequest.prepare_body; also `Flask.make_response` "
        "and get_auth() and getUserName"
    )
    assert "requests.models.PreparedRequest.prepare_body" in found.identifiers
    assert {"Flask.make_response", "get_auth", "getUserName"} <= set(found.identifiers)
    assert Mention("requests/models/PreparedRequest/prepare_body", module=True) in found.mentions


def test_paths_with_line_numbers() -> None:
    found = evidence_of("crash at sessions.py:120 and see src/flask/ctx.py")
    assert Mention("sessions.py", 120) in found.mentions
    assert Mention("src/flask/ctx.py") in found.mentions


def test_questions_about_tests_are_noticed() -> None:
    assert evidence_of("which fixtures does the test suite use?").mentions_tests
    assert not evidence_of("how are cookies stored?").mentions_tests
