"""Extractive answers from real passages: keyword-only (fast), and with the real
embedding model (marked ``model``)."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pytest

from projectqa.server.chat.evidence import Evidence, EvidenceLedger
from projectqa.server.chat.extractive import (
    ASK_TOPIC,
    EMBEDDED_WINDOWS,
    Embed,
    ExtractiveAnswer,
    extractive_answer,
    question_terms,
)
from projectqa.server.embedding import shared_embedder
from projectqa.server.models import Chunk
from projectqa.server.retrieval.citations import citation_of
from projectqa.server.retrieval.ops import CitedHit
from projectqa.server.retrieval.search import Hit
from projectqa.server.sources import DocumentKind

from .passages import chunks_of

CHECKOUT = '''\
"""Placing an order: stock, payment with retries, and the receipt."""

from __future__ import annotations

import logging
import time

from .gateway import CardDeclined, GatewayTimeout, charge
from .mail import send_receipt
from .stock import release, reserve

log = logging.getLogger(__name__)

MAX_PAYMENT_ATTEMPTS = 3
RETRY_DELAY_S = 2.0


class OrderError(Exception):
    """The order could not be placed; the message says why."""


def place_order(cart, customer, card):
    """Reserve the stock, charge the card and send the receipt."""
    if not cart.lines:
        raise OrderError("the cart is empty")
    reservation = reserve([(line.sku, line.quantity) for line in cart.lines])
    if reservation.missing:
        release(reservation)
        missing = ", ".join(reservation.missing)
        raise OrderError(f"out of stock: {missing}")
    amount = cart.total()
    for attempt in range(1, MAX_PAYMENT_ATTEMPTS + 1):
        try:
            payment = charge(card, amount, idempotency_key=reservation.id)
            break
        except GatewayTimeout:
            log.warning("payment gateway timed out (attempt %d)", attempt)
            time.sleep(RETRY_DELAY_S * attempt)
        except CardDeclined as exc:
            release(reservation)
            raise OrderError(f"the card was declined: {exc.reason}") from None
    else:
        release(reservation)
        raise OrderError("the payment gateway did not answer; nothing was charged")
    order = customer.orders.create(cart, payment)
    send_receipt(customer.email, order)
    log.info("order %s placed for %s", order.id, customer.id)
    return order
'''

PAYMENTS = """\
# Payments

Orders are paid by card through the payment gateway. The gateway is called once per
attempt with an idempotency key, so a retried charge is never taken twice.

## Retries

When the gateway times out, the charge is retried up to three times, waiting two
seconds longer after each attempt. A declined card is not retried: the customer sees
the reason the bank gave. If every attempt times out, the reserved stock is released
and nothing is charged.

## Refunds

Refunds go back to the card that paid. They take five to ten business days to appear
on the customer's statement.
"""

ISSUE = """\
#31 Receipts are sent twice after a gateway timeout
Issue · open · opened by ana on 2024-04-11

When the first charge times out and the retry succeeds, customers get two receipt
emails. The receipt should only go out once the order exists.
"""


def hits_of(*chunks: Chunk) -> list[CitedHit]:
    return [
        CitedHit(Hit(c, 1.0 / (rank + 1), rank + 1, 0), citation_of(c, "c0ffee"))
        for rank, c in enumerate(chunks)
    ]


def evidence_of(*chunks: Chunk) -> tuple[EvidenceLedger, list[Evidence]]:
    """A turn's ledger that retrieved ``chunks``, best first."""
    ledger = EvidenceLedger()
    return ledger, ledger.add_hits(hits_of(*chunks))


def grep_json(path: str, source: str, line: int, context: int) -> dict[str, Any]:
    """What the grep tool returns for one match with context."""
    lines = source.split("\n")

    def numbered(first: int, last: int) -> list[dict[str, Any]]:
        return [{"number": n, "text": lines[n - 1]} for n in range(first, last + 1)]

    match = {
        "connector_id": "con_git",
        "path": path,
        "commit": "",
        "line": numbered(line, line)[0],
        "before": numbered(line - context, line - 1),
        "after": numbered(line + 1, line + context),
    }
    return {"matches": [match], "truncated": False, "truncated_reason": "", "files_searched": 1}


def symbol(chunks: list[Chunk], name: str) -> Chunk:
    return next(c for c in chunks if c.symbol == name)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if needle in line)


def file_lines(text: str, start: int, end: int) -> str:
    return "\n".join(text.split("\n")[start - 1 : end])


@pytest.fixture(scope="module")
def checkout() -> list[Chunk]:
    return chunks_of("shop/checkout.py", CHECKOUT)


@pytest.fixture(scope="module")
def payments() -> list[Chunk]:
    return chunks_of("docs/payments.md", PAYMENTS)


def assert_cites_exact_code(answer: ExtractiveAnswer, source: str) -> None:
    """Each code excerpt is exactly its lines of the file, shown under its label."""
    for excerpt in answer.excerpts:
        assert excerpt.text == file_lines(source, excerpt.start_line, excerpt.end_line)
        label = excerpt.citation.label
        assert f"**[{excerpt.evidence.marker}] `{label}`**" in answer.text
        assert f"```python\n{excerpt.text}\n```" in answer.text


# ------------------------------------------------------------------ keywords only
def test_the_excerpt_is_the_lines_that_answer(checkout: list[Chunk]) -> None:
    place_order = symbol(checkout, "place_order")
    _, evidence = evidence_of(place_order, symbol(checkout, "OrderError"))
    question = "How many times is the payment retried when the gateway times out?"
    answer = extractive_answer(question, evidence, max_excerpt_lines=8)
    assert answer.clarifying_question == "" and answer.used == evidence[:1]
    (excerpt,) = answer.excerpts  # OrderError shares none of the question's words
    assert excerpt.end_line - excerpt.start_line < 8
    assert place_order.start_line < excerpt.start_line <= excerpt.end_line < place_order.end_line
    for needle in ("for attempt in range(1, MAX_PAYMENT_ATTEMPTS + 1):", "except GatewayTimeout:"):
        assert excerpt.start_line <= line_of(CHECKOUT, needle) <= excerpt.end_line
    assert_cites_exact_code(answer, CHECKOUT)
    assert answer.text.startswith("Based on the indexed sources, the most relevant place is:")
    assert "— `place_order`" in answer.text


def test_every_citation_of_the_answer_is_verified(checkout: list[Chunk]) -> None:
    ledger, evidence = evidence_of(symbol(checkout, "place_order"), checkout[0])
    answer = extractive_answer("where is the receipt email sent to the customer", evidence)
    cited = ledger.check(answer.text)
    assert cited.unknown_markers == [] and all(c.verified for c in cited.citations)
    labels = {c.citation.label for c in cited.citations}
    assert {x.citation.label for x in answer.excerpts} <= labels
    # One source per excerpt, numbered as shown: the lines quoted under "[n] path:a-b".
    listed = answer.citations()
    assert [c.marker for c in listed] == list(range(1, len(answer.excerpts) + 1))
    assert [c.citation for c in listed] == [x.citation for x in answer.excerpts]
    assert all(c.verified for c in listed)


def test_prose_excerpts_are_sentences_on_the_lines_cited(payments: list[Chunk]) -> None:
    intro, retries, refunds = payments
    _, evidence = evidence_of(refunds, intro, retries)
    answer = extractive_answer("How long do refunds take to show up?", evidence)
    excerpt = answer.excerpts[0]
    assert excerpt.evidence.symbol == "Payments > Refunds"
    assert "five to ten business days" in excerpt.text
    shown = " ".join(file_lines(PAYMENTS, excerpt.start_line, excerpt.end_line).split())
    assert excerpt.text in shown and not excerpt.text.startswith("#")
    label = f"docs/payments.md:{excerpt.start_line}-{excerpt.end_line}"
    assert f"**[{excerpt.evidence.marker}] `{label}`** — Payments > Refunds\n> " in answer.text


def test_records_are_quoted_under_their_title(payments: list[Chunk]) -> None:
    issue = chunks_of("issues/31", ISSUE, DocumentKind.ISSUE)
    _, evidence = evidence_of(*issue)
    answer = extractive_answer("why do customers get two receipt emails", evidence)
    (excerpt,) = answer.excerpts
    assert "customers get two receipt" in excerpt.text and "#31" not in excerpt.text
    assert answer.text.startswith(
        "Based on the indexed sources, the most relevant place is:\n\n"
        "**[1] #31 Receipts are sent twice after a gateway timeout** — "
        "<https://github.com/o/shop/issues/31>\n> "
    )


def test_near_duplicates_and_passages_without_text_are_skipped(
    checkout: list[Chunk], payments: list[Chunk]
) -> None:
    ledger, _ = evidence_of(symbol(checkout, "place_order"))  # lines 22-48
    found = {"connector_id": "con_git", "path": "shop/checkout.py", "name": "OrderError",
             "start_line": 18, "end_line": 19, "score": 1.0}  # fmt: skip
    ledger.add_tool_result("find_symbol", {}, {"symbols": [found]})
    ledger.add_tool_result("grep", {}, grep_json("shop/checkout.py", CHECKOUT, 32, 10))
    vendored = symbol(chunks_of("vendor/shop/checkout.py", CHECKOUT), "place_order")
    intro, retries, _ = payments
    ledger.add_hits(hits_of(vendored, retries, intro))
    items = ledger.items()
    assert [e.citation.label for e in items] == [
        "shop/checkout.py:22-48",
        "shop/checkout.py:18-19",  # no text
        "shop/checkout.py:22-42",  # most of place_order again
        "vendor/shop/checkout.py:22-48",  # the same text elsewhere
        "docs/payments.md:6-11",
        "docs/payments.md:1-4",
    ]
    answer = extractive_answer("how is a payment retried after a gateway timeout", items)
    assert [e.citation for e in answer.used] == [items[i].citation for i in (0, 4, 5)]


def test_the_answer_numbers_what_it_quotes_from_one(
    checkout: list[Chunk], payments: list[Chunk]
) -> None:
    # The turn's first passages match the question too poorly to be quoted: the answer's
    # markers still run [1], [2], … in the order it shows them, never from the ledger's [3].
    unrelated = chunks_of("shop/colors.py", 'RED = "#f00"\nGREEN = "#0f0"\nBLUE = "#00f"\n')
    _, items = evidence_of(*unrelated, symbol(checkout, "place_order"), *payments)
    answer = extractive_answer("how is a payment retried after a gateway timeout", items)
    assert answer.used[0].citation == items[len(unrelated)].citation  # the first was skipped
    markers = [int(m) for m in re.findall(r"^\*\*\[(\d+)\]", answer.text, re.M)]
    assert markers == [e.marker for e in answer.used] == list(range(1, len(markers) + 1))
    assert [c.marker for c in answer.citations()] == markers


AUDIT = '''\
def cache_results(results, cache):
    """The results are stored in the cache for an hour."""
    cache.set("results", results, timeout=3600)


def save_findings(report, folder):
    """Each finding of the audit is stored as one JSON file in the folder."""
    for number, finding in enumerate(report.findings, 1):
        (folder / f"finding-{number}.json").write_text(finding.to_json())
'''


def test_at_most_max_passages_are_used(checkout: list[Chunk], payments: list[Chunk]) -> None:
    _, evidence = evidence_of(symbol(checkout, "place_order"), *payments)
    answer = extractive_answer("payment gateway retries", evidence, max_passages=2)
    assert len(answer.used) == 2 and len(answer.excerpts) == 2
    assert answer.text.startswith("Based on the indexed sources, the most relevant places are:")
    for item in answer.used:
        assert f"**[{item.marker}] " in answer.text


@pytest.mark.parametrize("question", ["help", "?", "Hi! Can you help me?", "explain the code"])
def test_a_question_naming_nothing_gets_a_question_back(
    question: str, checkout: list[Chunk]
) -> None:
    _, evidence = evidence_of(*checkout)
    assert question_terms(question) == frozenset()
    assert extractive_answer(question, evidence) == ExtractiveAnswer("", [], ASK_TOPIC)


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        # Content words that share a stem with a chat word ("find", "project", "mean", "work")
        # stay: the chat words are left out as written ("works", "working" are listed).
        ("where are the findings of projects kept?", {"find", "project", "kept"}),
        ("what is the meaning of the workers field?", {"mean", "worker", "field"}),
        ("how does the show_help flag work?", {"showhelp", "show", "help", "flag"}),
        ("can you tell me how this is working?", set()),
        ("what is being retried?", {"retri"}),  # "being" is glue: "be" after stemming
    ],
)
def test_question_terms_keep_content_words_that_share_a_chat_words_stem(
    question: str, terms: set[str]
) -> None:
    assert question_terms(question) == terms


def test_a_content_word_sharing_a_chat_words_stem_still_picks_the_passage() -> None:
    """'findings' was dropped as 'find' (a chat word's stem): the question then named only
    'stored', which both passages hold, and the first (the cache) was quoted."""
    audit = chunks_of("audit/report.py", AUDIT)
    _, evidence = evidence_of(*audit)
    question = "where are the findings stored?"
    answer = extractive_answer(question, evidence, max_passages=1, min_relevance=0.75)
    assert [x.evidence.symbol for x in answer.excerpts] == ["save_findings"]


def test_nothing_found_gets_a_question_back(checkout: list[Chunk]) -> None:
    for evidence in ([], evidence_of(*checkout)[1]):
        answer = extractive_answer("How do I bake a chocolate cake?", evidence)
        assert answer.text == "" and answer.used == []
        assert answer.clarifying_question == (
            "I found nothing in the indexed sources about “How do I bake a chocolate cake”. "
            "Which file, feature or error do you mean?"
        )


def test_the_relevance_threshold_is_a_parameter(checkout: list[Chunk]) -> None:
    _, evidence = evidence_of(symbol(checkout, "place_order"))
    question = "payment card bank statement refund dispute"  # one word in three matches
    assert extractive_answer(question, evidence).used == evidence
    assert extractive_answer(question, evidence, min_relevance=0.5).clarifying_question


# ------------------------------------------------------------------ the real model
@pytest.fixture(scope="module")
def embed() -> Embed:
    """The real embedder's encode, loaded once for the module."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder = shared_embedder()
    embedder.warm_up()
    return embedder.encode


@pytest.mark.model
def test_meaning_finds_lines_that_share_no_words(embed: Embed, checkout: list[Chunk]) -> None:
    _, evidence = evidence_of(symbol(checkout, "place_order"))
    question = "What happens when the basket has no items?"  # the cart is empty
    assert extractive_answer(question, evidence).clarifying_question  # no word matches
    answer = extractive_answer(question, evidence, embed, max_excerpt_lines=6, min_relevance=0.1)
    (excerpt,) = answer.excerpts
    assert excerpt.start_line <= line_of(CHECKOUT, "the cart is empty") <= excerpt.end_line
    assert_cites_exact_code(answer, CHECKOUT)


@pytest.mark.model
def test_meaning_and_words_pick_the_declined_card_lines(
    embed: Embed, checkout: list[Chunk]
) -> None:
    _, evidence = evidence_of(symbol(checkout, "place_order"), checkout[0])
    answer = extractive_answer(
        "what does the customer see if the bank rejects the credit card?",
        evidence,
        embed,
        max_excerpt_lines=6,
    )
    excerpt = answer.excerpts[0]  # what the customer sees: the error's message
    assert excerpt.start_line <= line_of(CHECKOUT, "the card was declined") <= excerpt.end_line
    assert_cites_exact_code(answer, CHECKOUT)


@pytest.mark.model
def test_meaning_picks_the_sentence_that_answers(embed: Embed, payments: list[Chunk]) -> None:
    _, evidence = evidence_of(*payments)
    answer = extractive_answer("Can a customer be charged twice for one order?", evidence, embed)
    excerpt = answer.excerpts[0]
    assert "never taken twice" in excerpt.text
    shown = " ".join(file_lines(PAYMENTS, excerpt.start_line, excerpt.end_line).split())
    assert excerpt.text in shown


@pytest.mark.model
def test_unrelated_questions_get_a_question_back(
    embed: Embed, checkout: list[Chunk], payments: list[Chunk]
) -> None:
    _, evidence = evidence_of(*checkout, *payments)
    for question in ("Who won the football world cup in 2010?", "How do I bake a cake?"):
        answer = extractive_answer(question, evidence, embed)
        assert answer.used == [] and "found nothing" in answer.clarifying_question


@pytest.mark.model
def test_the_embedder_is_called_in_few_batches(embed: Embed, checkout: list[Chunk]) -> None:
    calls: list[int] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return embed(texts)

    _, evidence = evidence_of(*checkout)
    extractive_answer("how is the payment retried", evidence, counting)
    # per passage: a shortlist of windows, then the neighbours of its best
    assert len(calls) <= 2 * len(evidence) and max(calls) <= EMBEDDED_WINDOWS + 1
