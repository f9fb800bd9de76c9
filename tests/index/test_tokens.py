"""Identifier-aware tokens."""

from __future__ import annotations

import pytest

from projectqa.server.index import tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("getUserName", ["getusername", "get", "user", "name"]),
        ("get_user_name", ["getusername", "get", "user", "name"]),
        ("GetUserName", ["getusername", "get", "user", "name"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        ("parseHTTPResponse2", ["parsehttpresponse2", "parse", "http", "response2"]),
        ("MAX_RETRY_COUNT", ["maxretrycount", "max", "retry", "count"]),
        ("base64Encode", ["base64encode", "base64", "encode"]),
        ("__init__", ["init"]),
        ("user", ["user"]),
    ],
)
def test_identifiers_split_into_words_and_keep_the_whole(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_prose_is_lowercased_without_stop_words_or_single_letters() -> None:
    text = "How does the Server retry a failed request? See x and RFC 7231."
    assert tokenize(text) == ["server", "retry", "failed", "request", "see", "rfc", "7231"]


def test_repeats_are_kept_for_term_frequency() -> None:
    assert tokenize("cache cache.get(cache)") == ["cache", "cache", "get", "cache"]


def test_dotted_paths_and_file_names_split_on_punctuation() -> None:
    assert tokenize("django/db/models/query.py: QuerySet.filter") == [
        "django", "db", "models", "query", "py", "queryset", "query", "set", "filter",
    ]  # fmt: skip


def test_non_ascii_words_split_on_underscores_only() -> None:
    assert tokenize("größe_berechnen") == ["größeberechnen", "größe", "berechnen"]


def test_empty_and_punctuation_only_text() -> None:
    assert tokenize("") == []
    assert tokenize("(){}[] -> => ;;") == []
