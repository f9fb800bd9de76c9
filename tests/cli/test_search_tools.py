"""``projectqa search``, ``symbols``, ``grep``, ``open``, ``metadata``, ``tools`` and
``custom-tools``, against a real server that ingested a small folder with the
real embedding model (``local`` connector, SQLite).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from projectqa.client import Client
from projectqa.client.cli.files import grep_output, parse_location
from projectqa.client.cli.tools import arguments_from_pairs
from projectqa.client.toolcalls import tool_result
from projectqa.v1 import tools_pb2

from .conftest import Cli, RunningServer, ingest_folder, local_server

CART = '''"""The shopping cart."""


class Cart:
    """Items a customer is about to buy."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def add(self, sku: str, quantity: int = 1) -> None:
        """Adds ``quantity`` of ``sku`` to the cart."""
        self.items[sku] = self.items.get(sku, 0) + quantity

    def total(self, prices: dict[str, float]) -> float:
        """The total price of the cart: each item's price times its quantity."""
        return sum(prices[sku] * count for sku, count in self.items.items())
'''
PAYMENT = '''"""Charging customers' cards."""

import time


def charge_card(card_number: str, amount_cents: int, retries: int = 3) -> str:
    """Charges the card, retrying on gateway timeouts; returns the receipt id."""
    for attempt in range(retries):
        try:
            return gateway_charge(card_number, amount_cents)
        except TimeoutError:
            time.sleep(2**attempt)
    raise RuntimeError("the payment gateway did not answer")


def gateway_charge(card_number: str, amount_cents: int) -> str:
    raise TimeoutError
'''
REFUNDS = """# Refunds

Customers can ask for a refund within 30 days of delivery.
Refunds go back to the card that paid, minus shipping costs.
"""


def write_shop(root: Path) -> Path:
    """A tiny project folder: two Python modules and a markdown page."""
    (root / "shop").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "shop" / "cart.py").write_text(CART)
    (root / "shop" / "payment.py").write_text(PAYMENT)
    (root / "docs" / "refunds.md").write_text(REFUNDS)
    return root


server = local_server("search-server")


@pytest.fixture(scope="module")
def shop(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ingested_shop(server, tmp_path_factory)


def ingested_shop(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Slug of an ingested project whose ``local`` connector ``files`` reads the shop."""
    folder = write_shop(tmp_path_factory.mktemp("shop"))
    return ingest_folder(Cli(server.address, server.admin_token), "shop", folder)


model = pytest.mark.model


# ---------------------------------------------------------------- search


@model
def test_search_cites_the_file_that_answers(admin_cli: Cli, shop: str) -> None:
    question = "how is the total price of the cart computed?"
    out = admin_cli.ok("search", shop, question).stdout.splitlines()
    assert out[0].startswith(" 1  shop/cart.py:")
    assert "score " in out[0]
    [best] = admin_cli.json("search", shop, question, "-k", "1")["hits"]
    first_line = best["snippet"].split("\n")[0]
    assert out[1].split() == [str(best["citation"]["start_line"]), *first_line.split()]


@model
def test_search_json_is_the_response(admin_cli: Cli, shop: str) -> None:
    response = admin_cli.json("search", shop, "retry when the payment gateway times out", "-k", "2")
    assert response["mode"] == "SEARCH_MODE_HYBRID"
    assert len(response["hits"]) <= 2
    citation = response["hits"][0]["citation"]
    assert citation["path"] == "shop/payment.py"
    assert citation["label"] == f"shop/payment.py:{citation['start_line']}-{citation['end_line']}"


@model
@pytest.mark.parametrize("mode", ["dense", "keyword"])
def test_search_modes(admin_cli: Cli, shop: str, mode: str) -> None:
    response = admin_cli.json("search", shop, "refund within 30 days", "--mode", mode)
    assert response["mode"] == f"SEARCH_MODE_{mode.upper()}"
    assert response["hits"][0]["citation"]["path"] == "docs/refunds.md"


@model
def test_search_filters(admin_cli: Cli, shop: str) -> None:
    question = "how does the customer pay?"
    by_path = admin_cli.json("search", shop, question, "--path", "*.md")
    assert {h["citation"]["path"] for h in by_path["hits"]} == {"docs/refunds.md"}
    by_language = admin_cli.json("search", shop, question, "--language", "python")
    assert {h["citation"]["path"] for h in by_language["hits"]} <= {
        "shop/cart.py",
        "shop/payment.py",
    }
    no_issues = admin_cli.ok("search", shop, question, "--kind", "issue")
    assert "No hits." in no_issues.stdout
    files = admin_cli.json("search", shop, question, "--kind", "file", "--connector", "files")
    assert files["hits"]


@model
def test_search_bad_input_is_a_clean_usage_error(admin_cli: Cli, shop: str) -> None:
    empty = admin_cli("search", shop, "   ")
    assert empty.exit_code == 2
    assert "INVALID_ARGUMENT" in empty.stderr and "query" in empty.stderr
    for top_k in ("500", "0", "-1"):  # checked before any call: the help says 1-100
        out_of_range = admin_cli("search", shop, "cart", "-k", top_k)
        assert out_of_range.exit_code == 2
        assert "'-k' / '--top-k'" in out_of_range.stderr and "1<=x<=100" in out_of_range.stderr
    unknown_kind = admin_cli("search", shop, "cart", "--kind", "wiki")
    assert unknown_kind.exit_code == 2
    assert "kinds" in unknown_kind.stderr
    assert admin_cli("search", "no-such-project", "cart").exit_code == 3


@model
def test_client_search(server: RunningServer, shop: str) -> None:
    with Client(server.address, server.admin_token) as qa:
        response = qa.search(shop, "add an item to the cart", mode="dense", top_k=3)
    assert response.hits[0].citation.path == "shop/cart.py"
    assert response.index_generation > 0


# ----------------------------------------------------------------- tools


@model
def test_grep_prints_ripgrep_lines(admin_cli: Cli, shop: str) -> None:
    out = admin_cli.ok("grep", shop, r"def \w+\(self").stdout.splitlines()
    assert "shop/cart.py:10:    def add(self, sku: str, quantity: int = 1) -> None:" in out
    assert any(line.startswith("shop/cart.py:14:    def total") for line in out)
    context = admin_cli.ok("grep", shop, "TimeoutError", "-F", "-C", "1", "-g", "*.py").stdout
    assert "shop/payment.py-10-        except TimeoutError:" not in context
    assert "shop/payment.py:11:        except TimeoutError:" in context
    assert "shop/payment.py-10-            return gateway_charge(card_number, amount_cents)" in (
        context
    )
    assert "--" in context.splitlines()


@model
def test_grep_truncation_and_bad_pattern(admin_cli: Cli, shop: str) -> None:
    capped = admin_cli.ok("grep", shop, "cart", "-i", "-m", "1")
    assert len(capped.stdout.splitlines()) == 1
    assert "stopped early: max_matches" in capped.stderr
    bad = admin_cli("grep", shop, "(unclosed")
    assert bad.exit_code == 2
    assert "INVALID_ARGUMENT" in bad.stderr


@model
def test_open_prints_numbered_lines(admin_cli: Cli, shop: str) -> None:
    out = admin_cli.ok("open", shop, "shop/cart.py:14-16").stdout.splitlines()
    assert out[0].startswith("shop/cart.py:14-16 (")
    assert "connector con_" in out[0]
    assert out[1] == "14      def total(self, prices: dict[str, float]) -> float:"
    assert len(out) == 4
    whole = admin_cli.json("open", shop, "docs/refunds.md")
    assert whole["total_lines"] == 4 and whole["content"] == REFUNDS.rstrip("\n")
    escape = admin_cli("open", shop, "../etc/passwd")
    assert escape.exit_code == 2


@model
def test_tools_list_and_invoke(admin_cli: Cli, shop: str) -> None:
    catalog = {tool["name"]: tool for tool in admin_cli.json("tools", "list", shop)}
    assert {"grep", "open_file", "find_symbol"} <= set(catalog)
    table = admin_cli.ok("tools", "list", shop).stdout
    assert "grep" in table and "builtin" in table
    result = admin_cli.json(
        "tools", "invoke", shop, "grep", "--arg", "pattern=charge_card", "--arg", "max_matches=5"
    )
    assert result["is_error"] is False
    assert "shop/payment.py" in json.dumps(result["result"])
    via_json = admin_cli.ok(
        "tools", "invoke", shop, "open_file", "--json-args", '{"path": "shop/cart.py"}'
    )
    assert "class Cart" in via_json.stdout
    missing = admin_cli("tools", "invoke", shop, "no_such_tool")
    assert missing.exit_code == 3


@model
def test_symbols(admin_cli: Cli, shop: str) -> None:
    found = admin_cli.json("symbols", shop, "Cart.total", "--exact")
    assert found[0]["name"] == "Cart.total" and found[0]["path"] == "shop/cart.py"
    assert found[0]["start_line"] == 14
    table = admin_cli.ok("symbols", shop, "charge_crd", "--kind", "function").stdout  # fuzzy
    assert "charge_card" in table and "shop/payment.py:6-13" in table
    assert "No symbols." in admin_cli.ok("symbols", shop, "Basket", "--exact").stdout


@model
def test_metadata(admin_cli: Cli, shop: str) -> None:
    meta = admin_cli.json("metadata", shop)
    assert meta["slug"] == shop
    assert {entry["language"] for entry in meta["languages"]} >= {"python", "markdown"}
    assert admin_cli.ok("metadata", shop).stdout.count("python") >= 1


@model
def test_custom_tools_lifecycle(admin_cli: Cli, shop: str) -> None:
    schema = '{"type": "object", "properties": {"word": {"type": "string"}}}'
    options = ("--description", "Echo a word", "--schema", schema, "--timeout", "5")
    command = ("--", "echo", "{word}")
    created = admin_cli.json("custom-tools", "create", shop, "say", *options, *command)
    assert created["command"] == ["echo", "{word}"] and created["enabled"] is True
    listed = admin_cli.json("custom-tools", "list", shop)
    assert [tool["name"] for tool in listed] == ["say"]
    said = admin_cli.ok("tools", "invoke", shop, "say", "--arg", "word=hello")
    assert "hello" in said.stdout
    updated = admin_cli.json("custom-tools", "update", shop, "say", "--disable")
    assert updated["enabled"] is False
    assert "say" not in {t["name"] for t in admin_cli.json("tools", "list", shop)}
    assert admin_cli("custom-tools", "update", shop, "say").exit_code == 2  # nothing to change
    admin_cli.ok("custom-tools", "delete", shop, "say")
    assert admin_cli.json("custom-tools", "list", shop) == []


# --------------------------------------------------- helpers, no server


@pytest.mark.parametrize(
    ("location", "parsed"),
    [
        ("src/app.py", ("src/app.py", 0, 0)),
        ("src/app.py:12", ("src/app.py", 12, 0)),
        ("src/app.py:12-40", ("src/app.py", 12, 40)),
        ("C:/odd:name.py", ("C:/odd:name.py", 0, 0)),
    ],
)
def test_parse_location(location: str, parsed: tuple[str, int, int]) -> None:
    assert parse_location(location) == parsed


def test_parse_location_refuses_a_reversed_range() -> None:
    with pytest.raises(click.BadParameter):
        parse_location("a.py:9-3")


def test_grep_output_separates_groups_and_names_connectors() -> None:
    def line(number: int, text: str) -> tools_pb2.FileLine:
        return tools_pb2.FileLine(number=number, text=text)

    one = tools_pb2.GrepMatch(
        connector_id="con_a", path="a.py", line=line(2, "hit"), before=[line(1, "pre")]
    )
    two = tools_pb2.GrepMatch(connector_id="con_b", path="b.py", line=line(7, "hit"))
    lines = grep_output(tools_pb2.GrepResponse(matches=[one, two]))
    assert lines == ["con_a:a.py-1-pre", "con_a:a.py:2:hit", "--", "con_b:b.py:7:hit"]
    plain = grep_output(tools_pb2.GrepResponse(matches=[two, two]))
    assert plain == ["b.py:7:hit", "b.py:7:hit"]


def test_arguments_are_typed_by_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "max_matches": {"type": "integer"},
            "ignore_case": {"type": "boolean"},
            "path_globs": {"type": "array", "items": {"type": "string"}},
        },
    }
    pairs = [
        ("pattern", "123"),
        ("max_matches", "5"),
        ("ignore_case", "true"),
        ("path_globs", "*.py"),
        ("path_globs", "!tests/**"),
        ("free", '{"a": 1}'),
        ("word", "plain text"),
    ]
    assert arguments_from_pairs(pairs, schema) == {
        "pattern": "123",
        "max_matches": 5,
        "ignore_case": True,
        "path_globs": ["*.py", "!tests/**"],
        "free": {"a": 1},
        "word": "plain text",
    }
    assert arguments_from_pairs([("path_globs", '["a", "b"]')], schema) == {
        "path_globs": ["a", "b"]
    }
    with pytest.raises(click.BadParameter, match="max_matches"):
        arguments_from_pairs([("max_matches", "five")], schema)


def test_tool_result_gives_whole_numbers_back() -> None:
    response = tools_pb2.InvokeToolResponse()
    response.result.struct_value.update({"line": 12, "score": 0.5, "hits": [{"n": 3}], "s": "x"})
    assert tool_result(response) == {"line": 12, "score": 0.5, "hits": [{"n": 3}], "s": "x"}
    assert isinstance(tool_result(response)["line"], int)
    assert tool_result(tools_pb2.InvokeToolResponse()) is None
