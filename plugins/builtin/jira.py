"""The ``jira`` connector: tickets of a Jira project (or any JQL), with comments and links.

Jira Cloud is read with ``POST /rest/api/3/search/jql`` (token pagination,
descriptions in Atlassian Document Format); Jira Data Center/Server with
``GET /rest/api/2/search`` (``startAt`` pagination, plain-text descriptions).
Both sort by ``updated`` ascending; the cursor is the newest ``updated`` seen.

JQL compares dates as wall-clock minutes in the *user's* time zone, so the
incremental bound is rendered in the zone ``/myself`` reports; when it does
not say, the bound is moved back far enough to be safe in any zone.
"""

from __future__ import annotations

import re
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
    SourceWarning,
)
from projectqa.server.url_credentials import without_credentials

from .adf import adf_to_text
from .http import ApiClient, CredentialsRejected, HttpSourceError, ResourceNotFound, RetryPolicy
from .updates import Page, walk_updates, wall_clock_lower_bound, wall_clock_minute

FIELDS = [
    "summary",
    "description",
    "comment",
    "status",
    "issuelinks",
    "updated",
    "created",
    "issuetype",
    "priority",
    "assignee",
    "reporter",
    "labels",
]
PAGE_SIZE = 100
EDITIONS = ("cloud", "data_center")
ORDER_BY = re.compile(r"\border\s+by\b.*$", re.IGNORECASE | re.DOTALL)
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "site URL, e.g. https://example.atlassian.net",
        },
        "project": {
            "type": "string",
            "pattern": "^[A-Za-z][A-Za-z0-9_]*$",
            "description": "project key, e.g. PROJ",
        },
        "jql": {
            "type": "string",
            "description": "extra JQL filter, ANDed with the project (ORDER BY is ignored)",
        },
        "edition": {
            "enum": list(EDITIONS),
            "default": "cloud",
            "description": "cloud (REST v3) or data_center (Jira Server/Data Center, REST v2)",
        },
        "email": {"type": "string", "description": "account email, for Jira Cloud basic auth"},
        "api_token": {
            "type": "string",
            "writeOnly": True,
            "description": "API token (Cloud, with email) or personal access token (Data Center)",
        },
        "webhook_secret": {
            "type": "string",
            "writeOnly": True,
            "description": "secret of the Jira webhook that triggers incremental runs",
        },
    },
    "required": ["base_url"],
    "anyOf": [{"required": ["project"]}, {"required": ["jql"]}],
    "additionalProperties": False,
}


class JiraSource:
    """One pass over the tickets a project or JQL selects."""

    def __init__(self, context: SourceContext, policy: RetryPolicy | None = None) -> None:
        config = context.config
        self._context = context
        self._policy = policy
        self._site: str = config["base_url"]  # may hold a user and password: only for the API
        self._base_url = without_credentials(self._site).rstrip("/")
        self._cloud = (config.get("edition") or "cloud") == "cloud"
        self._api = "rest/api/3" if self._cloud else "rest/api/2"
        self._email: str = config.get("email") or ""
        self._token: str = config.get("api_token") or ""
        self._filter = _filter(config.get("project"), config.get("jql"))
        self._zone: tzinfo | None = None  # the user's, once looked up
        self._zone_known = False

    def items(self) -> Iterator[SourceItem]:
        with self._client() as api:
            pages = walk_updates(
                lambda since, token: self._search(api, since, token),
                updated_at=lambda issue: _timestamp(issue["fields"]["updated"]),
                identity=lambda issue: issue["key"],
                since=self._since(),
                lower_bound=lambda newest: wall_clock_lower_bound(newest, self._zone),
            )
            for progress in pages:
                for issue in progress.fresh:
                    yield self._document(api, issue)
                if progress.newest is not None:
                    cursor = {"updated": _iso(progress.newest), "query": self._filter}
                    yield Checkpoint(cursor)
                if self._context.cancelled():
                    return

    def _client(self) -> ApiClient:
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if self._email and self._token:
            auth = httpx.BasicAuth(self._email, self._token)
        elif self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return ApiClient(
            "Jira",
            self._site,
            headers=headers,
            auth=auth,
            secrets=[self._token],
            policy=self._policy,
            cancelled=self._context.cancelled,
        )

    def _since(self) -> datetime | None:
        """The cursor's time, unless it was taken for a different project or JQL."""
        cursor = self._context.cursor or {}
        if not cursor.get("updated") or cursor.get("query", self._filter) != self._filter:
            return None
        return _timestamp(cursor["updated"])

    # ------------------------------------------------------------ search
    def _search(self, api: ApiClient, since: datetime | None, token: Any) -> Page[Any]:
        jql = self._jql(api, since)
        resource = f"issues matching {jql!r}"
        if self._cloud:
            body: dict[str, Any] = {"jql": jql, "fields": FIELDS, "maxResults": PAGE_SIZE}
            if token:
                body["nextPageToken"] = token
            data = api.post(f"{self._api}/search/jql", resource=resource, body=body).data
            last = data.get("isLast", not data.get("nextPageToken"))
            return Page(data.get("issues") or [], None if last else data.get("nextPageToken"))
        start = token or 0
        params = {"jql": jql, "startAt": start, "maxResults": PAGE_SIZE, "fields": ",".join(FIELDS)}
        data = api.get(f"{self._api}/search", resource=resource, params=params).data
        issues = data.get("issues") or []
        end = start + len(issues)
        return Page(issues, end if issues and end < int(data.get("total") or 0) else None)

    def _jql(self, api: ApiClient, since: datetime | None) -> str:
        clauses = [self._filter] if self._filter else []
        if since is not None:
            clauses.append(f'updated >= "{wall_clock_minute(since, self._user_zone(api))}"')
        return " AND ".join(clauses) + " ORDER BY updated ASC"

    def _user_zone(self, api: ApiClient) -> tzinfo | None:
        """The zone JQL dates are read in: the user's, as ``/myself`` says (looked up once)."""
        if not self._zone_known:
            self._zone_known = True
            try:
                name = api.get(f"{self._api}/myself", resource="the current user").data["timeZone"]
                self._zone = ZoneInfo(name)
            except (CredentialsRejected, ResourceNotFound, LookupError, TypeError, ValueError):
                self._zone = None  # anonymous access or an old server: bound safely for any zone
        return self._zone

    # ------------------------------------------------------------ documents
    def _document(self, api: ApiClient, issue: dict[str, Any]) -> SourceDocument | SourceWarning:
        key = issue["key"]
        fields = issue.get("fields") or {}
        try:
            comments = self._comments(api, key, fields.get("comment") or {})
        except HttpSourceError as exc:  # the issue went away or was hidden after the search
            return SourceWarning(key, str(exc))
        return SourceDocument(
            key=key,
            kind=DocumentKind.TICKET,
            text=render(key, fields, comments),
            title=f"{key} {fields.get('summary') or ''}".rstrip(),
            url=f"{self._base_url}/browse/{key}",
            version=fields.get("updated") or "",
            metadata=_metadata(key, fields),
        )

    def _comments(self, api: ApiClient, key: str, embedded: dict[str, Any]) -> list[dict[str, Any]]:
        """All comments: the search embeds only the first ones; fetch the rest page by page."""
        comments = list(embedded.get("comments") or [])
        total = int(embedded.get("total") or len(comments))
        while len(comments) < total:
            params = {"startAt": len(comments), "maxResults": PAGE_SIZE}
            page = api.get(
                f"{self._api}/issue/{key}/comment", resource=f"comments of {key}", params=params
            ).data
            batch = page.get("comments") or []
            if not batch:
                break
            comments.extend(batch)
            total = int(page.get("total") or total)
        return comments


def _filter(project: str | None, jql: str | None) -> str:
    """The JQL that selects the tickets, without ordering."""
    clauses = []
    if project:
        clauses.append(f'project = "{project}"')
    extra = ORDER_BY.sub("", jql or "").strip()
    if extra:
        clauses.append(f"({extra})")
    return " AND ".join(clauses)


# ---------------------------------------------------------------- rendering
def render(key: str, fields: dict[str, Any], comments: list[dict[str, Any]]) -> str:
    """A ticket as readable text: summary, status line, links, description, comments."""
    facts = [
        ("Status", _name(fields.get("status"))),
        ("Type", _name(fields.get("issuetype"))),
        ("Priority", _name(fields.get("priority"))),
        ("Assignee", _person(fields.get("assignee"))),
        ("Reporter", _person(fields.get("reporter"))),
    ]
    lines = [f"{key} {fields.get('summary') or ''}".rstrip()]
    lines.append(" · ".join(f"{label}: {value}" for label, value in facts if value))
    if fields.get("labels"):
        lines.append("Labels: " + ", ".join(fields["labels"]))
    links = _links(fields)
    if links:
        lines.append("Links: " + "; ".join(links))
    lines += ["", adf_to_text(fields.get("description")) or "(no description)"]
    for comment in comments:
        author = _person(comment.get("author")) or "someone"
        date = (comment.get("created") or "")[:10]
        lines += ["", f"Comment by {author} on {date}:", adf_to_text(comment.get("body"))]
    return "\n".join(lines).strip() + "\n"


def _links(fields: dict[str, Any]) -> list[str]:
    """Issue links as Jira words them: "blocks PROJ-9", "is blocked by PROJ-3"."""
    out = []
    for link in fields.get("issuelinks") or []:
        kind = link.get("type") or {}
        for side, verb in (("outwardIssue", "outward"), ("inwardIssue", "inward")):
            other = link.get(side)
            if other:
                out.append(f"{kind.get(verb) or kind.get('name') or 'relates to'} {other['key']}")
    return out


def _metadata(key: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "status": _name(fields.get("status")),
        "type": _name(fields.get("issuetype")),
        "priority": _name(fields.get("priority")),
        "assignee": _person(fields.get("assignee")),
        "reporter": _person(fields.get("reporter")),
        "labels": list(fields.get("labels") or []),
        "links": _links(fields),
        "created": fields.get("created") or "",
        "updated": fields.get("updated") or "",
    }


def _name(value: dict[str, Any] | None) -> str:
    return (value or {}).get("name") or ""


def _person(value: dict[str, Any] | None) -> str:
    return (value or {}).get("displayName") or ""


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)  # Jira writes 2024-01-02T10:00:00.000+0000


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def open_source(context: SourceContext) -> JiraSource:
    """The connector type's reader (see ``ConnectorType.open_source``)."""
    return JiraSource(context)


CONNECTOR_TYPE = ConnectorType(
    name="jira",
    description="Jira tickets of a project or JQL filter, with comments and issue links",
    config_schema=CONFIG_SCHEMA,
    open_source=open_source,
)


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Register the ``jira`` connector type."""
    register(CONNECTOR_TYPE)
