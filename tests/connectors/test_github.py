"""The ``github`` connector against a local fake of the GitHub REST API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from projectqa.plugins.github import GitHubSource
from projectqa.plugins.http import RetryPolicy, RunCancelled
from projectqa.server.plugin_host import load_plugins
from projectqa.server.sources import (
    Checkpoint,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

from .fakes import FakeGitHub, Reply

TOKEN = "ghp_s3cretTOKENvalue000000000000000000"
NOW = 1_700_000_000.0  # the injected clock: 2023-11-14T22:13:20Z


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_issue(
            1,
            "Crash on save",
            "2024-01-01T10:00:00Z",
            body="Saving crashes.",
            labels=("bug", "ui"),
            user="alice",
            comments=(
                ("bob", "Same here.", "2024-01-02T08:00:00Z"),
                ("alice", "Fixed by #4?", "2024-01-03T08:00:00Z"),
                ("carol", "Confirmed fixed.", "2024-01-04T08:00:00Z"),
            ),
        )
        fake.add_issue(2, "Add dark mode", "2024-01-02T10:00:00Z", state="closed")
        fake.add_issue(3, "Docs typo", "2024-01-03T10:00:00Z")
        fake.add_issue(
            4,
            "Fix crash on save",
            "2024-01-04T10:00:00Z",
            body="Closes #1.",
            state="closed",
            pull={"head": "fix-save", "base": "main", "merged": True},
        )
        fake.add_issue(5, "Speed up search", "2024-01-05T10:00:00Z", pull={"head": "fast"})
        yield fake


class Clock:
    """Records the sleeps a retry policy asks for instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=3,
            base_delay_s=0.01,
            sleep=self.sleeps.append,
            clock=lambda: NOW,
            max_rate_limit_wait_s=600,
        )


def source(
    fake: FakeGitHub,
    tmp_path: Path,
    clock: Clock | None = None,
    *,
    cursor: dict[str, Any] | None = None,
    full: bool = True,
    cancelled: Any = None,
    **config: Any,
) -> GitHubSource:
    settings = {"repository": fake.repository, "api_url": fake.url, "token": TOKEN, **config}
    context = SourceContext(
        config=settings,
        cursor=cursor,
        work_dir=tmp_path,
        full=full,
        cancelled=cancelled or (lambda: False),
    )
    return GitHubSource(context, policy=(clock or Clock()).policy())


def docs(items: list[SourceItem]) -> dict[str, SourceDocument]:
    return {i.key: i for i in items if isinstance(i, SourceDocument)}


def cursors(items: list[SourceItem]) -> list[dict[str, Any]]:
    return [i.cursor for i in items if isinstance(i, Checkpoint)]


def error_of(src: GitHubSource) -> str:
    with pytest.raises(SourceError) as raised:
        list(src.items())
    return str(raised.value)


# ---------------------------------------------------------------- reading
def test_full_run_reads_every_page_with_comments_and_pull_requests(github, tmp_path) -> None:
    items = list(source(github, tmp_path).items())

    found = docs(items)
    assert list(found) == ["issues/1", "issues/2", "issues/3", "pulls/4", "pulls/5"]
    assert found["issues/1"].kind is DocumentKind.ISSUE
    assert found["pulls/4"].kind is DocumentKind.PULL_REQUEST
    assert found["pulls/4"].title == "#4 Fix crash on save"
    assert found["pulls/4"].url == "https://github.com/octo/hello/pull/4"
    assert found["pulls/4"].version == "2024-01-04T10:00:00Z"
    assert "Confirmed fixed." in found["issues/1"].text  # the third comment: second page
    assert len(github.seen("/issues/1/comments")) == 2
    assert not github.seen("/issues/2/comments")  # no comments: not asked for
    assert cursors(items)[-1]["since"] == "2024-01-05T10:00:00Z"
    assert isinstance(items[-1], Checkpoint)


def test_every_request_carries_the_token_and_api_headers(github, tmp_path) -> None:
    list(source(github, tmp_path).items())

    for request in github.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    listing = github.seen("/issues")[0].query
    expected = {"state": "all", "sort": "updated", "direction": "asc", "per_page": "100"}
    assert listing.items() >= expected.items()
    assert "since" not in listing  # a full run reads everything


def test_issue_and_pull_request_render_as_readable_text(github, tmp_path) -> None:
    found = docs(list(source(github, tmp_path).items()))

    assert found["issues/1"].text == (
        "#1 Crash on save\n"
        "Issue · open · opened by alice on 2024-01-01\n"
        "Labels: bug, ui\n"
        "\n"
        "Saving crashes.\n"
        "\n"
        "Comment by bob on 2024-01-02:\n"
        "Same here.\n"
        "\n"
        "Comment by alice on 2024-01-03:\n"
        "Fixed by #4?\n"
        "\n"
        "Comment by carol on 2024-01-04:\n"
        "Confirmed fixed.\n"
    )
    assert found["pulls/4"].text.splitlines()[1] == (
        "Pull request · merged · fix-save into main · opened by octocat on 2024-01-01"
    )
    assert found["issues/1"].metadata == {
        "repository": "octo/hello",
        "number": 1,
        "state": "open",
        "labels": ["bug", "ui"],
        "author": "alice",
        "created_at": "2024-01-01T09:00:00Z",
        "updated_at": "2024-01-01T10:00:00Z",
        "closed_at": "",
        "comments": 3,
    }
    assert found["pulls/4"].metadata["merged"] is True
    assert found["pulls/5"].metadata["state"] == "open"


def test_issues_updated_in_the_same_second_are_paged_by_link(tmp_path) -> None:
    with FakeGitHub() as fake:
        for n in range(1, 6):  # a bulk label change: one timestamp for all
            fake.add_issue(n, f"Issue {n}", "2024-01-01T10:00:00Z")
        found = docs(list(source(fake, tmp_path, token="").items()))

    assert list(found) == [f"issues/{n}" for n in range(1, 6)]
    assert {"2", "3"} <= {r.query.get("page") for r in fake.seen("/issues")}
    assert "authorization" not in fake.requests[0].headers  # no token, no header


def test_include_limits_the_kinds(github, tmp_path) -> None:
    only_issues = docs(list(source(github, tmp_path, include=["issues"]).items()))
    only_pulls = docs(list(source(github, tmp_path / "b", include=["pull_requests"]).items()))

    assert list(only_issues) == ["issues/1", "issues/2", "issues/3"]
    assert list(only_pulls) == ["pulls/4", "pulls/5"]


# ---------------------------------------------------------------- cursors
def test_incremental_run_asks_only_for_what_changed_since_the_cursor(github, tmp_path) -> None:
    cursor = cursors(list(source(github, tmp_path).items()))[-1]
    github.issues[2]["updated_at"] = "2024-02-01T10:00:00Z"
    github.issues[2]["title"] = "Add dark mode (again)"
    github.add_issue(6, "New report", "2024-02-02T10:00:00Z")
    github.requests.clear()

    items = list(source(github, tmp_path, cursor=cursor, full=False).items())

    found = docs(items)
    assert {"issues/2", "issues/6"} <= set(found) <= {"issues/2", "issues/6", "pulls/5"}
    assert found["issues/2"].title == "#2 Add dark mode (again)"
    assert github.seen("/issues")[0].query["since"] == "2024-01-05T09:59:59Z"
    assert cursors(items)[-1]["since"] == "2024-02-02T10:00:00Z"


def test_a_cursor_taken_with_another_include_is_not_reused(github, tmp_path) -> None:
    cursor = cursors(list(source(github, tmp_path, include=["issues"]).items()))[-1]
    github.requests.clear()

    items = list(source(github, tmp_path, cursor=cursor, full=False).items())

    assert "since" not in github.seen("/issues")[0].query
    assert len(docs(items)) == 5


def test_a_run_that_died_resumes_from_its_last_checkpoint(github, tmp_path) -> None:
    first: list[SourceItem] = []
    for item in source(github, tmp_path).items():
        first.append(item)
        if len(cursors(first)) == 2:
            break  # the server died here
    seen_before = set(docs(first))

    rest = list(source(github, tmp_path, cursor=cursors(first)[-1]).items())

    assert seen_before | set(docs(rest)) == {
        "issues/1",
        "issues/2",
        "issues/3",
        "pulls/4",
        "pulls/5",
    }
    assert len(docs(rest)) < 5  # carried on, did not start over
    assert "since" in github.seen("/issues")[-1].query


def test_an_issue_updated_mid_run_is_not_skipped(github, tmp_path) -> None:
    items: list[SourceItem] = []
    for item in source(github, tmp_path).items():
        items.append(item)
        if len(cursors(items)) == 1:  # after page one, issue 1 moves to the end
            github.issues[1]["updated_at"] = "2024-03-01T10:00:00Z"

    assert {"issues/2", "issues/3", "pulls/4", "pulls/5"} <= set(docs(items))


def test_cancel_stops_between_pages(github, tmp_path) -> None:
    items = list(source(github, tmp_path, cancelled=lambda: True).items())

    assert len(cursors(items)) == 1
    assert len(docs(items)) == 2


def test_unchanged_comments_and_pulls_are_served_from_the_etag_cache(github, tmp_path) -> None:
    first = docs(list(source(github, tmp_path).items()))
    github.requests.clear()

    second = docs(list(source(github, tmp_path).items()))

    assert second == first
    assert github.seen("/comments", status=304)
    assert github.seen("/pulls/4", status=304)
    assert all("if-none-match" in r.headers for r in github.seen("/comments"))


# ---------------------------------------------------------------- faults
def test_rejected_token_fails_the_run_without_showing_it(github, tmp_path) -> None:
    github.fail_next(Reply(401, {"message": f"Bad credentials: {TOKEN}"}))

    message = error_of(source(github, tmp_path))

    assert message.startswith("GitHub rejected the credentials (401)")
    assert TOKEN not in message


def test_a_missing_repository_is_named(github, tmp_path) -> None:
    message = error_of(source(github, tmp_path, repository="octo/missing"))

    assert message == (
        "GitHub: repository octo/missing not found (404); "
        "a private repository needs a token that can read it"
    )


def test_429_waits_for_retry_after_then_carries_on(github, tmp_path) -> None:
    clock = Clock()
    github.fail_next(Reply(429, {"message": "slow down"}, {"Retry-After": "7"}), path="/issues")

    assert len(docs(list(source(github, tmp_path, clock).items()))) == 5
    assert clock.sleeps == [7.0]


def test_server_errors_are_retried_with_backoff(github, tmp_path) -> None:
    clock = Clock()
    github.fail_next(Reply(502, "Bad Gateway"), Reply(500, {"message": "oops"}), path="/pulls")

    assert len(docs(list(source(github, tmp_path, clock).items()))) == 5
    assert len(clock.sleeps) == 2
    assert 0 < clock.sleeps[0] <= 0.01 and 0 < clock.sleeps[1] <= 0.02


def test_server_errors_that_persist_fail_the_run(github, tmp_path) -> None:
    github.fail_next(*[Reply(503, "unavailable")] * 3, path="/issues")

    message = error_of(source(github, tmp_path))

    assert "GitHub answered 503" in message and "gave up after 3 attempts" in message


def test_malformed_json_is_retried_then_reported(github, tmp_path) -> None:
    github.fail_next(Reply(200, "{not json"), path="/issues")
    assert len(docs(list(source(github, tmp_path).items()))) == 5

    github.fail_next(*[Reply(200, "<html>proxy error</html>")] * 3, path="/issues")
    message = error_of(source(github, tmp_path))
    assert "malformed JSON" in message


def test_exhausted_rate_limit_waits_until_the_reset(github, tmp_path) -> None:
    clock = Clock()
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 120)}
    github.fail_next(Reply(403, {"message": "API rate limit exceeded"}, limited), path="/issues")

    assert len(docs(list(source(github, tmp_path, clock).items()))) == 5
    assert clock.sleeps == [121.0]


def test_a_rate_limit_reset_beyond_the_cap_fails_with_the_time(github, tmp_path) -> None:
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 3600)}
    github.fail_next(Reply(403, {"message": "API rate limit exceeded"}, limited))

    message = error_of(source(github, tmp_path))

    assert message == "GitHub rate limited until 2023-11-14T23:13:21Z"


def test_an_issue_gone_mid_run_is_a_warning_not_a_failure(github, tmp_path) -> None:
    github.fail_next(Reply(404, {"message": "Not Found"}), path="/issues/1/comments")

    items = list(source(github, tmp_path).items())

    warnings = [i for i in items if isinstance(i, SourceWarning)]
    assert [w.key for w in warnings] == ["issues/1"]
    assert "comments of #1" in warnings[0].message
    assert len(docs(items)) == 4


def test_links_to_another_host_are_not_followed(github, tmp_path) -> None:
    page = [github.issues[1]]
    evil = {"Link": '<http://127.0.0.2:9/steal?page=2>; rel="next"'}
    github.fail_next(Reply(200, page, evil), path="/issues")
    cursor = {"since": "2024-01-01T10:00:00Z", "include": ["issues", "pull_requests"]}

    message = error_of(source(github, tmp_path, cursor=cursor))  # the bound cannot move

    assert "another host (127.0.0.2)" in message


def test_cancel_interrupts_a_rate_limit_wait(github, tmp_path) -> None:
    github.fail_next(Reply(429, {}, {"Retry-After": "600"}))
    context = SourceContext(
        config={"repository": github.repository, "api_url": github.url, "token": TOKEN},
        cursor=None,
        work_dir=tmp_path,
        cancelled=lambda: True,
    )
    src = GitHubSource(context, policy=RetryPolicy())  # real, interruptible sleep

    with pytest.raises(RunCancelled, match="cancelled while waiting to retry GitHub"):
        list(src.items())


def test_an_unreachable_api_fails_after_retries(tmp_path) -> None:
    with FakeGitHub() as fake:
        closed = fake.url  # nothing listens here once the fake is gone
    src = source(fake, tmp_path, api_url=closed)

    message = error_of(src)

    assert message.startswith("cannot reach GitHub for repository octo/hello")


def test_the_token_never_reaches_the_log(github, tmp_path, caplog) -> None:
    logger = logging.getLogger("projectqa")
    attach = not logger.propagate  # a server started earlier in this process may have cut it
    if attach:
        logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            github.fail_next(Reply(500, {"message": TOKEN}), Reply(429, {}, {"Retry-After": "1"}))
            list(source(github, tmp_path).items())
            github.fail_next(Reply(403, {"message": f"token {TOKEN} lacks scope"}))
            error_of(source(github, tmp_path))
    finally:
        if attach:
            logger.removeHandler(caplog.handler)

    retries = [r for r in caplog.records if r.name == "projectqa.plugins.http"]
    assert len(retries) == 2 and "500" in retries[0].reason
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)


# ---------------------------------------------------------------- registration
def test_registered_through_its_entry_point_with_secret_fields() -> None:
    host = load_plugins(["github"])

    connector = host.catalog.connector_type("github")
    assert connector is not None and host.catalog.connector_types["github"].plugin == "github"
    assert connector.secret_fields == ["token", "webhook_secret"]
    validator = Draft202012Validator(connector.config_schema)
    assert validator.is_valid({"repository": "octo/hello", "include": ["issues"]})
    assert not validator.is_valid({"repository": "no-slash"})
    assert not validator.is_valid({"include": ["issues"]})
