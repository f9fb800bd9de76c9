"""The ``github`` connector: a repository's issues and pull requests, through the REST API.

Issues and pull requests come from one endpoint (``/repos/{o}/{r}/issues``
serves both; pull requests carry a ``pull_request`` key), oldest update first,
with each item's comments and, for pull requests, branch and merge state. The
cursor is the newest ``updated_at`` seen, so incremental runs ask only for
what changed. Comments and pull request details are fetched with ETags: an
unchanged one costs a 304, which GitHub does not count against the rate limit.

Links for history-aware ranking (docs/HISTORY.md): a pull request records the files it
changed (``pulls/{n}/files``: ``files``, ``files_total``, at most ``MAX_PULL_FILES``)
and the issues its description closes with GitHub's keywords (``closes``); a closed
issue records the merged pull requests of the repository that cross-reference it on its
timeline (``closed_by``). Both are fetched with ETags too.

Issues deleted or transferred away are not reported by the API; a full run
removes them (documents it does not see are deleted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

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

from .githistory import FileChange, files_changed_lines, files_metadata
from .http import ApiClient, ResourceNotFound, ResponseCache, RetryPolicy
from .updates import Page, walk_updates

DEFAULT_API_URL = "https://api.github.com"
KINDS = ("issues", "pull_requests")
PER_PAGE = 100
MAX_PULL_FILES = 1_000  # files recorded per pull request (GitHub lists at most 3,000)
# GitHub's closing keywords, followed by an issue of the same repository.
CLOSING = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b", re.I)
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "repository": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
            "description": "owner/name, e.g. octocat/hello-world",
        },
        "api_url": {
            "type": "string",
            "pattern": "^https?://",
            "default": DEFAULT_API_URL,
            "description": "REST API root; https://HOST/api/v3 for GitHub Enterprise Server",
        },
        "include": {
            "type": "array",
            "items": {"enum": list(KINDS)},
            "uniqueItems": True,
            "minItems": 1,
            "default": list(KINDS),
            "description": "what to ingest: issues, pull_requests or both",
        },
        "token": {
            "type": "string",
            "writeOnly": True,
            "description": "personal access token or app token; needed for private repositories",
        },
        "webhook_secret": {
            "type": "string",
            "writeOnly": True,
            "description": "secret of the repository webhook that triggers incremental runs",
        },
    },
    "required": ["repository"],
    "additionalProperties": False,
}


class GitHubSource:
    """One pass over a repository's issues and pull requests."""

    def __init__(self, context: SourceContext, policy: RetryPolicy | None = None) -> None:
        config = context.config
        self._context = context
        self._policy = policy
        self._repository: str = config["repository"]
        self._api_url: str = config.get("api_url") or DEFAULT_API_URL
        self._include = sorted(config.get("include") or KINDS)
        self._token: str = config.get("token") or ""

    def items(self) -> Iterator[SourceItem]:
        with self._client() as api:
            pages = walk_updates(
                lambda since, link: self._issue_page(api, since, link),
                updated_at=lambda issue: _timestamp(issue["updated_at"]),
                identity=lambda issue: str(issue["number"]),
                since=self._since(),
                lower_bound=lambda newest: newest - timedelta(seconds=1),
            )
            for progress in pages:
                for issue in progress.fresh:
                    if _kind(issue) in self._include:
                        yield self._document(api, issue)
                if progress.newest is not None:
                    yield Checkpoint({"since": _iso(progress.newest), "include": self._include})
                if self._context.cancelled():
                    return

    def _client(self) -> ApiClient:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return ApiClient(
            "GitHub",
            self._api_url,
            headers=headers,
            secrets=[self._token],
            policy=self._policy,
            cancelled=self._context.cancelled,
            cache=ResponseCache(self._context.work_dir / "http-cache"),
            not_found_hint="; a private repository needs a token that can read it",
        )

    def _since(self) -> datetime | None:
        """Where to start: the cursor, unless it was taken with a different ``include``."""
        cursor = self._context.cursor or {}
        if not cursor.get("since") or cursor.get("include", self._include) != self._include:
            return None
        return _timestamp(cursor["since"])

    def _issue_page(self, api: ApiClient, since: datetime | None, link: str | None) -> Page[Any]:
        if link is not None:
            response = api.get(link, resource=self._resource)
        else:
            params: dict[str, Any] = {
                "state": "all",
                "sort": "updated",
                "direction": "asc",
                "per_page": PER_PAGE,
            }
            if since is not None:
                params["since"] = _iso(since - timedelta(seconds=1))  # inclusive either way
            response = api.get(
                f"repos/{self._repository}/issues", params=params, resource=self._resource
            )
        return Page(list(response.data), response.links.get("next"))

    @property
    def _resource(self) -> str:
        return f"repository {self._repository}"

    def _document(self, api: ApiClient, issue: dict[str, Any]) -> SourceDocument | SourceWarning:
        number = issue["number"]
        is_pull = "pull_request" in issue
        key = f"pulls/{number}" if is_pull else f"issues/{number}"
        try:
            comments = self._comments(api, number) if issue.get("comments") else []
            pull = self._pull(api, number) if is_pull else None
            files = self._pull_files(api, number) if is_pull else []
            closed_issue = not is_pull and issue.get("state") == "closed"
            closers = self._closers(api, number) if closed_issue else []
        except ResourceNotFound as exc:  # deleted or transferred since it was listed
            return SourceWarning(key, str(exc))
        metadata = _metadata(self._repository, issue, pull)
        total = (pull or {}).get("changed_files") or len(files)
        if pull is not None:
            metadata.update(_pull_links(issue, files, total))
        if closers:
            metadata["closed_by"] = closers
        return SourceDocument(
            key=key,
            kind=DocumentKind.PULL_REQUEST if is_pull else DocumentKind.ISSUE,
            text=render(issue, comments, pull, files_changed_lines(files, total)),
            title=f"#{number} {issue.get('title') or ''}".rstrip(),
            url=issue.get("html_url") or "",
            version=issue.get("updated_at") or "",
            metadata=metadata,
        )

    def _comments(self, api: ApiClient, number: int) -> list[dict[str, Any]]:
        path = f"repos/{self._repository}/issues/{number}/comments"
        return [comment for page in _pages(api, path, f"comments of #{number}") for comment in page]

    def _pull(self, api: ApiClient, number: int) -> dict[str, Any]:
        path = f"repos/{self._repository}/pulls/{number}"
        return api.get(path, resource=f"pull request #{number}", cacheable=True).data

    def _pull_files(self, api: ApiClient, number: int) -> list[FileChange]:
        """The files a pull request changed (``pulls/{n}/files``), the first
        ``MAX_PULL_FILES``; a renamed file under its new path, with the old one."""
        files: list[FileChange] = []
        path = f"repos/{self._repository}/pulls/{number}/files"
        for page in _pages(api, path, f"files of #{number}"):
            files.extend(_file_change(entry) for entry in page)
            if len(files) >= MAX_PULL_FILES:
                break
        return files[:MAX_PULL_FILES]

    def _closers(self, api: ApiClient, number: int) -> list[str]:
        """``pulls/{n}`` keys of the merged pull requests of this repository that reference
        a closed issue (its timeline's ``cross-referenced`` events). GitHub's REST API does
        not say which one closed it (GraphQL's ``closedByPullRequestsReferences`` does); a
        merged pull request that mentions a closed issue almost always is the closer."""
        path = f"repos/{self._repository}/issues/{number}/timeline"
        pages = _pages(api, path, f"timeline of #{number}")
        closers = [key for page in pages for event in page if (key := self._merged_pull(event))]
        return list(dict.fromkeys(closers))

    def _merged_pull(self, event: dict[str, Any]) -> str:
        """The key of the merged pull request of this repository an event cross-references."""
        if event.get("event") != "cross-referenced":
            return ""
        other = ((event.get("source") or {}).get("issue")) or {}
        same_repository = f"/repos/{self._repository}/issues/" in (other.get("url") or "")
        merged = (other.get("pull_request") or {}).get("merged_at")
        return f"pulls/{other['number']}" if same_repository and merged else ""


def _pages(api: ApiClient, path: str, resource: str) -> Iterator[list[dict[str, Any]]]:
    """Each page of a paginated list, fetched with ETags, following the ``next`` links
    (lazily: a caller that has enough stops asking)."""
    link: str | None = f"{path}?per_page={PER_PAGE}"
    while link:
        response = api.get(link, resource=resource, cacheable=True)
        yield response.data
        link = response.links.get("next")


# ---------------------------------------------------------------- rendering
def render(
    issue: dict[str, Any],
    comments: list[dict[str, Any]],
    pull: dict[str, Any] | None,
    files: list[str] | None = None,
) -> str:
    """An issue or pull request as readable text: header, body, each comment, then (a
    pull request) the files it changed."""
    lines = [f"#{issue['number']} {issue.get('title') or ''}".rstrip(), _summary(issue, pull)]
    labels = _labels(issue)
    if labels:
        lines.append("Labels: " + ", ".join(labels))
    lines += ["", (issue.get("body") or "").strip() or "(no description)"]
    for comment in comments:
        author = _login(comment.get("user"))
        date = (comment.get("created_at") or "")[:10]
        lines += ["", f"Comment by {author} on {date}:", (comment.get("body") or "").strip()]
    if files:
        lines += ["", *files]
    return "\n".join(lines).strip() + "\n"


def _summary(issue: dict[str, Any], pull: dict[str, Any] | None) -> str:
    parts = ["Pull request" if "pull_request" in issue else "Issue", _state(issue, pull)]
    if pull:
        head = (pull.get("head") or {}).get("ref")
        base = (pull.get("base") or {}).get("ref")
        if head and base:
            parts.append(f"{head} into {base}")
    parts.append(f"opened by {_login(issue.get('user'))} on {(issue.get('created_at') or '')[:10]}")
    return " · ".join(parts)


def _state(issue: dict[str, Any], pull: dict[str, Any] | None) -> str:
    merged = (pull or {}).get("merged") or (issue.get("pull_request") or {}).get("merged_at")
    if merged:
        return "merged"
    state = issue.get("state") or "unknown"
    return f"draft, {state}" if (pull or issue).get("draft") else state


def _metadata(
    repository: str, issue: dict[str, Any], pull: dict[str, Any] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "repository": repository,
        "number": issue["number"],
        "state": _state(issue, pull),
        "labels": _labels(issue),
        "author": _login(issue.get("user")),
        "created_at": issue.get("created_at") or "",
        "updated_at": issue.get("updated_at") or "",
        "closed_at": issue.get("closed_at") or "",
        "comments": issue.get("comments") or 0,
    }
    if pull:
        metadata["head"] = (pull.get("head") or {}).get("ref") or ""
        metadata["base"] = (pull.get("base") or {}).get("ref") or ""
        metadata["merged"] = bool(pull.get("merged"))
    return metadata


def _pull_links(issue: dict[str, Any], files: list[FileChange], total: int) -> dict[str, Any]:
    """What a pull request changed (``total`` files, of which ``files`` recorded) and
    which issues its description says it closes."""
    closes = dict.fromkeys(CLOSING.findall(issue.get("body") or ""))
    return {**files_metadata(files, total), "closes": [f"issues/{n}" for n in closes]}


def _file_change(entry: dict[str, Any]) -> FileChange:
    """A ``pulls/{n}/files`` entry (GitHub counts a binary file as +0 -0)."""
    return FileChange(
        str(entry.get("filename") or ""),
        int(entry.get("additions") or 0),
        int(entry.get("deletions") or 0),
        str(entry.get("previous_filename") or ""),
    )


def _labels(issue: dict[str, Any]) -> list[str]:
    # Labels are objects in REST answers, though GitHub documents plain strings too.
    return [
        label if isinstance(label, str) else label.get("name", "")
        for label in issue.get("labels") or []
    ]


def _login(user: dict[str, Any] | None) -> str:
    return (user or {}).get("login") or "ghost"  # GitHub's name for deleted accounts


def _kind(issue: dict[str, Any]) -> str:
    return "pull_requests" if "pull_request" in issue else "issues"


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_source(context: SourceContext) -> GitHubSource:
    """The connector type's reader (see ``ConnectorType.open_source``)."""
    return GitHubSource(context)


CONNECTOR_TYPE = ConnectorType(
    name="github",
    description="Issues and pull requests of a GitHub repository, with their comments",
    config_schema=CONFIG_SCHEMA,
    open_source=open_source,
)


@hookimpl
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Register the ``github`` connector type."""
    register(CONNECTOR_TYPE)
