"""A long report must not drown its rare identifiers (issue 16): keyword term weights, and
what the dense ranker reads of a question longer than the embedder reads."""

from __future__ import annotations

from projectqa.server.index.keyword import MAX_QUERY_TERMS, KeywordIndex
from projectqa.server.retrieval.evidence import evidence_of
from projectqa.server.retrieval.long_questions import (
    DENSE_PIECES,
    MAX_WINDOWS,
    WINDOW_CHARS,
    dense_texts,
    digest,
    windows,
    word_pieces,
)
from projectqa.server.retrieval.search import keyword_boost

PROSE = [
    f"The request failed and the session kept the value; the error said the response {i} "
    "was empty, so the request was sent again with the same session and value."
    if i < 8
    else f"Unrelated notes about logging number {i} and packaging the wheel for release."
    for i in range(40)
]
CODE = "def parse_price(text):\n    dollars, _, cents = text.partition('.')\n"
REPORT = (
    "Prices with cents crash parse_price\n\n"
    + "The request failed, the session and the value were wrong, the error repeated. " * 60
)


def test_a_long_report_finds_its_rare_identifier_first() -> None:
    """Said 60 times, the common words outweighed the one identifier (plain BM25 sums
    each repeat): the prose chunks ranked first."""
    index = KeywordIndex.build([*PROSE, CODE])

    top = index.search(REPORT, 5)

    assert top[0][0] == len(PROSE)


def test_the_identifier_is_boosted_when_the_report_spells_it_as_code() -> None:
    index = KeywordIndex.build([*PROSE, CODE, "price parse parse price of text"])
    boost = keyword_boost(evidence_of(REPORT))

    assert "parseprice" in boost
    assert index.search(REPORT, 5, boost=boost)[0][0] == len(PROSE)


def test_many_distinct_words_keep_only_the_rarest() -> None:
    words = [f"word{i}" for i in range(MAX_QUERY_TERMS * 2)]
    index = KeywordIndex.build([" ".join(words), *(" ".join(words[:-1]) for _ in range(5))])

    top = index.search(" ".join(words), 10)

    assert top[0][0] == 0  # the rarest word (only in document 0) is among those kept


def test_short_questions_score_as_plain_bm25() -> None:
    index = KeywordIndex.build([*PROSE, CODE])

    scores = dict(index.search("session value error", 50))

    assert len(scores) == 8  # every chunk with one of the words, no other


# ------------------------------------------------------------------ dense text
TRACE = (
    'Traceback (most recent call last):\n  File "/srv/shop/pricing.py", line 14, in parse_price\n'
    "    return int(dollars) * 100\nValueError: invalid literal for int() with base 10: '1,299'\n"
)
LONG_REPORT = "Prices with a thousands separator crash\n\n" + "\n".join(PROSE) + "\n\n" + TRACE


def test_the_digest_keeps_the_title_and_the_traceback_of_a_long_report() -> None:
    assert len(LONG_REPORT) > 3 * WINDOW_CHARS

    text = digest(LONG_REPORT, evidence_of(LONG_REPORT))

    assert word_pieces(text) <= DENSE_PIECES
    assert text.startswith("Prices with a thousands separator crash")
    assert 'File "/srv/shop/pricing.py", line 14, in parse_price' in text
    assert "ValueError: invalid literal" in text


def test_a_question_the_embedder_reads_whole_is_embedded_as_is() -> None:
    question = "where is the price parsed?"

    for how in ("head", "digest", "windows"):
        assert dense_texts(question, evidence_of(question), how) == [question]


def test_windows_cut_at_line_ends_within_the_limit() -> None:
    pieces = windows(LONG_REPORT)

    assert all(len(p) <= WINDOW_CHARS for p in pieces)
    assert "".join(pieces) == LONG_REPORT
    assert len(dense_texts(LONG_REPORT, evidence_of(LONG_REPORT), "windows")) <= MAX_WINDOWS
    assert windows("x" * 2500) == ["x" * 1000, "x" * 1000, "x" * 500]


def test_a_question_of_more_word_pieces_than_the_dense_ranker_reads_is_digested() -> None:
    """Under 1,000 characters, a traceback is still 256 word pieces: one embedder pass of
    that length was most of a long question's Search latency."""
    frames = "".join(
        f'  File "/srv/venv/lib/python3.12/site-packages/shop/m{i}.py", line {i}, in step_{i}\n'
        for i in range(9)
    )
    question = f"Checkout crashes\n\nTraceback (most recent call last):\n{frames}{TRACE}"
    assert len(question) < WINDOW_CHARS and word_pieces(question) > 2 * DENSE_PIECES

    [text] = dense_texts(question, evidence_of(question))

    assert word_pieces(text) <= DENSE_PIECES
    assert text.startswith("Checkout crashes\n")
    assert "ValueError: invalid literal" in text


def test_a_title_longer_than_the_budget_is_cut_to_it() -> None:
    question = " ".join(f"word{i} session value" for i in range(400))

    [text] = dense_texts(question, evidence_of(question))

    assert question.startswith(text)
    assert DENSE_PIECES - 4 <= word_pieces(text) <= DENSE_PIECES


def test_word_pieces_counts_words_digits_and_punctuation() -> None:
    assert word_pieces("") == 0
    assert word_pieces("the cart") == 2  # a short word is one piece
    assert word_pieces("get_queryset(self)") == 7  # get _ query+set ( self )
    assert word_pieces("line 1511, in x") == 8  # a piece per digit (within the estimate)


def test_a_word_longer_than_the_budget_or_only_links_still_give_a_text_to_embed() -> None:
    for question in ("a" * 16_000, "https://example.org/issue/1\n" * 600):
        [text] = dense_texts(question, evidence_of(question))

        assert text and question.startswith(text)
        assert word_pieces(text) <= DENSE_PIECES


def test_links_and_addresses_do_not_take_the_budget() -> None:
    links = "".join(f"See https://github.com/acme/shop/pull/{i}#r{i}\n" for i in range(40))
    question = f"Refunds lose the cents\n{links}* parse_price drops the cents\n<ann@acme.org>\n"

    [text] = dense_texts(question, evidence_of(question))

    assert "* parse_price drops the cents" in text
    assert "https:" not in text and "@" not in text
