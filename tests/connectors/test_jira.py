"""The ``jira`` connector against a local fake of Jira Cloud and Data Center."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from projectqa.plugins.adf import adf_to_text
from projectqa.plugins.http import RetryPolicy
from projectqa.plugins.jira import JiraSource
from projectqa.server.plugin_host import load_plugins
from projectqa.server.sources import (
    Checkpoint,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
)

from .fakes import FakeJira, Reply, adf

EMAIL = "ann@example.com"
TOKEN = "ATATT3xFfGF0-jira-s3cret-token"
DAY = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira(email=EMAIL, token=TOKEN, time_zone="Europe/Berlin") as fake:
        fake.add_issue(
            "PROJ-1",
            "Login fails on Safari",
            DAY + timedelta(hours=1),
            description="Users on Safari 17 cannot log in.",
            status="In Progress",
            labels=("auth", "safari"),
            links=(("outward", "blocks", "PROJ-9"), ("inward", "blocks", "PROJ-3")),
            comments=(
                ("Ann Lee", "Reproduced.", "2024-01-02T10:00:00.000+0000"),
                ("Bob Ray", "Cookie flag?", "2024-01-03T10:00:00.000+0000"),
                ("Ann Lee", "Yes, SameSite.", "2024-01-04T10:00:00.000+0000"),
            ),
        )
        for n in range(2, 6):
            fake.add_issue(f"PROJ-{n}", f"Ticket {n}", DAY + timedelta(days=n))
        fake.add_issue("OTHER-1", "Not ours", DAY)
        yield fake


def source(
    fake: FakeJira,
    tmp_path: Path,
    sleeps: list[float] | None = None,
    *,
    cursor: dict[str, Any] | None = None,
    full: bool = True,
    **config: Any,
) -> JiraSource:
    settings = {"base_url": fake.url, "project": "PROJ", "email": EMAIL, "api_token": TOKEN}
    context = SourceContext(
        config={**settings, **config}, cursor=cursor, work_dir=tmp_path, full=full
    )
    sleep = (sleeps if sleeps is not None else []).append
    return JiraSource(context, policy=RetryPolicy(attempts=3, base_delay_s=0.01, sleep=sleep))


def docs(items: list[SourceItem]) -> dict[str, SourceDocument]:
    return {i.key: i for i in items if isinstance(i, SourceDocument)}


def cursors(items: list[SourceItem]) -> list[dict[str, Any]]:
    return [i.cursor for i in items if isinstance(i, Checkpoint)]


def error_of(src: JiraSource) -> str:
    with pytest.raises(SourceError) as raised:
        list(src.items())
    return str(raised.value)


# ---------------------------------------------------------------- reading
def test_full_run_reads_every_page_of_the_project_with_all_comments(jira, tmp_path) -> None:
    items = list(source(jira, tmp_path).items())

    found = docs(items)
    assert list(found) == ["PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4", "PROJ-5"]
    ticket = found["PROJ-1"]
    assert ticket.kind is DocumentKind.TICKET
    assert ticket.title == "PROJ-1 Login fails on Safari"
    assert ticket.url == f"{jira.url}/browse/PROJ-1"
    assert ticket.version == "2024-01-01T11:00:00.000+0100"  # as Jira wrote it
    assert "Yes, SameSite." in ticket.text  # beyond the comments the search embeds
    assert jira.seen("/issue/PROJ-1/comment")[0].query["startAt"] == "2"
    assert jira.jql[0] == 'project = "PROJ" ORDER BY updated ASC'
    search = jira.seen("/search/jql")[0].json()
    assert {"summary", "description", "comment", "issuelinks", "status"} <= set(search["fields"])
    assert cursors(items)[-1]["updated"] == "2024-01-06T09:00:00+00:00"


def test_cloud_basic_auth_is_sent_on_every_request(jira, tmp_path) -> None:
    list(source(jira, tmp_path).items())

    expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    assert {r.headers["authorization"] for r in jira.requests} == {expected}


def test_data_center_uses_v2_search_pages_and_a_bearer_token(tmp_path) -> None:
    with FakeJira(token=TOKEN, time_zone="UTC") as fake:
        for n in range(1, 6):  # one bulk edit: the same minute, so only startAt can page
            fake.add_issue(f"OPS-{n}", f"Ops {n}", DAY, description="h1. Hi")
        src = source(fake, tmp_path, project="OPS", email="", edition="data_center")

        found = docs(list(src.items()))

    assert list(found) == [f"OPS-{n}" for n in range(1, 6)]
    assert "\n\nh1. Hi\n" in found["OPS-1"].text  # wiki markup, kept as written
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {TOKEN}"}
    pages = fake.seen("/rest/api/2/search")
    assert {"2", "4"} <= {p.query["startAt"] for p in pages}
    assert pages[0].query["fields"].startswith("summary,description,comment")


def test_ticket_renders_with_status_links_description_and_comments(jira, tmp_path) -> None:
    ticket = docs(list(source(jira, tmp_path).items()))["PROJ-1"]

    assert ticket.text == (
        "PROJ-1 Login fails on Safari\n"
        "Status: In Progress · Type: Bug · Priority: High · Assignee: Ann Lee · Reporter: Bob Ray\n"
        "Labels: auth, safari\n"
        "Links: blocks PROJ-9; is blocked by PROJ-3\n"
        "\n"
        "Users on Safari 17 cannot log in.\n"
        "\n"
        "Comment by Ann Lee on 2024-01-02:\n"
        "Reproduced.\n"
        "\n"
        "Comment by Bob Ray on 2024-01-03:\n"
        "Cookie flag?\n"
        "\n"
        "Comment by Ann Lee on 2024-01-04:\n"
        "Yes, SameSite.\n"
    )
    assert ticket.metadata["links"] == ["blocks PROJ-9", "is blocked by PROJ-3"]
    assert ticket.metadata["status"] == "In Progress"
    assert ticket.metadata["labels"] == ["auth", "safari"]


def test_atlassian_document_format_becomes_readable_text() -> None:
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [_text("Steps")]},
            {
                "type": "paragraph",
                "content": [
                    _text("Ask "),
                    {"type": "mention", "attrs": {"id": "5b10a", "text": "@Ann Lee"}},
                    _text(" to run "),
                    _text("make test", [{"type": "code"}]),
                    _text(" and read "),
                    _text("the docs", [{"type": "link", "attrs": {"href": "https://x.io"}}]),
                    {"type": "hardBreak"},
                    _text("then wait "),
                    {"type": "emoji", "attrs": {"shortName": ":clock:", "text": "🕐"}},
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    _item("first"),
                    {
                        "type": "listItem",
                        "content": [
                            _para("second"),
                            {"type": "orderedList", "content": [_item("a"), _item("b")]},
                        ],
                    },
                ],
            },
            {
                "type": "codeBlock",
                "attrs": {"language": "python"},
                "content": [_text("def f():\n    return 1")],
            },
            {"type": "panel", "attrs": {"panelType": "info"}, "content": [_para("Heads up.")]},
            {
                "type": "table",
                "content": [
                    {"type": "tableRow", "content": [_cell("Browser"), _cell("Works")]},
                    {"type": "tableRow", "content": [_cell("Safari"), _cell("no")]},
                ],
            },
            {"type": "rule"},
            {"type": "blockquote", "content": [_para("Quoted.")]},
            {
                "type": "taskList",
                "content": [
                    {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [_text("Fix")]},
                    {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [_text("Ship")]},
                ],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "status", "attrs": {"text": "BLOCKED"}},
                    _text(" since "),
                    {"type": "date", "attrs": {"timestamp": "1704067200000"}},
                ],
            },
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
        ],
    }

    assert adf_to_text(document) == (
        "## Steps\n"
        "\n"
        "Ask @Ann Lee to run `make test` and read the docs (https://x.io)\n"
        "then wait 🕐\n"
        "\n"
        "- first\n"
        "- second\n"
        "  1. a\n"
        "  2. b\n"
        "\n"
        "```python\n"
        "def f():\n"
        "    return 1\n"
        "```\n"
        "\n"
        "Heads up.\n"
        "\n"
        "Browser | Works\n"
        "Safari | no\n"
        "\n"
        "---\n"
        "\n"
        "> Quoted.\n"
        "\n"
        "- [x] Fix\n"
        "- [ ] Ship\n"
        "\n"
        "[BLOCKED] since 2024-01-01"
    )
    assert adf_to_text("plain v2 text ") == "plain v2 text"
    assert adf_to_text(None) == ""


def _text(text: str, marks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "text", "text": text, **({"marks": marks} if marks else {})}


def _para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [_text(text)]}


def _item(text: str) -> dict[str, Any]:
    return {"type": "listItem", "content": [_para(text)]}


def _cell(text: str) -> dict[str, Any]:
    return {"type": "tableCell", "content": [_para(text)]}


def test_adf_description_from_the_cloud_api_is_rendered(jira, tmp_path) -> None:
    jira.issues["PROJ-2"]["description"] = adf("First paragraph.", "Second paragraph.")

    ticket = docs(list(source(jira, tmp_path).items()))["PROJ-2"]

    assert "\nFirst paragraph.\n\nSecond paragraph.\n" in ticket.text
    assert '"type"' not in ticket.text


# ---------------------------------------------------------------- cursors
def test_incremental_run_bounds_jql_in_the_users_time_zone(jira, tmp_path) -> None:
    cursor = cursors(list(source(jira, tmp_path).items()))[-1]
    jira.issues["PROJ-2"]["updated"] = DAY + timedelta(days=10)
    jira.jql.clear()

    items = list(source(jira, tmp_path, cursor=cursor, full=False).items())

    # PROJ-5 was updated at 09:00 UTC: 10:00 in Berlin, where JQL reads the date.
    assert jira.jql[0] == 'project = "PROJ" AND updated >= "2024-01-06 10:00" ORDER BY updated ASC'
    assert set(docs(items)) == {"PROJ-2", "PROJ-5"}  # PROJ-5 sits exactly on the bound
    assert cursors(items)[-1]["updated"] == "2024-01-11T09:00:00+00:00"


def test_with_the_zone_unknown_the_bound_is_safe_for_any_zone(jira, tmp_path) -> None:
    cursor = cursors(list(source(jira, tmp_path).items()))[-1]
    jira.issues["PROJ-2"]["updated"] = DAY + timedelta(days=10)
    jira.fail_next(Reply(404, {"errorMessages": ["no such resource"]}), path="/myself")
    jira.jql.clear()

    found = docs(list(source(jira, tmp_path, cursor=cursor, full=False).items()))

    assert jira.jql[0] == 'project = "PROJ" AND updated >= "2024-01-05 21:00" ORDER BY updated ASC'
    assert {"PROJ-2", "PROJ-5"} <= set(found)


def test_a_run_that_died_resumes_from_its_last_checkpoint(jira, tmp_path) -> None:
    first: list[SourceItem] = []
    for item in source(jira, tmp_path).items():
        first.append(item)
        if len(cursors(first)) == 2:
            break

    rest = list(source(jira, tmp_path, cursor=cursors(first)[-1]).items())

    assert set(docs(first)) | set(docs(rest)) == {f"PROJ-{n}" for n in range(1, 6)}
    assert "PROJ-1" not in docs(rest)


def test_extra_jql_is_anded_and_its_ordering_dropped(jira, tmp_path) -> None:
    list(source(jira, tmp_path, jql="labels = safari order by created DESC").items())

    assert jira.jql[0] == 'project = "PROJ" AND (labels = safari) ORDER BY updated ASC'


def test_a_cursor_for_another_query_is_not_reused(jira, tmp_path) -> None:
    cursor = cursors(list(source(jira, tmp_path).items()))[-1]
    jira.jql.clear()

    list(source(jira, tmp_path, cursor=cursor, full=False, jql="labels = x").items())

    assert "updated >=" not in jira.jql[0]


# ---------------------------------------------------------------- faults
def test_rejected_credentials_fail_the_run_without_showing_the_token(jira, tmp_path) -> None:
    message = error_of(source(jira, tmp_path, api_token="wrong-" + TOKEN))

    assert message == "Jira rejected the credentials (401): You are not authenticated."
    assert TOKEN not in message


def test_an_unknown_project_is_explained(jira, tmp_path) -> None:
    message = error_of(source(jira, tmp_path, project="NOPE"))

    assert "(400)" in message
    assert "The value 'NOPE' does not exist for the field 'project'." in message


def test_a_wrong_base_url_is_a_clear_not_found(jira, tmp_path) -> None:
    message = error_of(source(jira, tmp_path, base_url=jira.url + "/jira"))

    assert message.startswith("Jira: issues matching 'project = \"PROJ\" ORDER BY updated ASC'")
    assert message.endswith("not found (404)")


def test_429_and_500_are_retried(jira, tmp_path) -> None:
    sleeps: list[float] = []
    jira.fail_next(
        Reply(429, {"errorMessages": ["Rate limit exceeded"]}, {"Retry-After": "3"}),
        Reply(500, {"errorMessages": ["Internal server error"]}),
        path="/search",
    )

    assert len(docs(list(source(jira, tmp_path, sleeps).items()))) == 5
    assert sleeps[0] == 3.0 and len(sleeps) == 2


def test_malformed_json_is_retried_then_reported(jira, tmp_path) -> None:
    jira.fail_next(Reply(200, "{"), path="/search")
    assert len(docs(list(source(jira, tmp_path).items()))) == 5

    jira.fail_next(*[Reply(200, "<html>login</html>")] * 3, path="/search")
    assert "malformed JSON" in error_of(source(jira, tmp_path))


def test_comments_that_cannot_be_read_skip_only_that_ticket(jira, tmp_path) -> None:
    jira.fail_next(Reply(404, {"errorMessages": ["Issue does not exist"]}), path="/comment")

    items = list(source(jira, tmp_path).items())

    assert [(w.key, "comments of PROJ-1" in w.message) for w in items if hasattr(w, "message")] == [
        ("PROJ-1", True)
    ]
    assert len(docs(items)) == 4


# ---------------------------------------------------------------- registration
def test_registered_through_its_entry_point() -> None:
    connector = load_plugins(["jira"]).catalog.connector_type("jira")

    assert connector is not None
    assert connector.secret_fields == ["api_token", "webhook_secret"]
    validator = Draft202012Validator(connector.config_schema)
    assert validator.is_valid({"base_url": "https://x.atlassian.net", "project": "PROJ"})
    assert validator.is_valid({"base_url": "https://x.atlassian.net", "jql": "assignee = me"})
    assert not validator.is_valid({"base_url": "https://x.atlassian.net"})  # selects nothing
