"""The evidence ledger: what a turn saw (retrieval hits, real tool results) and which
citations of an answer it backs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from projectqa.server.chat.evidence import Evidence, EvidenceLedger
from projectqa.server.chat.records import ChatCitation
from projectqa.server.models import Chunk, Project
from projectqa.server.retrieval.citations import Citation, citation_of
from projectqa.server.retrieval.ops import CitedHit, CitedResult
from projectqa.server.retrieval.query import SearchMode
from projectqa.server.retrieval.search import Hit, SearchResult
from projectqa.server.sources import DocumentKind
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import GrepQuery, grep
from projectqa.server.tools.openfile import open_file
from projectqa.server.tools.ops import _hits_json, plain

from . import passages

SHA = "3f2a9c1d" * 5

CART = '''\
"""Shopping cart: lines, totals and discounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

FREE_SHIPPING_ABOVE = Decimal("50")
SHIPPING_FEE = Decimal("4.90")
DISCOUNTS = {"WELCOME10": Decimal("0.10"), "VIP": Decimal("0.25")}


@dataclass
class Line:
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class Cart:
    lines: list[Line] = field(default_factory=list)
    discount_code: str = ""

    def add(self, sku: str, quantity: int, unit_price: Decimal) -> None:
        """Add ``quantity`` of ``sku``; adding a sku again raises its quantity."""
        for line in self.lines:
            if line.sku == sku:
                line.quantity += quantity
                return
        self.lines.append(Line(sku, quantity, unit_price))

    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    def total(self) -> Decimal:
        """The subtotal less the discount; shipping is free above 50."""
        subtotal = self.subtotal()
        discount = DISCOUNTS.get(self.discount_code, Decimal(0))
        reduced = subtotal * (1 - discount)
        shipping = Decimal(0) if reduced >= FREE_SHIPPING_ABOVE else SHIPPING_FEE
        return (reduced + shipping).quantize(Decimal("0.01"))
'''

ISSUE = """\
#12 Discount codes are case sensitive
Issue · open · opened by ana on 2024-03-02

Entering welcome10 instead of WELCOME10 gives no discount. Codes should be matched
without regard to case.
"""


def chunks_of(key: str, text: str, kind: DocumentKind = DocumentKind.FILE) -> list[Chunk]:
    """Small chunks, so each method of ``CART`` is one."""
    return passages.chunks_of(key, text, kind, max_lines=10, overlap_lines=2)


def hits_of(chunks: list[Chunk]) -> list[CitedHit]:
    return [
        CitedHit(Hit(c, 1.0 / (rank + 1), rank + 1, 0), citation_of(c, SHA))
        for rank, c in enumerate(chunks)
    ]


def chunk_named(chunks: list[Chunk], symbol: str) -> Chunk:
    return next(c for c in chunks if c.symbol == symbol)


@pytest.fixture
def cart() -> list[Chunk]:
    return chunks_of("shop/cart.py", CART)


@pytest.fixture
def repo(tmp_path: Path) -> Checkout:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "cart.py").write_text(CART)
    return Checkout("con_git", "shop", tmp_path.resolve(), SHA)


def lines_of(cited: list[ChatCitation]) -> list[tuple[str, int, int, bool, int]]:
    return [
        (c.citation.path, c.citation.start_line, c.citation.end_line, c.verified, c.marker)
        for c in cited
    ]


# ------------------------------------------------------------------ recording
def test_hits_get_markers_in_order_and_repeats_are_listed_once(cart: list[Chunk]) -> None:
    ledger = EvidenceLedger()
    first = ledger.add_hits(hits_of(cart[:3]))
    assert [e.marker for e in first] == [1, 2, 3]
    assert first[0].citation == citation_of(cart[0], SHA) and first[0].text == cart[0].text
    assert first[0].origin == "retrieval" and first[0].score == 1.0
    again = ledger.add_hits(hits_of([cart[3], cart[1]]))
    assert [e.marker for e in again] == [4, 2]
    assert [e.marker for e in ledger.items()] == [1, 2, 3, 4]


def test_search_tool_hits_are_evidence_and_meet_retrieval_hits(cart: list[Chunk]) -> None:
    ledger = EvidenceLedger()
    ledger.add_hits(hits_of([cart[0]]))
    project = Project("prj_1", "shop", "Shop", "", datetime.now(UTC), datetime.now(UTC))
    issue = chunks_of("issues/12", ISSUE, DocumentKind.ISSUE)
    found = CitedResult(
        project,
        SearchResult([], SearchMode.KEYWORD, 1),
        hits_of([cart[0], chunk_named(cart, "Cart.total"), *issue]),
    )
    value = plain(_hits_json(found))  # exactly what the keyword_search tool returns
    added = ledger.add_tool_result("keyword_search", {"query": "discount"}, value)
    assert [e.marker for e in added] == [1, 2, 3]  # the first was already retrieved
    total, record = added[1], added[2]
    assert total.citation.label == "shop/cart.py:40-46" and total.symbol == "Cart.total"
    assert total.origin == "keyword_search" and total.citation.version == SHA
    assert total.text == chunk_named(cart, "Cart.total").text
    assert record.citation.label == "issues/12" and record.citation.kind == "issue"
    assert record.citation.url == "https://github.com/o/shop/issues/12"


async def test_grep_matches_are_evidence_with_their_context(repo: Checkout) -> None:
    result = await grep([repo], GrepQuery("DISCOUNTS|quantity \\+=", context_lines=1))
    ledger = EvidenceLedger()
    added = ledger.add_tool_result("grep", {"pattern": "DISCOUNTS"}, plain(result))
    assert [e.citation.label for e in added] == [
        "shop/cart.py:9-11",
        "shop/cart.py:32-34",
        "shop/cart.py:42-44",
    ]
    lines = CART.split("\n")
    assert added[0].text == "\n".join(lines[8:11])
    assert added[0].citation.connector_id == "con_git" and added[0].citation.version == SHA


async def test_grep_matches_whose_context_touches_are_one_piece(repo: Checkout) -> None:
    result = await grep([repo], GrepQuery("subtotal", context_lines=1))
    added = EvidenceLedger().add_tool_result("grep", {}, plain(result))
    # matches on 37, 41, 42 and 44: the last three share context lines
    assert [e.citation.label for e in added] == ["shop/cart.py:36-38", "shop/cart.py:40-45"]
    assert added[1].text == "\n".join(CART.split("\n")[39:45])


def test_an_opened_file_is_evidence_of_the_lines_returned(repo: Checkout) -> None:
    opened = plain(open_file([repo], "shop/cart.py", 24, 30))
    ledger = EvidenceLedger()
    (item,) = ledger.add_tool_result("open_file", {"path": "shop/cart.py"}, opened)
    assert item.citation == Citation(
        "con_git", "shop/cart.py", "file", "shop/cart.py", 24, 30, "", "cart.py", SHA
    )
    assert item.text == "\n".join(CART.split("\n")[23:30]) and item.origin == "open_file"
    past_end = plain(open_file([repo], "shop/cart.py", 46, 0))
    assert past_end["end_line"] == 46
    assert ledger.add_tool_result("open_file", {}, past_end)[0].citation.label.endswith(":46")


def test_found_symbols_are_evidence_without_text() -> None:
    value = {
        "symbols": [
            {
                "connector_id": "con_git",
                "document_id": "doc_1",
                "path": "shop/cart.py",
                "name": "Cart.total",
                "kind": "method",
                "start_line": 40,
                "end_line": 46,
                "language": "python",
                "score": 1.0,
            },
        ]
    }
    (item,) = EvidenceLedger().add_tool_result("find_symbol", {"name": "total"}, value)
    assert item.citation.label == "shop/cart.py:40-46" and item.text == ""
    assert item.symbol == "Cart.total"


def test_other_tools_and_odd_results_add_nothing() -> None:
    ledger = EvidenceLedger()
    assert ledger.add_tool_result("project_metadata", {}, {"languages": []}) == []
    assert ledger.add_tool_result("my_plugin_tool", {}, {"hits": []}) == []
    assert ledger.add_tool_result("search", {}, "not an object") == []
    assert ledger.add_tool_result("grep", {}, {"matches": [{"path": "a.py"}]}) == []
    assert ledger.items() == []


# ------------------------------------------------------------------ the prompt
def test_prompt_block_numbers_and_fences_each_item(cart: list[Chunk]) -> None:
    ledger = EvidenceLedger()
    ledger.add_hits(hits_of([chunk_named(cart, "Cart.total"), chunk_named(cart, "Cart.add")]))
    block = ledger.prompt_block(10_000)
    total = chunk_named(cart, "Cart.total")
    assert block.startswith(f"[1] shop/cart.py:40-46 (Cart.total)\n```python\n{total.text}\n```")
    assert "\n\n[2] shop/cart.py:29-35 (Cart.add)\n```python\n" in block


def test_prompt_block_is_cut_to_its_budget_naming_only_the_lines_shown(
    cart: list[Chunk],
) -> None:
    ledger = EvidenceLedger()
    ledger.add_hits(hits_of([chunk_named(cart, "Cart.total"), chunk_named(cart, "Cart.add")]))
    first, second = ledger.prompt_block(10_000).split("\n\n")
    assert ledger.prompt_block(len(first) + 30) == first  # no room for a useful part
    budget = len(first) + 2 + len(second) - 60
    cut = ledger.prompt_block(budget)
    assert len(cut) <= budget and cut.startswith(first + "\n\n")
    head, body = cut.removeprefix(first + "\n\n").split("\n", 1)
    shown = body.split("\n")[1:-1]
    assert 3 <= len(shown) < 7 and body.endswith("\n```")
    assert head == f"[2] shop/cart.py:29-{29 + len(shown) - 1} (Cart.add)"
    assert shown == CART.split("\n")[28 : 28 + len(shown)]
    assert ledger.prompt_block(60) == ""


# ------------------------------------------------------------------ verification
@pytest.fixture
def seen(cart: list[Chunk]) -> EvidenceLedger:
    """A ledger that saw Cart.add (29-35), Cart.total (40-46) and issue #12."""
    ledger = EvidenceLedger()
    ledger.add_hits(hits_of([chunk_named(cart, "Cart.add"), chunk_named(cart, "Cart.total")]))
    ledger.add_hits(hits_of(chunks_of("issues/12", ISSUE, DocumentKind.ISSUE)))
    return ledger


def test_markers_are_verified_in_order_of_first_appearance(seen: EvidenceLedger) -> None:
    answer = "The total applies the discount [2]. Adding twice merges [1, 2][3]; see [2] again."
    assert lines_of(seen.verify(answer)) == [
        ("shop/cart.py", 40, 46, True, 2),
        ("shop/cart.py", 29, 35, True, 1),
        ("", 1, 5, True, 3),
    ]
    ranged = seen.check("Both [1-2], and [7] which does not exist, and [9][7].")
    assert [c.marker for c in ranged.citations] == [1, 2] and ranged.unknown_markers == [7, 9]


def test_file_references_in_every_form_are_verified_against_what_was_seen(
    seen: EvidenceLedger,
) -> None:
    answer = (
        "See `shop/cart.py:41-44`, shop/cart.py#L30-L31, `shop/cart.py` lines 33 to 34, "
        "cart.py:45 and `./shop/cart.py:29`."
    )
    assert lines_of(seen.verify(answer)) == [
        ("shop/cart.py", 41, 44, True, 0),
        ("shop/cart.py", 30, 31, True, 0),
        ("shop/cart.py", 33, 34, True, 0),
        ("shop/cart.py", 45, 45, True, 0),
        ("shop/cart.py", 29, 29, True, 0),
    ]
    citation = seen.verify("`shop/cart.py:41-44`")[0].citation
    assert citation.connector_id == "con_git" and citation.version == SHA


def test_file_references_are_clipped_to_the_lines_seen(seen: EvidenceLedger) -> None:
    partly = seen.verify("The whole class, src/../shop/cart.py:25-50, and shop/cart.py:36-45.")
    assert lines_of(partly) == [
        ("shop/cart.py", 29, 35, True, 0),
        ("shop/cart.py", 40, 45, True, 0),
    ]


def test_touching_evidence_is_one_seen_range(cart: list[Chunk], repo: Checkout) -> None:
    ledger = EvidenceLedger()
    ledger.add_hits(hits_of([chunk_named(cart, "Cart.total")]))
    ledger.add_tool_result("open_file", {}, plain(open_file([repo], "shop/cart.py", 30, 39)))
    assert lines_of(ledger.verify("shop/cart.py:37-42")) == [("shop/cart.py", 37, 42, True, 0)]
    assert lines_of(ledger.verify("shop/cart.py:20-50")) == [("shop/cart.py", 30, 46, True, 0)]


def test_unseen_file_references_are_flagged_as_written(seen: EvidenceLedger) -> None:
    flagged = seen.verify("See shop/cart.py:1-5, `shop/orders.py:10-12` and Makefile:3.")
    assert lines_of(flagged) == [
        ("shop/cart.py", 1, 5, False, 0),
        ("shop/orders.py", 10, 12, False, 0),
        ("Makefile", 3, 3, False, 0),
    ]
    assert flagged[1].citation == Citation("", "", "file", "shop/orders.py", 10, 12, "", "", "")


def test_record_keys_are_verified_or_ignored(seen: EvidenceLedger, cart: list[Chunk]) -> None:
    cited = seen.verify("This is #12 (also #99), not UTF-8 or SHA-256; see PROJ-7.")
    assert [(c.citation.document_key, c.verified) for c in cited] == [("issues/12", True)]
    ticket = chunks_of("PROJ-7", "PROJ-7 Login fails\n\nThe form hangs.\n", DocumentKind.TICKET)
    seen.add_hits(hits_of(ticket))
    cited = seen.verify("Fixed by PROJ-7, like #12 [3].")
    assert [(c.citation.label, c.marker) for c in cited] == [("PROJ-7", 0), ("issues/12", 0)]


def test_things_that_only_look_like_references_are_not_citations(seen: EvidenceLedger) -> None:
    answer = """\
Use Python 3.11, e.g. via pyenv; at 10:30 the job runs. The docs at
https://github.com/o/shop/blob/main/shop/cart.py#L40-L46 and http://localhost:8000/cart.py:3
say so; `args[1]` and items[2] are indexes, [1](https://example.com) is a link, obj.total:3
is no file, and neither is 1.5:2.

```python
lines[2] = "shop/cart.py:1-3"  # [1]
```
"""
    assert seen.check(answer).citations == [] and seen.check(answer).unknown_markers == []
    assert seen.verify("`[2]` in code, and [2] in prose") == seen.verify("[2]")


# ------------------------------------------------------------------ JSON
def test_the_ledger_survives_a_json_round_trip(seen: EvidenceLedger, repo: Checkout) -> None:
    seen.add_tool_result("open_file", {}, plain(open_file([repo], "shop/cart.py", 1, 10)))
    restored = EvidenceLedger.from_json(json.loads(json.dumps(seen.to_json())))
    assert restored.items() == seen.items()
    answer = "[1] and [4], shop/cart.py:2-3, shop/cart.py:20 and #12."
    assert restored.verify(answer) == seen.verify(answer)
    (added,) = restored.add_tool_result(
        "find_symbol",
        {},
        {
            "symbols": [
                {
                    "connector_id": "c",
                    "path": "shop/cart.py",
                    "name": "Line",
                    "start_line": 13,
                    "end_line": 21,
                    "score": 1.0,
                }
            ]
        },
    )
    assert added.marker == len(seen.items()) + 1
    assert EvidenceLedger.from_json({}).items() == []
    assert Evidence.from_json(added.to_json()) == added
