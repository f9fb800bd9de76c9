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
        ("parseHTTPResponse2", ["parsehttpresponse2", "pars", "http", "response2"]),
        ("MAX_RETRY_COUNT", ["maxretrycount", "max", "retri", "count"]),
        ("base64Encode", ["base64encode", "base64", "encod"]),
        ("__init__", ["init"]),
        ("user", ["user"]),
    ],
)
def test_identifiers_split_into_stemmed_words_and_keep_the_whole(
    text: str, expected: list[str]
) -> None:
    assert tokenize(text) == expected


def test_prose_is_lowercased_without_stop_words_or_single_letters() -> None:
    text = "How does the Server retry a failed request? See x and RFC 7231."
    assert tokenize(text) == ["server", "retri", "fail", "request", "see", "rfc", "7231"]


def test_repeats_are_kept_for_term_frequency() -> None:
    assert tokenize("cache cache.get(cache)") == ["cach", "cach", "get", "cach"]


def test_dotted_paths_and_file_names_split_on_punctuation() -> None:
    assert tokenize("django/db/models/query.py: QuerySet.filter") == [
        "django", "db", "model", "queri", "py", "queryset", "queri", "set", "filter",
    ]  # fmt: skip


def test_non_ascii_words_split_on_underscores_only() -> None:
    assert tokenize("größe_berechnen") == ["größeberechnen", "größe", "berechnen"]


def test_empty_and_punctuation_only_text() -> None:
    assert tokenize("") == []
    assert tokenize("(){}[] -> => ;;") == []


@pytest.mark.parametrize(
    "forms", [("retry", "retries", "retrying", "retried"), ("proxy", "proxies", "Proxies")]
)
def test_word_forms_meet(forms: tuple[str, ...]) -> None:
    assert len({tuple(tokenize(form)) for form in forms}) == 1


def test_a_whole_identifier_stays_exact_and_its_words_meet_their_forms() -> None:
    assert tokenize("max_retries") == tokenize("maxRetries") == ["maxretries", "max", "retri"]
    assert "retri" in tokenize("how does retry work?")
    assert tokenize("max_retry") != tokenize("max_retries")  # the whole names differ


def test_stop_words_are_dropped_before_stemming() -> None:
    # "does" would stem to "doe" and "this" to "thi": neither may reach the index.
    assert tokenize("does this") == []
