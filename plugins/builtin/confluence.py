"""The ``confluence`` connector: the pages of one or more Confluence spaces.

Pages are read space by space with a CQL search (``/rest/api/content/search``)
ordered by last modification, bodies in storage format rendered to text. The
cursor keeps the newest modification time per space, so an incremental run asks
each space only for pages edited since, and a space added to the config later is
read in full. CQL, like JQL, compares wall-clock minutes in the user's zone
(see :mod:`.updates`).

Deleted pages are not reported by the search; a full run removes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import (
    Checkpoint,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceItem,
)
from projectqa.server.url_credentials import without_credentials

from .http import ApiClient, CredentialsRejected, ResourceNotFound, RetryPolicy
from .storage_format import storage_to_text
from .updates import Page, Progress, walk_updates, wall_clock_lower_bound, wall_clock_minute

PAGE_SIZE = 50
EXPAND = "body.storage,version,ancestors,space"
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "wiki URL, e.g. https://example.atlassian.net/wiki",
        },
        "spaces": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Za-z0-9~_-]+$"},
            "minItems": 1,
            "uniqueItems": True,
            "description": 'space keys to ingest, e.g. ["ENG", "OPS"]',
        },
        "email": {"type": "string", "description": "account email, for Confluence Cloud"},
        "api_token": {
            "type": "string",
            "writeOnly": True,
            "description": "API token (Cloud, with email) or personal access token (Data Center)",
        },
        "webhook_secret": {
            "type": "string",
            "writeOnly": True,
            "description": "secret of the Confluence webhook that triggers incremental runs",
        },
    },
    "required": ["base_url", "spaces"],
    "additionalProperties": False,
}


def wiki_url(base_url: str) -> str:
    """The wiki's root: Confluence Cloud serves it under ``/wiki`` of the site."""
    url = httpx.URL(base_url.rstrip("/"))
    if url.host.endswith(".atlassian.net") and url.path in ("", "/"):
        return str(url.copy_with(path="/wiki"))
    return str(url).rstrip("/")


class ConfluenceSource:
    """One pass over the pages of the configured spaces."""

    def __init__(self, context: SourceContext, policy: RetryPolicy | None = None) -> None:
        config = context.config
        self._context = context
        self._policy = policy
        self._wiki = wiki_url(config["base_url"])  # may hold a user and password: for the API
        self._wiki_links = without_credentials(self._wiki)
        self._spaces: list[str] = list(config["spaces"])
        self._email: str = config.get("email") or ""
        self._token: str = config.get("api_token") or ""
        self._zone: tzinfo | None = None
        self._zone_known = False

    def items(self) -> Iterator[SourceItem]:
        marks = {s: t for s, t in self._cursor_marks().items() if s in self._spaces}
        with self._client() as api:
            for space in self._spaces:
                api.get(f"rest/api/space/{space}", resource=f"space {space}")
                for progress in self._space_pages(api, space, marks.get(space)):
                    for page in progress.fresh:
                        yield self._document(space, page)
                    if progress.newest is not None:
                        marks[space] = progress.newest.astimezone(UTC).isoformat()
                        yield Checkpoint({"spaces": dict(marks)})
                    if self._context.cancelled():
                        return

    def _cursor_marks(self) -> dict[str, str]:
        spaces = (self._context.cursor or {}).get("spaces")
        return dict(spaces) if isinstance(spaces, dict) else {}

    def _client(self) -> ApiClient:
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if self._email and self._token:
            auth = httpx.BasicAuth(self._email, self._token)
        elif self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return ApiClient(
            "Confluence",
            self._wiki,
            headers=headers,
            auth=auth,
            secrets=[self._token],
            policy=self._policy,
            cancelled=self._context.cancelled,
        )

    # ------------------------------------------------------------ search
    def _space_pages(self, api: ApiClient, space: str, mark: str | None) -> Iterator[Progress[Any]]:
        return walk_updates(
            lambda since, link: self._search(api, space, since, link),
            updated_at=lambda page: _timestamp(page["version"]["when"]),
            identity=lambda page: str(page["id"]),
            since=_timestamp(mark) if mark else None,
            lower_bound=lambda newest: wall_clock_lower_bound(newest, self._zone),
        )

    def _search(
        self, api: ApiClient, space: str, since: datetime | None, link: str | None
    ) -> Page[Any]:
        resource = f"pages of space {space}"
        if link is not None:
            data = api.get(link, resource=resource).data
        else:
            cql = f'space = "{space}" AND type = page'
            if since is not None:
                cql += f' AND lastmodified >= "{wall_clock_minute(since, self._user_zone(api))}"'
            params = {
                "cql": cql + " ORDER BY lastmodified ASC",
                "limit": PAGE_SIZE,
                "expand": EXPAND,
            }
            data = api.get("rest/api/content/search", resource=resource, params=params).data
        next_link = (data.get("_links") or {}).get("next")
        return Page(list(data.get("results") or []), next_link or None)

    def _user_zone(self, api: ApiClient) -> tzinfo | None:
        """The zone CQL dates are read in: the user's, if the server says (looked up once)."""
        if not self._zone_known:
            self._zone_known = True
            try:
                name = api.get("rest/api/user/current", resource="the current user").data
                self._zone = ZoneInfo(name["timeZone"])
            except (CredentialsRejected, ResourceNotFound, LookupError, TypeError, ValueError):
                self._zone = None  # not reported: bound safely for any zone
        return self._zone

    # ------------------------------------------------------------ documents
    def _document(self, space: str, page: dict[str, Any]) -> SourceDocument:
        version = page.get("version") or {}
        ancestors = " > ".join(a.get("title", "") for a in page.get("ancestors") or [])
        body = ((page.get("body") or {}).get("storage") or {}).get("value") or ""
        webui = (page.get("_links") or {}).get("webui") or ""
        metadata = {
            "space": space,
            "ancestors": ancestors,
            "version": version.get("number"),
            "last_modified": version.get("when") or "",
            "author": ((version.get("by") or {}).get("displayName")) or "",
        }
        return SourceDocument(
            key=f"pages/{page['id']}",
            kind=DocumentKind.PAGE,
            text=render(page.get("title") or "", metadata, storage_to_text(body)),
            title=page.get("title") or "",
            url=self._wiki_links + webui if webui else "",
            version=str(version.get("number") or ""),
            metadata=metadata,
        )


def render(title: str, metadata: dict[str, Any], body: str) -> str:
    """A page as readable text: title, where it sits and which version, then the body."""
    place = [f"Space {metadata['space']}"]
    if metadata["ancestors"]:
        place.append(metadata["ancestors"])
    if metadata["version"]:
        place.append(f"version {metadata['version']}")
    if metadata["author"]:
        place.append(f"last edited by {metadata['author']} on {metadata['last_modified'][:10]}")
    return "\n".join([title, " · ".join(place), "", body or "(empty page)"]).strip() + "\n"


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)  # Confluence writes 2024-01-02T10:00:00.000Z


def open_source(context: SourceContext) -> ConfluenceSource:
    """The connector type's reader (see ``ConnectorType.open_source``)."""
    return ConfluenceSource(context)


CONNECTOR_TYPE = ConnectorType(
    name="confluence",
    description="Pages of Confluence spaces, with their place in the page tree",
    config_schema=CONFIG_SCHEMA,
    open_source=open_source,
)


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Register the ``confluence`` connector type."""
    register(CONNECTOR_TYPE)
