"""The ``confluence`` connector against a local fake of the Confluence REST API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from projectqa.plugins.confluence import ConfluenceSource, wiki_url
from projectqa.plugins.http import RetryPolicy
from projectqa.plugins.storage_format import storage_to_text
from projectqa.server.plugin_host import load_plugins
from projectqa.server.sources import (
    Checkpoint,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
)

from .fakes import FakeConfluence, Reply

EMAIL = "ann@example.com"
TOKEN = "ATATT3x-confluence-s3cret"
DAY = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
RICH_PAGE = """<h1>Getting started</h1>
<p>Install the <strong>tool</strong>&nbsp;first. See
<ac:link><ri:page ri:content-title="Setup guide" /></ac:link> and <a href="https://x.org">docs</a>.</p>
<ul><li>one</li><li><p>two</p><ul><li>nested</li></ul></li></ul>
<ol><li>first</li><li>second</li></ol>
<ac:structured-macro ac:name="code" ac:schema-version="1">
<ac:parameter ac:name="language">python</ac:parameter>
<ac:plain-text-body><![CDATA[def f(a, b):
    return a < b and "<p>" != b]]></ac:plain-text-body></ac:structured-macro>
<table><tbody><tr><th>Name</th><th>Value</th></tr>
<tr><td><p>retries</p></td><td>3</td></tr></tbody></table>
<ac:structured-macro ac:name="info"><ac:parameter ac:name="title">Note</ac:parameter>
<ac:rich-text-body><p>Be careful.</p></ac:rich-text-body></ac:structured-macro>
<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status>
<ac:task-body>done thing</ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id>
<ac:task-status>incomplete</ac:task-status><ac:task-body>open thing</ac:task-body></ac:task>
</ac:task-list>
<p>Line one<br />Line two by <ac:link><ri:user ri:account-id="abc" /></ac:link>
<ac:image><ri:attachment ri:filename="diagram.png" /></ac:image></p>
<h2>Next</h2><p>Read <ac:link><ri:page ri:content-title="Deploy" />
<ac:plain-text-link-body><![CDATA[the deploy page]]></ac:plain-text-link-body></ac:link>.</p>"""
RICH_TEXT = """# Getting started

Install the tool first. See Setup guide and docs (https://x.org).

- one
- two
  - nested

1. first
2. second

```python
def f(a, b):
    return a < b and "<p>" != b
```

Name | Value
retries | 3

Note

Be careful.

- [x] done thing
- [ ] open thing

Line one
Line two by @user

## Next

Read the deploy page."""


@pytest.fixture
def confluence() -> Iterator[FakeConfluence]:
    with FakeConfluence(email=EMAIL, token=TOKEN, time_zone="America/New_York") as fake:
        fake.add_page("100", "ENG", "Home", "<p>Welcome.</p>", DAY)
        fake.add_page(
            "101",
            "ENG",
            "Guides",
            "<p>All guides.</p>",
            DAY + timedelta(days=1),
            ancestors=(("100", "Home"),),
        )
        fake.add_page(
            "102",
            "ENG",
            "Getting started",
            RICH_PAGE,
            DAY + timedelta(days=2),
            version=3,
            ancestors=(("100", "Home"), ("101", "Guides")),
        )
        fake.add_page("103", "ENG", "Release notes", "<p>v1</p>", DAY + timedelta(days=3))
        fake.add_page("104", "ENG", "FAQ", "<p>Ask.</p>", DAY + timedelta(days=4))
        for n in range(3):  # imported together: one modification time, paged by _links.next
            fake.add_page(f"20{n}", "OPS", f"Runbook {n}", f"<p>Step {n}</p>", DAY)
        yield fake


def source(
    fake: FakeConfluence,
    tmp_path: Path,
    sleeps: list[float] | None = None,
    *,
    cursor: dict[str, Any] | None = None,
    full: bool = True,
    **config: Any,
) -> ConfluenceSource:
    settings = {
        "base_url": f"{fake.url}/wiki",
        "spaces": ["ENG", "OPS"],
        "email": EMAIL,
        "api_token": TOKEN,
        **config,
    }
    context = SourceContext(config=settings, cursor=cursor, work_dir=tmp_path, full=full)
    sleep = (sleeps if sleeps is not None else []).append
    return ConfluenceSource(context, RetryPolicy(attempts=3, base_delay_s=0.01, sleep=sleep))


def docs(items: list[SourceItem]) -> dict[str, SourceDocument]:
    return {i.key: i for i in items if isinstance(i, SourceDocument)}


def cursors(items: list[SourceItem]) -> list[dict[str, Any]]:
    return [i.cursor for i in items if isinstance(i, Checkpoint)]


def error_of(src: ConfluenceSource) -> str:
    with pytest.raises(SourceError) as raised:
        list(src.items())
    return str(raised.value)


# ---------------------------------------------------------------- reading
def test_full_run_reads_every_page_of_every_space(confluence, tmp_path) -> None:
    items = list(source(confluence, tmp_path).items())

    found = docs(items)
    assert list(found) == [f"pages/{n}" for n in (100, 101, 102, 103, 104, 200, 201, 202)]
    page = found["pages/102"]
    assert page.kind is DocumentKind.PAGE
    assert page.title == "Getting started"
    assert page.url == f"{confluence.url}/wiki/spaces/ENG/pages/102/Getting+started"
    assert page.version == "3"
    assert page.metadata == {
        "space": "ENG",
        "ancestors": "Home > Guides",
        "version": 3,
        "last_modified": "2024-01-03T09:00:00.000Z",
        "author": "Ann Lee",
    }
    assert page.text.startswith(
        "Getting started\nSpace ENG · Home > Guides · version 3 · last edited by Ann Lee on "
        "2024-01-03\n\n# Getting started\n"
    )
    assert cursors(items)[-1] == {
        "spaces": {"ENG": "2024-01-05T09:00:00+00:00", "OPS": "2024-01-01T09:00:00+00:00"}
    }


def test_search_asks_for_bodies_and_follows_next_links(confluence, tmp_path) -> None:
    list(source(confluence, tmp_path).items())

    first = confluence.seen("/content/search")[0].query
    assert first["cql"] == 'space = "ENG" AND type = page ORDER BY lastmodified ASC'
    assert set(first["expand"].split(",")) >= {"body.storage", "version", "ancestors"}
    ops = [r.query for r in confluence.seen("/content/search") if "OPS" in r.query["cql"]]
    assert "2" in {q.get("start") for q in ops}  # the relative _links.next, resolved under /wiki
    assert all(r.path.startswith("/wiki/rest/api/") for r in confluence.requests)
    assert all(r.headers["authorization"].startswith("Basic ") for r in confluence.requests)


def test_storage_format_becomes_readable_text() -> None:
    assert storage_to_text(RICH_PAGE) == RICH_TEXT
    assert storage_to_text("<p>a &amp; b &lt;c&gt;</p><pre>x  =  1\n</pre>") == (
        "a & b <c>\n\n```\nx  =  1\n```"
    )
    assert storage_to_text("") == ""


def test_cloud_site_urls_get_the_wiki_path() -> None:
    assert wiki_url("https://example.atlassian.net") == "https://example.atlassian.net/wiki"
    assert wiki_url("https://example.atlassian.net/wiki/") == "https://example.atlassian.net/wiki"
    assert wiki_url("https://confluence.corp.example") == "https://confluence.corp.example"


# ---------------------------------------------------------------- cursors
def test_incremental_run_asks_each_space_since_its_mark(confluence, tmp_path) -> None:
    cursor = cursors(list(source(confluence, tmp_path).items()))[-1]
    confluence.add_page("101", "ENG", "Guides", "<p>New</p>", DAY + timedelta(days=9), version=2)
    confluence.add_page("300", "DOC", "Style", "<p>Be brief.</p>", DAY)
    confluence.cql.clear()

    items = list(
        source(
            confluence, tmp_path, cursor=cursor, full=False, spaces=["ENG", "OPS", "DOC"]
        ).items()
    )

    # ENG's mark, 2024-01-05 09:00 UTC, is 04:00 in New York, where CQL reads the date.
    assert confluence.cql[0] == (
        'space = "ENG" AND type = page AND lastmodified >= "2024-01-05 04:00" '
        "ORDER BY lastmodified ASC"
    )
    assert 'space = "DOC" AND type = page ORDER BY lastmodified ASC' in confluence.cql
    found = docs(items)
    assert {"pages/101", "pages/300"} <= set(found)
    assert not {"pages/100", "pages/102", "pages/103"} & set(found)
    assert found["pages/101"].version == "2"
    assert set(cursors(items)[-1]["spaces"]) == {"ENG", "OPS", "DOC"}


def test_with_the_zone_unknown_the_bound_is_safe_for_any_zone(tmp_path) -> None:
    with FakeConfluence(time_zone=None) as fake:
        fake.add_page("1", "ENG", "Home", "<p>Hi</p>", DAY)
        cursor = {"spaces": {"ENG": DAY.isoformat()}}
        found = docs(list(source(fake, tmp_path, cursor=cursor, spaces=["ENG"]).items()))

    assert 'lastmodified >= "2023-12-31 21:00"' in fake.cql[0]  # UTC-12
    assert list(found) == ["pages/1"]


def test_a_run_that_died_resumes_from_its_last_checkpoint(confluence, tmp_path) -> None:
    first: list[SourceItem] = []
    for item in source(confluence, tmp_path).items():
        first.append(item)
        if len(cursors(first)) == 2:
            break

    rest = list(source(confluence, tmp_path, cursor=cursors(first)[-1]).items())

    everything = {f"pages/{n}" for n in (100, 101, 102, 103, 104, 200, 201, 202)}
    assert set(docs(first)) | set(docs(rest)) == everything
    assert "pages/100" not in docs(rest)


# ---------------------------------------------------------------- faults
def test_rejected_credentials_fail_without_showing_the_token(confluence, tmp_path) -> None:
    confluence.fail_next(Reply(403, {"statusCode": 403, "message": f"bad token {TOKEN}"}))

    message = error_of(source(confluence, tmp_path))

    assert message.startswith("Confluence rejected the credentials (403)")
    assert TOKEN not in message


def test_wrong_credentials_are_refused(confluence, tmp_path) -> None:
    message = error_of(source(confluence, tmp_path, api_token="nope"))

    assert message == "Confluence rejected the credentials (401): Unauthorized"


def test_an_unknown_space_is_named(confluence, tmp_path) -> None:
    message = error_of(source(confluence, tmp_path, spaces=["ENG", "NOPE"]))

    assert message == "Confluence: space NOPE not found (404)"


def test_429_and_500_are_retried(confluence, tmp_path) -> None:
    sleeps: list[float] = []
    confluence.fail_next(
        Reply(429, {"message": "Too many requests"}, {"Retry-After": "5"}),
        Reply(500, {"message": "oops"}),
        path="/content/search",
    )

    assert len(docs(list(source(confluence, tmp_path, sleeps).items()))) == 8
    assert sleeps[0] == 5.0 and len(sleeps) == 2


def test_malformed_json_is_retried_then_reported(confluence, tmp_path) -> None:
    confluence.fail_next(Reply(200, "{]"), path="/content/search")
    assert len(docs(list(source(confluence, tmp_path).items()))) == 8

    confluence.fail_next(*[Reply(200, "<html/>")] * 3, path="/content/search")
    assert "malformed JSON for pages of space ENG" in error_of(source(confluence, tmp_path))


# ---------------------------------------------------------------- registration
def test_registered_through_its_entry_point() -> None:
    connector = load_plugins(["confluence"]).catalog.connector_type("confluence")

    assert connector is not None
    assert connector.secret_fields == ["api_token", "webhook_secret"]
    validator = Draft202012Validator(connector.config_schema)
    assert validator.is_valid({"base_url": "https://x.atlassian.net/wiki", "spaces": ["ENG"]})
    assert not validator.is_valid({"base_url": "https://x.atlassian.net/wiki", "spaces": []})
