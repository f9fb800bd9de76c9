"""Tool calls written as text: every form, fed whole, in two pieces split at every
position, and one character at a time; text is shown only once it cannot be a call."""

from __future__ import annotations

import json

import pytest

from projectqa.server.llm.textual_calls import MAX_HELD, TextualCalls, WrittenCall

TOOLS = ("search", "read_file")
ARGS = '{"query": "retry"}'
SEARCH = WrittenCall("search", ARGS)
CALL = '{"name": "search", "arguments": {"query": "retry"}}'


def splits(text: str) -> list[list[str]]:
    """The text whole, in two pieces at every position, and one character at a time."""
    return [[text], *([text[:i], text[i:]] for i in range(1, len(text))), list(text)]


def run(pieces: list[str], after_prose: bool = False) -> tuple[str, list[WrittenCall], str]:
    """(all text shown, the calls, the text shown before the end)."""
    calls = TextualCalls(TOOLS, after_prose=after_prose)
    early = "".join(calls.feed(piece) for piece in pieces)
    rest, found = calls.finish()
    return early + rest, found, early


WHOLE_CALLS = [
    pytest.param(f"<tool_call>{CALL}</tool_call>", [SEARCH], id="hermes"),
    pytest.param(f"\n<tool_call>\n{CALL}\n</tool_call>\n", [SEARCH], id="hermes-newlines"),
    pytest.param(
        f'<tool_call>{CALL}</tool_call>\n<tool_call>{{"name": "read_file", "arguments": '
        '{"path": "a.py"}}</tool_call>',
        [SEARCH, WrittenCall("read_file", '{"path": "a.py"}')],
        id="hermes-two",
    ),
    pytest.param(f"<tool_call>{CALL}", [SEARCH], id="hermes-unclosed-at-the-end"),
    pytest.param(f"```json\n{CALL}\n```", [SEARCH], id="fenced-json"),
    pytest.param(f"```\n[{CALL}]\n```", [SEARCH], id="fenced-list"),
    pytest.param(CALL, [SEARCH], id="bare"),
    pytest.param(f"  [{CALL}]  ", [SEARCH], id="bare-list"),
    pytest.param(
        '{"name": "search", "parameters": {"query": "retry"}}', [SEARCH], id="bare-parameters"
    ),
    pytest.param(
        '{"name": "search", "arguments": "{\\"query\\": \\"retry\\"}"}',
        [SEARCH],
        id="arguments-as-a-string",
    ),
    pytest.param(
        '{"type": "function", "function": {"name": "search", "arguments": {"query": "retry"}}}',
        [SEARCH],
        id="openai-shape",
    ),
    pytest.param(
        '{"arguments": {"query": "retry"}, "name": "search"}', [SEARCH], id="arguments-first"
    ),
    pytest.param(f"[TOOL_CALLS][{CALL}]", [SEARCH], id="mistral"),
    pytest.param(f"[TOOL_CALLS]search[ARGS]{ARGS}", [SEARCH], id="mistral-args"),
    pytest.param(
        '<|python_tag|>{"name": "search", "parameters": {"query": "retry"}}', [SEARCH], id="llama"
    ),
    pytest.param(
        '<|python_tag|>{"name": "search", "parameters": {"query": "retry"}}; '
        '{"name": "read_file", "parameters": {"path": "a.py"}}<|eom_id|>',
        [SEARCH, WrittenCall("read_file", '{"path": "a.py"}')],
        id="llama-two",
    ),
    pytest.param(
        '<tool_call>{"name": "search", "arguments": {"query": "r\\u00e9try \\"}\\""}}</tool_call>',
        [WrittenCall("search", json.dumps({"query": 'rétry "}"'}, ensure_ascii=False))],
        id="braces-and-escapes-in-strings",
    ),
]

NOT_CALLS = [
    pytest.param("Retries use exponential backoff [1].", id="prose"),
    pytest.param('<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>', id="not-offered"),
    pytest.param(
        '<tool_call>{"name": "search", "arguments": {"query": }</tool_call>', id="bad-json"
    ),
    pytest.param('<tool_call>{"name": "search", "argu', id="cut-short"),
    pytest.param('{"name": "search"}', id="bare-without-arguments"),
    pytest.param('{"a": 1}', id="other-json"),
    pytest.param("```python\nprint(1)\n```", id="code-fence"),
    pytest.param('```json\n{"name": "search", "arguments": {}}\nand more', id="fence-unclosed"),
    pytest.param(f"Let me search.\n<tool_call>{CALL}</tool_call>", id="prose-then-call"),
    pytest.param(f"<tool_call>{CALL}</tool_call> That was it.", id="call-then-prose"),
    pytest.param("[1] src/http.py shows it.", id="citation-first"),
    pytest.param(f"[TOOL_CALLS]rm[ARGS]{ARGS}", id="mistral-not-offered"),
    pytest.param('<|python_tag|>brave_search.call(query="x")', id="llama-builtin"),
    pytest.param(f"<tool_call>[{CALL}, 3]</tool_call>", id="one-item-not-a-call"),
]


@pytest.mark.parametrize("text, expected", WHOLE_CALLS)
def test_content_that_is_only_calls_becomes_calls(text: str, expected: list[WrittenCall]) -> None:
    for pieces in splits(text):
        shown, calls, _ = run(pieces)
        assert (shown, calls) == ("", expected), pieces


@pytest.mark.parametrize("text", NOT_CALLS)
def test_anything_else_stays_text(text: str) -> None:
    for pieces in splits(text):
        assert run(pieces)[:2] == (text, []), pieces


def test_prose_is_shown_at_once() -> None:
    text = "Retries use exponential backoff [1]. See {config} too."
    for pieces in splits(text):
        assert run(pieces)[2] == text, pieces


def test_a_code_fence_is_shown_once_its_language_is_known() -> None:
    calls = TextualCalls(TOOLS)
    assert calls.feed("```") == ""
    assert calls.feed("python\n") == "```python\n"


def test_names_of_tools_not_offered_do_not_count() -> None:
    calls = TextualCalls(["read_file"])
    assert calls.feed(f"<tool_call>{CALL}</tool_call>") == f"<tool_call>{CALL}</tool_call>"
    assert calls.finish() == ("", [])


# ---------------------------------------------------------------- after prose
AFTER_PROSE = [
    pytest.param(
        f"Let me search.\n<tool_call>{CALL}</tool_call>",
        "Let me search.\n",
        [SEARCH],
        id="hermes",
    ),
    pytest.param(
        f"I will look it up: ```json\n{CALL}\n``` then answer.",
        "I will look it up:  then answer.",
        [SEARCH],
        id="fenced-then-prose",
    ),
    pytest.param(f"Searching.\n{CALL}\n", "Searching.\n\n", [SEARCH], id="bare-on-its-own-line"),
    pytest.param(
        f"Searching. {CALL}", f"Searching. {CALL}", [], id="bare-inside-a-line-stays-text"
    ),
    pytest.param(f"Ok [TOOL_CALLS][{CALL}]", "Ok ", [SEARCH], id="mistral"),
    pytest.param(
        "See [1] and {this}.\n[2] cites `a < b`.\n```python\nx = {1: 2}\n```",
        "See [1] and {this}.\n[2] cites `a < b`.\n```python\nx = {1: 2}\n```",
        [],
        id="prose-with-brackets",
    ),
    pytest.param(
        'Look:\n<tool_call>{"name": "rm", "arguments": {}}</tool_call>',
        'Look:\n<tool_call>{"name": "rm", "arguments": {}}</tool_call>',
        [],
        id="not-offered",
    ),
]


@pytest.mark.parametrize("text, shown, expected", AFTER_PROSE)
def test_after_prose_calls_are_taken_and_the_prose_kept(
    text: str, shown: str, expected: list[WrittenCall]
) -> None:
    for pieces in splits(text):
        assert run(pieces, after_prose=True)[:2] == (shown, expected), pieces


def test_after_prose_a_bare_call_must_start_its_own_line() -> None:
    calls = TextualCalls(TOOLS, after_prose=True)
    shown = calls.feed("Ok.\n") + calls.feed(CALL) + calls.feed(CALL)
    rest, found = calls.finish()
    assert (shown + rest, found) == (f"Ok.\n{CALL}", [SEARCH])


def test_after_prose_the_call_text_is_never_shown() -> None:
    text = f"Let me search.\n<tool_call>{CALL}</tool_call>"
    calls = TextualCalls(TOOLS, after_prose=True)
    shown = [calls.feed(char) for char in text]
    assert "".join(shown) == "Let me search.\n"
    assert calls.finish() == ("", [SEARCH])


# ---------------------------------------------------------------- long content
def fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


ROWS = ", ".join(f'{{"n": {i}, "tags": ["a", "b"], "s": "x}}]>`;"}}' for i in range(4000))
LONG_NOT_CALLS = [
    pytest.param(f'{{"rows": [{ROWS}]}}', False, id="object-whose-first-key-is-not-a-call's"),
    pytest.param(f"[{ROWS}]", False, id="list-whose-first-item-is-not-a-call"),
    pytest.param(
        f'{{"name": "search", "arguments": {{"rows": [{ROWS}]}}}}', False, id="call-too-long"
    ),
    pytest.param(
        f'<tool_call>{{"name": "search", "arguments": {{"rows": [{ROWS}]}}}}</tool_call>',
        False,
        id="hermes-too-long",
    ),
    pytest.param(f'Data:\n{{"rows": [{ROWS}]}}\nDone.', True, id="after-prose"),
    pytest.param(f'Data:\n[TOOL_CALLS]search[ARGS]{{"rows": [{ROWS}]}}', True, id="mistral"),
]


@pytest.mark.parametrize("text, after_prose", LONG_NOT_CALLS)
def test_long_json_that_is_not_a_call_is_shown_as_it_streams_with_linear_work(
    text: str, after_prose: bool
) -> None:
    assert len(text) > 190_000
    calls = TextualCalls(TOOLS, after_prose=after_prose)
    early = "".join(calls.feed(piece) for piece in fragments(text, 4))
    rest, found = calls.finish()
    assert (early + rest, found) == (text, [])
    assert len(rest) <= MAX_HELD  # never more than this held back from the user
    assert calls.scanned_chars <= 2 * len(text)  # each character read about once


def test_an_object_is_text_as_soon_as_its_first_key_is_not_a_call_key() -> None:
    calls = TextualCalls(TOOLS)
    assert calls.feed('{"ro') == ""
    assert calls.feed('ws": [') == '{"rows": ['
    assert calls.feed("1") == "1"


def test_a_list_is_text_as_soon_as_its_first_item_is_not_a_call() -> None:
    calls = TextualCalls(TOOLS)
    assert calls.feed('[{"name": "search", "arguments": {}}, ') == ""  # may still be calls
    calls = TextualCalls(TOOLS)
    assert calls.feed('[{"name": "rm", "arguments": {}}') == '[{"name": "rm", "arguments": {}}'
    calls = TextualCalls(TOOLS)
    assert calls.feed("[{}, ") == "[{}, "


def test_a_call_with_long_arguments_split_anywhere_is_found() -> None:
    query = 'retry {"x": [1, 2]} `a>b`; ' * 200
    text = f"<tool_call>{json.dumps({'name': 'search', 'arguments': {'query': query}})}</tool_call>"
    expected = [WrittenCall("search", json.dumps({"query": query}))]
    cuts = [[text[:i], text[i:]] for i in range(0, len(text), 97)]
    for pieces in [*cuts, fragments(text, 1), fragments(text, 3), fragments(text, 4096)]:
        shown, found, _ = run(pieces)
        assert (shown, found) == ("", expected)
    for pieces in [fragments(f"Searching.\n{text}", 5), fragments(f"Searching.\n{text}", 64)]:
        assert run(pieces, after_prose=True)[:2] == ("Searching.\n", expected)
