"""An extractive answer's sources match its text exactly: markers [1], [2], … in the order
shown, one source per quoted excerpt, its label the one under the marker.

Real passages (the real chunker) of code, prose and an issue, in many orders and with
repeats and passages that match nothing, as a turn's ledger numbers them.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest

from projectqa.server.chat.extractive import ExtractiveAnswer, extractive_answer
from projectqa.server.models import Chunk
from projectqa.server.sources import DocumentKind

from .passages import chunks_of
from .test_extractive import CHECKOUT, ISSUE, PAYMENTS, evidence_of

QUESTIONS = (
    "how is a payment retried after a gateway timeout",
    "why do customers get two receipt emails",
    "How long do refunds take to show up?",
    "what happens when the card is declined",
)
# The heading of each quoted excerpt: "**[n] `path:a-b`**" for files, "**[n] title**" else.
HEADING = re.compile(r"^\*\*\[(\d+)\] (?:`([^`]+)`|([^*]+?))\*\*", re.M)


def passages() -> list[Chunk]:
    unrelated = chunks_of("shop/colors.py", 'RED = "#f00"\nGREEN = "#0f0"\nBLUE = "#00f"\n')
    return [
        *chunks_of("shop/checkout.py", CHECKOUT),
        *chunks_of("vendor/shop/checkout.py", CHECKOUT),  # the same text elsewhere
        *chunks_of("docs/payments.md", PAYMENTS),
        *chunks_of("issues/31", ISSUE, DocumentKind.ISSUE),
        *unrelated,
    ]


def assert_sources_match_the_text(answer: ExtractiveAnswer) -> None:
    headings = [(int(m[1]), m[2] or m[3]) for m in HEADING.finditer(answer.text)]
    listed = answer.citations()
    assert [n for n, _ in headings] == list(range(1, len(headings) + 1)), answer.text
    assert [c.marker for c in listed] == [n for n, _ in headings]
    for cited, (_, shown) in zip(listed, headings, strict=True):
        label = cited.citation.label if cited.citation.path else cited.citation.title
        assert label == shown.strip(), (label, shown)
        assert cited.verified
    assert len({c.citation for c in listed}) == len(listed)  # no source listed twice


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_order_of_the_passages_gives_sources_numbered_as_shown(question: str) -> None:
    chunks = passages()
    orders = [chunks, chunks[::-1]]
    shuffler = random.Random(18)
    orders += [shuffler.sample(chunks, len(chunks)) for _ in range(20)]
    for order in orders:
        _, evidence = evidence_of(*order)
        answer = extractive_answer(question, evidence, max_passages=3)
        if not answer.clarifying_question:
            assert_sources_match_the_text(answer)


def test_passages_seen_twice_are_quoted_and_listed_once() -> None:
    chunks = passages()
    doubled = list(itertools.chain.from_iterable(zip(chunks, chunks, strict=True)))
    _, evidence = evidence_of(*doubled)
    answer = extractive_answer(QUESTIONS[0], evidence, max_passages=4)
    assert answer.excerpts
    assert_sources_match_the_text(answer)
