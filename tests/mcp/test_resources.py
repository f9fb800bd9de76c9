"""resources/list pages through ToolsService.ListFiles: the MCP cursor carries the project
and its page token. Driven in process with the real AsyncClient against the deployment's
real server (tests/mcp/conftest.py), with pages small enough to cross projects."""

from __future__ import annotations

import base64
import json

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, Resource

from projectqa.client import AsyncClient
from projectqa.client import AsyncServerCalls as ServerCalls
from projectqa.mcp import resources

from .conftest import SHOP_FILES, Deployment

pytestmark = pytest.mark.model
SHOP_URIS = [f"projectqa://shop/{path}" for path in SHOP_FILES]
VAULT_URIS = ["projectqa://vault/vault.md"]


async def every_page(
    calls: ServerCalls, projects: list[str], page_size: int
) -> list[list[Resource]]:
    pages, cursor = [], None
    while True:
        page, cursor = await resources.listed(calls, projects, cursor, page_size)
        pages.append(page)
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor never ends"


@pytest.mark.parametrize("page_size", [1, 2, 5, 6, 200])
async def test_pages_cross_projects_without_skipping_or_repeating(
    deployment: Deployment, page_size: int
) -> None:
    async with AsyncClient(deployment.address, deployment.admin_token) as client:
        pages = await every_page(client, ["shop", "vault"], page_size)

    assert [r.uri for page in pages for r in page] == SHOP_URIS + VAULT_URIS
    assert all(len(page) <= page_size for page in pages)
    assert all(len(page) == page_size for page in pages[:-1])


async def test_a_token_without_access_lists_nothing_of_the_other_project(
    deployment: Deployment,
) -> None:
    async with AsyncClient(deployment.address, deployment.member_token) as client:
        pages = await every_page(client, ["vault", "shop"], 2)
        # A cursor naming the other project, made up by the caller: still nothing of it.
        forged = base64.urlsafe_b64encode(json.dumps({"p": "vault", "t": ""}).encode()).decode()
        after_forged, _ = await resources.listed(client, ["vault", "shop"], forged, 2)

    assert [r.uri for page in pages for r in page] == SHOP_URIS
    assert [r.uri for r in after_forged] == SHOP_URIS[:2]


@pytest.mark.parametrize(
    "cursor",
    [
        "%%% not base64",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"p": "elsewhere", "t": ""}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"p": "shop", "t": "edited"}).encode()).decode(),
    ],
    ids=["garbage", "not-an-object", "unlisted-project", "edited-page-token"],
)
async def test_a_bad_cursor_is_invalid_params_naming_it(
    deployment: Deployment, cursor: str
) -> None:
    async with AsyncClient(deployment.address, deployment.admin_token) as client:
        with pytest.raises(MCPError) as refused:
            await resources.listed(client, ["shop", "vault"], cursor, 2)

    assert refused.value.error.code == INVALID_PARAMS
    assert refused.value.error.message.startswith("cursor: ")


async def test_no_projects_list_nothing(deployment: Deployment) -> None:
    async with AsyncClient(deployment.address, deployment.admin_token) as client:
        assert await resources.listed(client, [], None) == ([], None)
