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
    path_spec,
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
        ({"text": "x" * 16_001}, "query"),
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
    assert evidence_of("which fixtures does the test suite use?").wants_tests
    assert not evidence_of("how are cookies stored?").wants_tests


@pytest.mark.parametrize(
    ("globs", "path", "taken"),
    [
        # A name may hold a newline: "*" and "**" cross it as git's wildmatch does.
        (("*.log",), "nl\nname/a.log", True),
        (("**/a.log",), "x\ny/a.log", True),
        (("!*.log",), "nl\nname/a.log", False),
        # "$" must not match before a final newline: "a.log\n" is no .log file.
        (("*.log",), "a.log\n", False),
        (("src/",), "src/a\nb.py", True),
        (("*.py",), "src/a.py", True),
        (("*.py",), "src/a.pyc", False),
    ],
)
def test_path_globs_match_a_path_as_git_does(
    globs: tuple[str, ...], path: str, taken: bool
) -> None:
    assert path_spec(globs).match_file(path) is taken


@pytest.mark.parametrize("globs", [("[z-a].py",), ("!",)])
def test_a_glob_no_pattern_can_be_made_of_names_the_field(globs: tuple[str, ...]) -> None:
    with pytest.raises(InvalidArgument) as raised:
        path_spec(globs)
    assert raised.value.field == "filter.path_globs"


# Issue 16: "!tests/" excluded no file (a "*" added before it matched every file itself).
@pytest.mark.parametrize(
    ("path", "taken"),
    [
        ("tests/a.py", False),
        ("a/tests/b.py", False),
        ("a/b.py", True),
    ],
)
def test_an_excluded_folder_is_left_out_at_any_depth(path: str, taken: bool) -> None:
    assert path_spec(("!tests/",)).match_file(path) is taken
    assert path_spec(("!**/tests/**",)).match_file(path) is taken
