"""Local stand-ins for GitHub, Jira, Confluence, an RSS feed and a git host: real HTTP
on 127.0.0.1.

Each fake is a stdlib ``ThreadingHTTPServer`` in a thread serving JSON shaped
like the vendor's documented responses (GitHub issue objects and ``Link``
headers, Jira ``/search`` pages, Confluence ``content/search`` results with
``_links.next``), paginated over small pages so a handful of records spans
several. Every request is recorded (``service.requests``), and a test scripts
faults with ``service.fail_next(Reply(429, headers={"Retry-After": "2"}))``:
the next requests whose path contains ``path`` get those replies, in order,
before normal service resumes. ``FakeGitHost`` is no fake of the protocol: it
puts the real ``git http-backend`` behind basic auth.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo


@dataclass
class Reply:
    """What a fake answers: a JSON-able body (or str/bytes, sent as is), status and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int  # what the fake answered

    def json(self) -> Any:
        return json.loads(self.body)


class FakeService:
    """A vendor API on 127.0.0.1:<free port>; subclasses implement ``route``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._faults: list[tuple[str, Reply]] = []
        self._lock = threading.Lock()
        service = self

        class Handler(_Handler):
            fake = service

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail_next(self, *replies: Reply, path: str = "") -> None:
        """Answer the next requests whose path contains ``path`` with ``replies``, in order."""
        with self._lock:
            self._faults.extend((path, reply) for reply in replies)

    def seen(self, path_part: str = "", status: int | None = None) -> list[Seen]:
        return [
            r
            for r in self.requests
            if path_part in r.path and (status is None or r.status == status)
        ]

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        request = Seen(method, parts.path, query, headers, body, 0)
        reply = self._scripted(parts.path) or self.route(request)
        with self._lock:
            self.requests.append(Seen(method, parts.path, query, headers, body, reply.status))
        return reply

    def _scripted(self, path: str) -> Reply | None:
        with self._lock:
            for index, (part, reply) in enumerate(self._faults):
                if part in path:
                    del self._faults[index]
                    return reply
        return None

    def route(self, request: Seen) -> Reply:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    fake: FakeService

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.fake.answer(self.command, self.path, headers, body)
        payload = _encode(reply.body)
        self.send_response(reply.status)
        if not isinstance(reply.body, (str, bytes)) and reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _page(items: list[Any], page: int, size: int) -> tuple[list[Any], bool]:
    """Items of 1-based ``page``, and whether more follow."""
    start = (page - 1) * size
    return items[start : start + size], start + size < len(items)


# ---------------------------------------------------------------- GitHub
GITHUB_401 = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
GITHUB_404 = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest/issues/issues#list-repository-issues",
}


class FakeGitHub(FakeService):
    """``/repos/{owner}/{repo}/issues``, ``…/issues/{n}/comments``, ``…/issues/{n}/timeline``,
    ``…/pulls/{n}`` and ``…/pulls/{n}/files``.

    An issue's timeline is derived as GitHub keeps it: a ``cross-referenced`` event for
    every pull request whose body mentions ``#n``, and ``closed`` if the issue is closed.
    """

    def __init__(self, repository: str = "octo/hello", token: str = "", page_size: int = 2):
        super().__init__()
        self.repository = repository
        self.token = token
        self.page_size = page_size  # GitHub honours per_page up to 100; small pages here
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.files: dict[int, list[dict[str, Any]]] = {}  # pulls/{n}/files

    def add_issue(
        self,
        number: int,
        title: str,
        updated_at: str,
        *,
        body: str = "",
        state: str = "open",
        labels: tuple[str, ...] = (),
        user: str = "octocat",
        comments: tuple[tuple[str, str, str], ...] = (),  # (login, body, created_at)
        pull: dict[str, Any] | None = None,  # head, base, merged for a pull request
        files: tuple[tuple[str, int, int, str], ...] = (),  # a pull's (path, +, -, old path)
    ) -> dict[str, Any]:
        html = f"https://github.com/{self.repository}/{'pull' if pull else 'issues'}/{number}"
        issue: dict[str, Any] = {
            "id": 1000 + number,
            "node_id": f"I_{number}",
            "url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "html_url": html,
            "number": number,
            "state": state,
            "title": title,
            "body": body,
            "user": {"login": user, "id": 1, "type": "User"},
            "labels": [{"id": i, "name": name, "color": "f29513"} for i, name in enumerate(labels)],
            "comments": len(comments),
            "created_at": "2024-01-01T09:00:00Z",
            "updated_at": updated_at,
            "closed_at": "2024-01-05T09:00:00Z" if state == "closed" else None,
            "author_association": "OWNER",
        }
        self.comments[number] = [
            {
                "id": 5000 + number * 10 + i,
                "html_url": f"{html}#issuecomment-{5000 + i}",
                "body": text,
                "user": {"login": login, "id": 2, "type": "User"},
                "created_at": created,
                "updated_at": created,
            }
            for i, (login, text, created) in enumerate(comments)
        ]
        if pull is not None:
            merged = bool(pull.get("merged"))
            issue["pull_request"] = {
                "url": f"{self.url}/repos/{self.repository}/pulls/{number}",
                "html_url": html,
                "merged_at": "2024-01-04T09:00:00Z" if merged else None,
            }
            self.pulls[number] = {
                "number": number,
                "state": state,
                "title": title,
                "html_url": html,
                "draft": bool(pull.get("draft")),
                "merged": merged,
                "head": {"ref": pull.get("head", "feature"), "sha": "abc123"},
                "base": {"ref": pull.get("base", "main"), "sha": "def456"},
            }
            self.files[number] = [_pull_file(self.repository, *entry) for entry in files]
            self.pulls[number].update(
                changed_files=len(files),
                additions=sum(entry[1] for entry in files),
                deletions=sum(entry[2] for entry in files),
            )
        self.issues[number] = issue
        return issue

    def route(self, request: Seen) -> Reply:
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, GITHUB_401)
        prefix = f"/repos/{self.repository}/"
        if not request.path.startswith(prefix):
            return Reply(404, GITHUB_404)
        rest = request.path[len(prefix) :].split("/")
        if rest == ["issues"]:
            return self._conditional(request, *self._issue_page(request))
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments":
            comments = self.comments.get(int(rest[1]))
            if comments is None:
                return Reply(404, GITHUB_404)
            return self._conditional(request, *self._paged(request, comments))
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "timeline":
            if int(rest[1]) not in self.issues:
                return Reply(404, GITHUB_404)
            return self._conditional(request, *self._paged(request, self._timeline(int(rest[1]))))
        if len(rest) == 2 and rest[0] == "pulls" and int(rest[1]) in self.pulls:
            return self._conditional(request, self.pulls[int(rest[1])], {})
        if len(rest) == 3 and rest[0] == "pulls" and rest[2] == "files":
            if int(rest[1]) not in self.files:
                return Reply(404, GITHUB_404)
            return self._conditional(request, *self._paged(request, self.files[int(rest[1])]))
        return Reply(404, GITHUB_404)

    def _timeline(self, number: int) -> list[dict[str, Any]]:
        """Events of issue ``number`` as GitHub's timeline API lists them (those used here)."""
        actor = {"login": "octocat", "id": 1, "type": "User"}
        events: list[dict[str, Any]] = [
            {
                "event": "cross-referenced",
                "actor": actor,
                "created_at": other["created_at"],
                "updated_at": other["created_at"],
                "source": {"type": "issue", "issue": other},
            }
            for other in self.issues.values()
            if "pull_request" in other and re.search(rf"#{number}\b", other.get("body") or "")
        ]
        if self.issues[number]["state"] == "closed":
            closed = self.issues[number]["closed_at"]
            events.append(
                {
                    "id": 9000 + number,
                    "event": "closed",
                    "actor": actor,
                    "commit_id": None,
                    "created_at": closed,
                    "state_reason": "completed",
                }
            )
        return events

    def _issue_page(self, request: Seen) -> tuple[list[Any], dict[str, str]]:
        since = request.query.get("since", "")
        matching = sorted(
            (i for i in self.issues.values() if i["updated_at"] >= since),
            key=lambda i: (i["updated_at"], i["number"]),
            reverse=request.query.get("direction") == "desc",
        )
        return self._paged(request, matching)

    def _paged(self, request: Seen, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        number = int(request.query.get("page", "1"))
        size = min(int(request.query.get("per_page", "30")), self.page_size)
        items, more = _page(items, number, size)
        links = []
        if more:
            query = urlencode({**request.query, "page": number + 1})
            links.append(f'<{self.url}{request.path}?{query}>; rel="next"')
        if number > 1:
            query = urlencode({**request.query, "page": 1})
            links.append(f'<{self.url}{request.path}?{query}>; rel="first"')
        return items, {"Link": ", ".join(links)} if links else {}

    def _conditional(self, request: Seen, body: Any, headers: dict[str, str]) -> Reply:
        """GitHub's ETags: a matching If-None-Match gets an empty 304."""
        etag = '"' + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'
        headers = {
            **headers,
            "ETag": etag,
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": "1700000000",
        }
        if request.headers.get("if-none-match") == etag:
            return Reply(304, None, headers)
        return Reply(200, body, headers)


def _pull_file(
    repository: str, path: str, additions: int, deletions: int, previous: str = ""
) -> dict[str, Any]:
    """One entry of ``GET /repos/{o}/{r}/pulls/{n}/files``, shaped as GitHub documents it."""
    entry: dict[str, Any] = {
        "sha": hashlib.sha1(path.encode()).hexdigest(),
        "filename": path,
        "status": "renamed" if previous else ("added" if not deletions else "modified"),
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
        "blob_url": f"https://github.com/{repository}/blob/abc123/{path}",
        "raw_url": f"https://github.com/{repository}/raw/abc123/{path}",
        "contents_url": f"https://api.github.com/repos/{repository}/contents/{path}?ref=abc123",
        "patch": "@@ -1 +1 @@\n-old\n+new",
    }
    if previous:
        entry["previous_filename"] = previous
    return entry


# ---------------------------------------------------------------- Jira
JIRA_DATE = "%Y-%m-%dT%H:%M:%S.000%z"


def adf(*paragraphs: str) -> dict[str, Any]:
    """An Atlassian Document Format document of plain paragraphs."""
    content = [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs]
    return {"type": "doc", "version": 1, "content": content}


class FakeJira(FakeService):
    """Jira Cloud (``POST /rest/api/3/search/jql``) and Data Center (``GET /rest/api/2/search``)."""

    def __init__(
        self,
        *,
        email: str = "",
        token: str = "",
        time_zone: str = "Europe/Berlin",
        page_size: int = 2,
        embedded_comments: int = 2,
    ) -> None:
        super().__init__()
        self.email, self.token = email, token
        self.time_zone = time_zone
        self.page_size = page_size
        self.embedded_comments = embedded_comments  # search results carry only the first ones
        self.issues: dict[str, dict[str, Any]] = {}
        self.jql: list[str] = []

    def add_issue(
        self,
        key: str,
        summary: str,
        updated: datetime,
        *,
        description: Any = "",
        status: str = "To Do",
        kind: str = "Bug",
        labels: tuple[str, ...] = (),
        links: tuple[tuple[str, str, str], ...] = (),  # (outward|inward, verb, other key)
        comments: tuple[tuple[str, Any, str], ...] = (),  # (author, body, created)
    ) -> None:
        self.issues[key] = {
            "id": str(10000 + len(self.issues)),
            "key": key,
            "summary": summary,
            "updated": updated,
            "description": description,
            "status": status,
            "kind": kind,
            "labels": list(labels),
            "links": list(links),
            "comments": list(comments),
        }

    def route(self, request: Seen) -> Reply:
        if not self._authorized(request.headers.get("authorization", "")):
            return Reply(401, {"errorMessages": ["You are not authenticated."], "errors": {}})
        match = re.fullmatch(r"/rest/api/([23])/(.+)", request.path)
        if not match:
            return Reply(404, {"errorMessages": ["Not found"], "errors": {}})
        version, rest = int(match.group(1)), match.group(2)
        if rest == "myself":
            return Reply(
                200, {"accountId": "5b10a", "displayName": "Ann", "timeZone": self.time_zone}
            )
        if rest == "search/jql" and request.method == "POST" and version == 3:
            return self._search_cloud(request.json())
        if rest == "search" and version == 2:
            return self._search_server(request.query)
        comment = re.fullmatch(r"issue/([A-Z]+-\d+)/comment", rest)
        if comment and comment.group(1) in self.issues:
            return self._comment_page(version, self.issues[comment.group(1)], request.query)
        message = "Issue does not exist or you do not have permission to see it."
        return Reply(404, {"errorMessages": [message], "errors": {}})

    def _authorized(self, header: str) -> bool:
        if self.email:
            secret = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            return header == f"Basic {secret}"
        return header == f"Bearer {self.token}" if self.token else True

    def _matching(self, jql: str) -> list[dict[str, Any]] | Reply:
        """The issues a JQL selects: ``project = "X"``, ``updated >= "yyyy-MM-dd HH:mm"``."""
        self.jql.append(jql)
        if not jql.rstrip().endswith("ORDER BY updated ASC"):
            return Reply(400, {"errorMessages": ["The JQL query is invalid."], "errors": {}})
        project = re.search(r'project = "(\w+)"', jql)
        if project and not any(k.startswith(project.group(1) + "-") for k in self.issues):
            message = f"The value '{project.group(1)}' does not exist for the field 'project'."
            return Reply(400, {"errorMessages": [message], "errors": {}})
        since = re.search(r'updated >= "(\d{4}-\d\d-\d\d \d\d:\d\d)"', jql)
        floor = None
        if since:
            local = datetime.strptime(since.group(1), "%Y-%m-%d %H:%M")
            floor = local.replace(tzinfo=ZoneInfo(self.time_zone))
        return sorted(
            (
                i
                for i in self.issues.values()
                if (not project or i["key"].startswith(project.group(1) + "-"))
                and (floor is None or i["updated"] >= floor)
            ),
            key=lambda i: (i["updated"], i["id"]),
        )

    def _search_cloud(self, body: dict[str, Any]) -> Reply:
        matching = self._matching(body["jql"])
        if isinstance(matching, Reply):
            return matching
        start = int(base64.b64decode(body["nextPageToken"])) if body.get("nextPageToken") else 0
        size = min(int(body.get("maxResults", 50)), self.page_size)
        page = matching[start : start + size]
        reply: dict[str, Any] = {"issues": [self._issue(i, 3) for i in page]}
        if start + size < len(matching):
            reply["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
        reply["isLast"] = "nextPageToken" not in reply
        return Reply(200, reply)

    def _search_server(self, query: dict[str, str]) -> Reply:
        matching = self._matching(query["jql"])
        if isinstance(matching, Reply):
            return matching
        start = int(query.get("startAt", 0))
        size = min(int(query.get("maxResults", 50)), self.page_size)
        issues = [self._issue(i, 2) for i in matching[start : start + size]]
        return Reply(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(matching),
                "issues": issues,
            },
        )

    def _issue(self, issue: dict[str, Any], version: int) -> dict[str, Any]:
        zone = ZoneInfo(self.time_zone)
        comments = [self._comment(c, version, n) for n, c in enumerate(issue["comments"])]
        fields = {
            "summary": issue["summary"],
            "description": self._text(issue["description"], version),
            "status": {"name": issue["status"], "statusCategory": {"key": "new"}},
            "issuetype": {"name": issue["kind"], "subtask": False},
            "priority": {"name": "High", "id": "2"},
            "assignee": {"displayName": "Ann Lee", "accountId": "5b10a"},
            "reporter": {"displayName": "Bob Ray", "accountId": "5b10b"},
            "labels": issue["labels"],
            "issuelinks": [self._link(n, *link) for n, link in enumerate(issue["links"])],
            "created": "2024-01-01T09:00:00.000+0000",
            "updated": issue["updated"].astimezone(zone).strftime(JIRA_DATE),
            "comment": {
                "comments": comments[: self.embedded_comments],
                "maxResults": self.embedded_comments,
                "total": len(comments),
                "startAt": 0,
            },
        }
        base = f"{self.url}/rest/api/{version}/issue/{issue['id']}"
        return {
            "expand": "renderedFields",
            "id": issue["id"],
            "self": base,
            "key": issue["key"],
            "fields": fields,
        }

    @staticmethod
    def _link(n: int, side: str, verb: str, other: str) -> dict[str, Any]:
        words = {"blocks": ("Blocks", "is blocked by"), "relates to": ("Relates", "relates to")}
        name, inward = words.get(verb, (verb.title(), verb))
        kind = {"id": str(n), "name": name, "inward": inward, "outward": verb}
        target = {"id": "1", "key": other, "fields": {"summary": f"about {other}"}}
        return {"id": str(n), "type": kind, f"{side}Issue": target}

    def _comment(self, comment: tuple[str, Any, str], version: int, n: int) -> dict[str, Any]:
        author, body, created = comment
        return {
            "id": str(20000 + n),
            "author": {"displayName": author, "accountId": f"acc-{author}"},
            "body": self._text(body, version),
            "created": created,
            "updated": created,
        }

    @staticmethod
    def _text(value: Any, version: int) -> Any:
        """v3 speaks ADF, v2 plain text."""
        if version == 3 and isinstance(value, str):
            return adf(value) if value else None
        return value or None

    def _comment_page(self, version: int, issue: dict[str, Any], query: dict[str, str]) -> Reply:
        start = int(query.get("startAt", 0))
        size = min(int(query.get("maxResults", 50)), self.page_size)
        comments = [self._comment(c, version, n) for n, c in enumerate(issue["comments"])]
        body = {
            "comments": comments[start : start + size],
            "startAt": start,
            "maxResults": size,
            "total": len(comments),
        }
        return Reply(200, body)


# ---------------------------------------------------------------- Confluence
class FakeConfluence(FakeService):
    """Confluence REST v1 under ``/wiki``: spaces, current user and CQL content search."""

    def __init__(
        self, *, email: str = "", token: str = "", time_zone: str | None = "UTC", page_size: int = 2
    ) -> None:
        super().__init__()
        self.email, self.token = email, token
        self.time_zone = time_zone  # None: the user object carries no timeZone
        self.page_size = page_size
        self.spaces: dict[str, str] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.cql: list[str] = []

    def add_page(
        self,
        page_id: str,
        space: str,
        title: str,
        storage: str,
        when: datetime,
        *,
        version: int = 1,
        ancestors: tuple[tuple[str, str], ...] = (),  # (id, title), root first
        author: str = "Ann Lee",
    ) -> None:
        self.spaces.setdefault(space, f"Space {space}")
        self.pages[page_id] = {
            "id": page_id,
            "type": "page",
            "status": "current",
            "title": title,
            "space": {"id": 1, "key": space, "name": self.spaces[space], "type": "global"},
            "body": {"storage": {"value": storage, "representation": "storage"}},
            "version": {
                "number": version,
                "when": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "by": {"type": "known", "displayName": author},
            },
            "ancestors": [{"id": i, "type": "page", "title": t} for i, t in ancestors],
            "_links": {
                "webui": f"/spaces/{space}/pages/{page_id}/{title.replace(' ', '+')}",
                "self": f"{self.url}/wiki/rest/api/content/{page_id}",
            },
        }

    def route(self, request: Seen) -> Reply:
        header = request.headers.get("authorization", "")
        if self.email:
            secret = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            if header != f"Basic {secret}":
                return Reply(401, {"statusCode": 401, "message": "Unauthorized"})
        path = request.path.removeprefix("/wiki/rest/api/")
        if path == "user/current":
            user = {"type": "known", "accountId": "5b10a", "displayName": "Ann Lee"}
            return Reply(200, {**user, **({"timeZone": self.time_zone} if self.time_zone else {})})
        if path.startswith("space/"):
            key = path.removeprefix("space/")
            if key not in self.spaces:
                return Reply(
                    404, {"statusCode": 404, "message": f"No space found with key : {key}"}
                )
            return Reply(200, {"id": 1, "key": key, "name": self.spaces[key], "type": "global"})
        if path == "content/search":
            return self._search(request.query)
        return Reply(404, {"statusCode": 404, "message": "Not found"})

    def _search(self, query: dict[str, str]) -> Reply:
        cql = query["cql"]
        self.cql.append(cql)
        if not cql.endswith("ORDER BY lastmodified ASC"):
            return Reply(400, {"statusCode": 400, "message": "Could not parse cql"})
        space = re.search(r'space = "([^"]+)"', cql)
        since = re.search(r'lastmodified >= "(\d{4}-\d\d-\d\d \d\d:\d\d)"', cql)
        floor = ""
        if since:
            local = datetime.strptime(since.group(1), "%Y-%m-%d %H:%M")
            zone = ZoneInfo(self.time_zone or "UTC")
            floor = local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
        matching = sorted(
            (
                p
                for p in self.pages.values()
                if (not space or p["space"]["key"] == space.group(1))
                and p["version"]["when"] >= floor
            ),
            key=lambda p: (p["version"]["when"], p["id"]),
        )
        start = int(query.get("start", 0))
        size = min(int(query.get("limit", 25)), self.page_size)
        results = matching[start : start + size]
        links = {"base": f"{self.url}/wiki", "context": "/wiki"}
        if start + size < len(matching):
            more = urlencode({**query, "start": start + size, "limit": size})
            links["next"] = f"/rest/api/content/search?{more}"
        body = {
            "results": results,
            "start": start,
            "limit": size,
            "size": len(results),
            "totalSize": len(matching),
            "_links": links,
        }
        return Reply(200, body)


# ---------------------------------------------------------------- a feed
class FakeFeed(FakeService):
    """One RSS 2.0 or Atom document at ``/feed.xml``, with ETag / If-None-Match."""

    def __init__(self, document: str = "") -> None:
        super().__init__()
        self.document = document

    def route(self, request: Seen) -> Reply:
        if request.path != "/feed.xml":
            return Reply(404, "not found")
        etag = '"' + hashlib.sha1(self.document.encode()).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            return Reply(304, None, {"ETag": etag})
        return Reply(200, self.document, {"Content-Type": "application/rss+xml", "ETag": etag})


# ---------------------------------------------------------------- a git host
class FakeGitHost(ThreadingHTTPServer):
    """The repositories under ``root`` over git's smart HTTP protocol (``git http-backend``),
    to one user and password: anything else gets 401 with a basic-auth challenge.

    ``seen_auth`` lists each request's Authorization header; ``on_request`` runs as each
    request arrives, while the git that sent it waits for the answer.
    """

    def __init__(self, root: Path, user: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _SmartHttp)
        self.daemon_threads = True
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seen_auth: list[str] = []
        self.on_request: Callable[[], None] = lambda: None
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, name: str, userinfo: str = "") -> str:
        """The URL of repository ``name``, with ``userinfo`` (``"user:password@"``) if given."""
        return f"http://{userinfo}127.0.0.1:{self.server_address[1]}/{name}"

    def __enter__(self) -> FakeGitHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _SmartHttp(BaseHTTPRequestHandler):
    server: FakeGitHost

    def do_GET(self) -> None:
        self.server.on_request()
        auth = self.headers.get("Authorization", "")
        self.server.seen_auth.append(auth)
        if auth != self.server.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, payload = self._backend(body)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _backend(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Runs ``git http-backend`` as a web server runs a CGI script."""
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        return status, headers, payload
