"""A tiny but real project, ingested once per test module, for RetrievalService and ToolsService.

``indexed_project(tmp_path_factory)`` starts a real server (SQLite, the real
embedding model, the built-in ``local`` connector and the ``probe`` plugin
below), writes two folders — ``shop`` (Python package, README, tests, a binary
file, a symlink leading out) and ``notes`` (markdown) — adds one ``local``
connector for each to project ``shop``, ingests both and yields an
``IndexedProject`` with stubs acting as the global admin, a plain member and an
outsider. Test modules wrap it in a module-scoped fixture of their own, so each
module pays for one server and one ingestion.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from projectqa.server.app import ProjectQAServer, create_server
from projectqa.server.config import Settings
from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ToolSpec
from projectqa.server.tools.base import ToolContext
from projectqa.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    chat_pb2_grpc,
    common_pb2,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retrieval_pb2_grpc,
    tools_pb2_grpc,
)

from .helpers import bearer_interceptors

PROJECT = "shop"
EMPTY_PROJECT = "empty"  # exists, has a connector, never ingested
HIDDEN_PROJECT = "hidden"  # ingested; neither the member nor the outsider belongs to it
CODE_CONNECTOR = "code"
NOTES_CONNECTOR = "notes"
PLUGIN_TIMEOUT_S = 0.5
SECRET_TEXT = "the secret outside the checkout\n"

# Over the chunker's 2000-character budget, so each method is a chunk of its own.
CART_PY = '''\
"""The shopping cart of the shop."""

from .pricing import apply_discount


class Cart:
    """A customer's shopping cart: products and how many of each."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.items: dict[str, int] = {}

    def add_item(self, sku: str, quantity: int = 1) -> None:
        """Put ``quantity`` units of the product ``sku`` into the cart."""
        if quantity < 1:
            raise ValueError("quantity must be positive")
        self.items[sku] = self.items.get(sku, 0) + quantity

    def remove_item(self, sku: str) -> None:
        """Take the product ``sku`` out of the cart entirely."""
        self.items.pop(sku, None)

    def quantity_of(self, sku: str) -> int:
        """How many units of the product ``sku`` the cart holds (0 if none)."""
        return self.items.get(sku, 0)

    def is_empty(self) -> bool:
        """Whether the cart holds no products at all."""
        return not self.items

    def clear(self) -> None:
        """Empty the cart, for instance after the order was placed."""
        self.items.clear()

    def merge(self, other: "Cart") -> None:
        """Move every product of another cart (a guest's) into this one."""
        for sku, quantity in other.items.items():
            self.add_item(sku, quantity)
        other.clear()

    def total_price(self, prices: dict[str, int], discount_percent: int = 0) -> int:
        """Compute the total price of everything in the cart, in cents, after the discount."""
        subtotal = sum(prices[sku] * count for sku, count in self.items.items())
        return apply_discount(subtotal, discount_percent)

    def snapshot(self) -> dict[str, object]:
        """The cart as plain data, to store it in the session between requests."""
        return {"owner": self.owner, "items": dict(sorted(self.items.items()))}

    @classmethod
    def restore(cls, data: dict[str, object]) -> "Cart":
        """Rebuild a cart from what ``snapshot`` returned."""
        cart = cls(str(data["owner"]))
        cart.items.update(data["items"])  # type: ignore[arg-type]
        return cart

    def describe(self) -> str:
        """A one-line summary of the cart for logs: owner, products and units."""
        units = sum(self.items.values())
        return f"cart of {self.owner}: {len(self.items)} products, {units} units"
'''

PRICING_PY = '''\
"""Money arithmetic: discounts and parsing prices."""


def apply_discount(amount: int, percent: int) -> int:
    """Reduce an amount of money by a percentage, rounding down to whole cents."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return amount * (100 - percent) // 100


def parse_price(text: str) -> int:
    """Parse a price written like "$12.50" into a number of cents."""
    dollars, _, cents = text.strip().lstrip("$").partition(".")
    return int(dollars) * 100 + int((cents + "00")[:2])
'''

MAILER_PY = '''\
"""Sending mail to customers."""

import smtplib


def send_receipt_email(address: str, order_number: str, smtp_host: str = "localhost") -> None:
    """Email the receipt of an order to the customer through an SMTP server."""
    with smtplib.SMTP(smtp_host) as smtp:
        smtp.sendmail("shop@example.com", [address], f"Subject: Receipt {order_number}")
'''

TEST_CART_PY = """\
from shop.cart import Cart


def test_add_item_counts_units():
    cart = Cart("ann")
    cart.add_item("apple", 2)
    cart.add_item("apple")
    assert cart.items == {"apple": 3}


def test_total_price_applies_the_discount():
    cart = Cart("ann")
    cart.add_item("pear", 4)
    assert cart.total_price({"pear": 250}, discount_percent=10) == 900
"""

README_MD = """\
# Shop

A small web shop library: carts, prices and receipts.

## Installation

Install it with pip from a checkout of the repository:

    pip install -e .

## Discounts

Discounts are whole percentages applied to the cart subtotal and rounded down to cents.

## Receipts

After checkout the shop emails a receipt to the customer.
"""

NOTES_MD = """\
# Release checklist

## Before the release

Run the whole test suite and update the changelog with every user-visible change.

## Publishing

Tag the commit, build the wheel and upload it to the package index.
"""

IGNORED_FILE = ".env"
IGNORED_SECRET = "sk-live-not-for-tools"

SHOP_FILES: dict[str, str] = {
    "shop/__init__.py": '"""The shop package."""\n',
    "shop/cart.py": CART_PY,
    "shop/pricing.py": PRICING_PY,
    "shop/mailer.py": MAILER_PY,
    "tests/test_cart.py": TEST_CART_PY,
    "README.md": README_MD,
}
BINARY_FILE = "assets/logo.bin"
ESCAPING_LINK = "escape.txt"  # symlink to a file next to (outside) the checkout


# ------------------------------------------------------------------ the probe plugin
class ProbePlugin:
    """Plugin tools for the tests: one well-behaved, the others misbehaving on purpose.

    ``stall`` waits on ``release`` (set when the module's server stops), so the
    thread it holds after its timeout is returned before the process exits.
    """

    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def projectqa_register_tools(self, register: Callable[[ToolSpec], None]) -> None:
        text = {"type": "object", "properties": {"text": {"type": "string"}}}
        register(ToolSpec("probe_echo", "Echo the arguments and the project", text, self.echo))
        register(ToolSpec("probe_raise", "Always raises", text, self.explode))
        register(ToolSpec("probe_stall", "Hangs until released", text, self.stall))
        register(ToolSpec("probe_set", "Returns a set", text, lambda a, c: {"values": {1, 2}}))
        register(ToolSpec("probe_nan", "Returns NaN", text, lambda a, c: {"value": math.nan}))
        register(ToolSpec("probe_deploy", "Pretends to deploy", text, self.echo, side_effects=True))

    @staticmethod
    def echo(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        return {
            "arguments": arguments,
            "project": context.project_slug,
            "checkouts": sorted(c.connector_name for c in context.checkouts),
        }

    @staticmethod
    def explode(arguments: dict[str, Any], context: ToolContext) -> Any:
        raise RuntimeError("the probe exploded on purpose")

    def stall(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        self.release.wait(60)
        return {"released": True}


# ------------------------------------------------------------------ the project on disk
def write_folders(base: Path) -> tuple[Path, Path]:
    """The ``shop`` and ``notes`` folders (and a secret file beside them); returns both."""
    shop, notes = base / "shop", base / "notes"
    for relative, text in SHOP_FILES.items():
        target = shop / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (shop / BINARY_FILE).parent.mkdir(parents=True)
    (shop / BINARY_FILE).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (base / "secret.txt").write_text(SECRET_TEXT, encoding="utf-8")
    # Left out by the connector's rules: on disk, but never indexed, so never readable.
    (shop / ".gitignore").write_text(".env\n", encoding="utf-8")
    (shop / IGNORED_FILE).write_text(f"API_KEY={IGNORED_SECRET}\n", encoding="utf-8")
    os.symlink(base / "secret.txt", shop / ESCAPING_LINK)
    notes.mkdir()
    (notes / "release.md").write_text(NOTES_MD, encoding="utf-8")
    return shop, notes


def definition_lines(source: str, qualified: str) -> tuple[int, int]:
    """First (decorators included) and last line of ``Class.method`` or ``function`` (ast)."""
    nodes: list[ast.AST] = ast.parse(source).body
    node: ast.AST | None = None
    for part in qualified.split("."):
        node = next(n for n in nodes if getattr(n, "name", None) == part)
        nodes = getattr(node, "body", [])
    assert node is not None
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(d.lineno for d in decorators)])  # type: ignore[attr-defined]
    return first, node.end_lineno  # type: ignore[attr-defined]


def file_lines(root: Path, path: str, start: int, end: int) -> str:
    """Lines ``start``-``end`` (1-based, inclusive) of a file, joined with newlines."""
    lines = (root / path).read_text(encoding="utf-8").split("\n")
    return "\n".join(lines[start - 1 : end])


# ------------------------------------------------------------------ server and callers
@dataclass
class Caller:
    """Stubs of every service, authenticated as one user."""

    admin: admin_pb2_grpc.AdminServiceStub
    ingestion: ingestion_pb2_grpc.IngestionServiceStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub
    tools: tools_pb2_grpc.ToolsServiceStub
    chat: chat_pb2_grpc.ChatServiceStub


@dataclass
class IndexedProject:
    server: ProjectQAServer
    port: int
    shop: Path  # the code connector's folder
    notes: Path  # the notes connector's folder
    project_id: str
    code_connector_id: str
    notes_connector_id: str
    hidden_project_id: str
    hidden_connector_id: str  # a connector of the hidden project
    admin: Caller  # the bootstrap global admin
    member: Caller  # "mia", a plain member of the project
    outsider: Caller  # "olga", a member of no project
    probe: ProbePlugin


def _caller(channel: grpc.aio.Channel) -> Caller:
    return Caller(
        admin_pb2_grpc.AdminServiceStub(channel),
        ingestion_pb2_grpc.IngestionServiceStub(channel),
        retrieval_pb2_grpc.RetrievalServiceStub(channel),
        tools_pb2_grpc.ToolsServiceStub(channel),
        chat_pb2_grpc.ChatServiceStub(channel),
    )


async def _start(
    data_dir: Path, probe: ProbePlugin, overrides: dict[str, Any]
) -> tuple[ProjectQAServer, int]:
    settings = Settings(
        data_dir=data_dir,
        listen_address="127.0.0.1:0",
        plugins=["local"],
        tool_timeout_s=PLUGIN_TIMEOUT_S,
        **overrides,
    )
    return await create_server(settings, extra_plugins=[("probe", probe)])


async def _connector(admin: Caller, project: str, name: str, folder: Path) -> str:
    config = struct_pb2.Struct()
    config.update({"path": str(folder)})
    request = admin_pb2.CreateConnectorRequest(
        project=project, type="local", name=name, config=config
    )
    return (await admin.admin.CreateConnector(request)).connector.id


async def ingest(caller: Caller, project: str) -> list[ingestion_pb2.IngestionRun]:
    """Ingest every connector of ``project`` and wait for the runs to end."""
    request = ingestion_pb2.StartIngestionRequest(
        project=project, mode=ingestion_pb2.INGESTION_MODE_FULL
    )
    runs = (await caller.ingestion.StartIngestion(request)).runs
    finished = []
    for run in runs:
        watch = ingestion_pb2.WatchIngestionRequest(run_id=run.id, interval_seconds=0.05)
        events = [event async for event in caller.ingestion.WatchIngestion(watch, timeout=180)]
        finished.append(events[-1].run)
    return finished


async def _user(admin: Caller, connect: Callable[[str], Caller], name: str) -> Caller:
    await admin.admin.CreateUser(admin_pb2.CreateUserRequest(name=name))
    issued = await admin.admin.CreateToken(
        admin_pb2.CreateTokenRequest(user=name, description=f"tests as {name}")
    )
    return connect(issued.secret)


@contextlib.asynccontextmanager
async def indexed_project(
    tmp_path_factory: pytest.TempPathFactory, **settings: Any
) -> AsyncIterator[IndexedProject]:
    """Server + ingested project ``shop`` (see the module doc); everything stops on exit.

    ``settings`` override the server's settings (e.g. chat limits)."""
    base = tmp_path_factory.mktemp("retrieval")
    shop, notes = write_folders(base / "sources")
    probe = ProbePlugin()
    channels: list[grpc.aio.Channel] = []

    def connect(secret: str) -> Caller:
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=bearer_interceptors(secret)
        )
        channels.append(channel)
        return _caller(channel)

    with pytest.MonkeyPatch.context() as env:
        for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
            env.delenv(name, raising=False)
        env.setenv("HF_HUB_OFFLINE", "1")  # the model loads lazily, during ingestion
        server, port = await _start(base / "data", probe, settings)
        try:
            token = server.settings.admin_token_path.read_text(encoding="utf-8").strip()
            yield await _prepare(server, port, shop, notes, probe, connect(token), connect)
        finally:
            probe.release.set()  # frees the thread a stalled plugin tool still holds
            for channel in channels:
                await channel.close()
            await server.stop(0)


async def _prepare(
    server: ProjectQAServer,
    port: int,
    shop: Path,
    notes: Path,
    probe: ProbePlugin,
    admin: Caller,
    connect: Callable[[str], Caller],
) -> IndexedProject:
    project_id = await _project(admin, PROJECT)
    hidden_id = await _project(admin, HIDDEN_PROJECT)
    await _project(admin, EMPTY_PROJECT)
    code_id = await _connector(admin, PROJECT, CODE_CONNECTOR, shop)
    notes_id = await _connector(admin, PROJECT, NOTES_CONNECTOR, notes)
    await _connector(admin, EMPTY_PROJECT, CODE_CONNECTOR, shop)
    hidden_connector_id = await _connector(admin, HIDDEN_PROJECT, CODE_CONNECTOR, shop)
    runs = await ingest(admin, PROJECT) + await ingest(admin, HIDDEN_PROJECT)
    for run in runs:
        assert run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED, run
    member = await _user(admin, connect, "mia")
    await admin.admin.AddMember(
        admin_pb2.AddMemberRequest(project=PROJECT, user="mia", role=common_pb2.PROJECT_ROLE_MEMBER)
    )
    outsider = await _user(admin, connect, "olga")
    return IndexedProject(
        server, port, shop, notes, project_id, code_id, notes_id, hidden_id,
        hidden_connector_id, admin, member, outsider, probe,
    )  # fmt: skip


async def _project(admin: Caller, slug: str) -> str:
    request = admin_pb2.CreateProjectRequest(slug=slug, name=slug.title())
    return (await admin.admin.CreateProject(request)).project.id
