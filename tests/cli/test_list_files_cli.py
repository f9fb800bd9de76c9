"""``projectqa ls`` and ``Client.list_files`` against a real server that ingested the
shop folder (``local`` connector, SQLite, the real embedding model)."""

from __future__ import annotations

import pytest

from projectqa.client import Client

from .conftest import Cli, RunningServer, local_server
from .test_search_tools import ingested_shop

pytestmark = pytest.mark.model
SHOP_FILES = ["docs/refunds.md", "shop/cart.py", "shop/payment.py"]


server = local_server("ls-server")


@pytest.fixture(scope="module")
def shop(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ingested_shop(server, tmp_path_factory)


def test_ls_prints_one_indexed_path_per_line(admin_cli: Cli, shop: str) -> None:
    assert admin_cli.ok("ls", shop).stdout.splitlines() == SHOP_FILES
    assert admin_cli.ok("ls", "-p", shop, "docs").stdout.splitlines() == SHOP_FILES[:1]
    both = admin_cli.ok("ls", shop, "docs", "shop/").stdout.splitlines()
    assert both == SHOP_FILES


def test_ls_long_and_json_carry_the_counts(admin_cli: Cli, shop: str) -> None:
    long = admin_cli.ok("ls", shop, "docs", "-l").stdout.splitlines()
    assert long == [long[0]] and long[0].startswith("markdown\t4\t")
    assert long[0].endswith("\tdocs/refunds.md")
    (refunds,) = admin_cli.json("ls", shop, "docs")
    assert refunds["path"] == "docs/refunds.md" and refunds["lines"] == 4
    assert refunds["chunks"] >= 1 and refunds["connector_id"].startswith("con_")


def test_ls_bad_folder_and_unknown_project(admin_cli: Cli, shop: str) -> None:
    escape = admin_cli("ls", shop, "../etc")
    assert escape.exit_code == 2 and "prefix" in escape.stderr
    assert admin_cli("ls", "no-such-project").exit_code == 3


def test_client_list_files_pages_lazily(server: RunningServer, shop: str) -> None:
    with Client(server.address, server.admin_token) as qa:
        listed = [f.path for f in qa.list_files(shop, page_size=1)]
        page = qa.list_files_page(shop, page_size=2)
        rest = qa.list_files_page(shop, page_size=2, page_token=page.next_page_token)
    assert listed == SHOP_FILES
    assert [f.path for f in [*page.files, *rest.files]] == SHOP_FILES
    assert rest.next_page_token == ""
