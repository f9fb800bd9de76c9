"""Credentials written into a connector's URL: how they are recognised, and that the
HTTP connectors (GitHub, Jira, Confluence) log in with them but never show them."""

from __future__ import annotations

import base64
import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projectqa.plugins.confluence import ConfluenceSource
from projectqa.plugins.github import GitHubSource
from projectqa.plugins.http import RetryPolicy
from projectqa.plugins.jira import JiraSource
from projectqa.server.sources import SourceContext, SourceDocument, SourceError, SourceItem
from projectqa.server.url_credentials import (
    has_credentials,
    login,
    scp_password,
    unencoded_password,
    without_credentials,
    written_credentials,
)

from .fakes import FakeConfluence, FakeFeed, FakeGitHub, FakeJira, FakeService

EMAIL = "ann@example.com"
PASSWORD = "url-pa55word-6c0d"
DAY = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(attempts=2, base_delay_s=0.01, sleep=lambda seconds: None)


@pytest.mark.parametrize(
    ("url", "shown", "credentials"),
    [
        ("https://alice:pw@example.com/r.git", "https://example.com/r.git", ("alice", "pw")),
        ("https://tok3n@example.com/r.git", "https://example.com/r.git", ("tok3n", "")),
        ("http://a%40b.c:p%3Aw@h:8080/x?q=1", "http://h:8080/x?q=1", ("a@b.c", "p:w")),
        ("https://u:p@ss@example.com/r", "https://example.com/r", ("u", "p@ss")),
        (" https://alice:pw@example.com/r.git\n", " https://example.com/r.git\n", ("alice", "pw")),
        ("ssh://git@example.com/r.git", "ssh://git@example.com/r.git", None),
        ("ssh://git:pw@example.com/r.git", "ssh://git@example.com/r.git", ("git", "pw")),
        ("git@example.com:o/r.git", "git@example.com:o/r.git", None),
        ("https://example.com/a@b", "https://example.com/a@b", None),
        ("not a url: x://u:p@h", "not a url: x://u:p@h", None),
    ],
)
def test_credentials_in_a_url_are_found_and_removed(
    url: str, shown: str, credentials: tuple[str, str] | None
) -> None:
    assert without_credentials(url) == shown
    assert has_credentials(url) is (credentials is not None)
    assert login(url) == credentials
    assert not has_credentials(7) and not has_credentials(["https://u:p@h"])


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        ("https://h/r.git?private_token=glpat-x1", "https://h/r.git", "glpat-x1"),
        ("https://h/r?ref=main&Access-Token=t%2B1&x=2", "https://h/r?ref=main&x=2", "t+1"),
        ("https://h/feed?API_KEY=k1#sig=s1", "https://h/feed", "s1"),
        ("https://t0k@h/r?token=t1", "https://h/r", "t1"),
        ("ssh://git@h/r.git?key=k1", "ssh://git@h/r.git", "k1"),
    ],
)
def test_credential_parameters_in_a_url_are_found_and_removed(
    url: str, shown: str, secret: str
) -> None:
    assert (without_credentials(url), has_credentials(url)) == (shown, True)
    assert secret in written_credentials(url)


@pytest.mark.parametrize("url", ["https://h/r?ref=main", "https://h/r?token=", "https://h/r#key"])
def test_a_query_without_credential_parameters_is_no_credential(url: str) -> None:
    assert (without_credentials(url), has_credentials(url)) == (url, False)


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://bob:s3cr/et@h/r.git", True),
        ("https://bob:pa?ss@h/r.git", True),
        (" https://bob:pa#ss@h/r.git", True),
        ("https://h:8080/@scope/pkg", False),
        ("https://h:/a@b", False),
        ("https://h/users/@ann", False),
        ("https://bob:pa%2Fss@h/r.git", False),
        ("https://[::1]:8080/a@b", False),
        ("git@h:o/r.git", False),
    ],
)
def test_a_password_with_an_unencoded_delimiter_is_told_apart(url: str, refused: bool) -> None:
    assert unencoded_password(url) is refused


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("bob:s3cret@host:repo.git", True),
        (" bob:s3cret@host:o/r.git\n", True),
        ("bob:s3/cr@et@host:repo.git", True),
        (":s3cret@host:repo.git", True),
        ("git@host:o/r.git", False),
        ("host:o/r.git", False),
        ("host:users/@ann/repo.git", False),
        ("git@host:o/@scope/r.git", False),
        ("https://bob:pw@host:8443/r.git", False),  # a URL: has_credentials' concern
        ("ssh://bob:pw@host:22/r.git", False),
        ("/srv/a:b@c:d", False),
    ],
)
def test_a_password_in_an_scp_style_address_is_told(url: str, refused: bool) -> None:
    assert scp_password(url) is refused


def with_login(fake: FakeService, user: str, password: str, path: str = "") -> str:
    """The fake's URL with ``user:password@`` written in, percent-encoded."""
    user, password = (v.replace("@", "%40") for v in (user, password))
    return fake.url.replace("http://", f"http://{user}:{password}@") + path


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def items_of(source: Any) -> list[SourceItem]:
    return list(source.items())


def assert_never_shown(items: list[SourceItem], *secrets: str) -> None:
    for item in items:
        if isinstance(item, SourceDocument):
            text = repr(item)
            for secret in secrets:
                assert secret not in text, f"{secret!r} in {item.key}"


def context(tmp_path: Path, **config: Any) -> SourceContext:
    return SourceContext(config=config, cursor=None, work_dir=tmp_path, full=True)


def test_jira_logs_in_with_the_url_credentials_and_links_without_them(tmp_path: Path) -> None:
    with FakeJira(email=EMAIL, token=PASSWORD) as jira:
        for n in range(1, 4):  # over two pages
            jira.add_issue(f"PROJ-{n}", f"Ticket {n}", DAY + timedelta(days=n))
        site = with_login(jira, EMAIL, PASSWORD)
        items = items_of(JiraSource(context(tmp_path, base_url=site, project="PROJ"), POLICY))

        found = [i for i in items if isinstance(i, SourceDocument)]
        assert [d.url for d in found] == [f"{jira.url}/browse/PROJ-{n}" for n in range(1, 4)]
        assert_never_shown(items, PASSWORD, "ann%40")
        assert {r.headers.get("authorization") for r in jira.requests} == {basic(EMAIL, PASSWORD)}

        wrong = with_login(jira, EMAIL, "wrong-" + PASSWORD)
        with pytest.raises(SourceError) as failed:
            items_of(JiraSource(context(tmp_path, base_url=wrong, project="PROJ"), POLICY))
        assert PASSWORD not in str(failed.value) and "ann%40" not in str(failed.value)


def test_confluence_logs_in_with_the_url_credentials_and_links_without_them(
    tmp_path: Path,
) -> None:
    with FakeConfluence(email=EMAIL, token=PASSWORD) as wiki:
        for n in range(1, 4):
            wiki.add_page(str(100 + n), "ENG", f"Page {n}", "<p>text</p>", DAY)
        site = with_login(wiki, EMAIL, PASSWORD, "/wiki")
        config = {"base_url": site, "spaces": ["ENG"]}
        items = items_of(ConfluenceSource(context(tmp_path, **config), POLICY))

        found = [i for i in items if isinstance(i, SourceDocument)]
        assert len(found) == 3
        assert all(d.url.startswith(f"{wiki.url}/wiki/spaces/ENG/") for d in found)
        assert_never_shown(items, PASSWORD, "ann%40")
        assert {r.headers.get("authorization") for r in wiki.requests} == {basic(EMAIL, PASSWORD)}


def test_github_logs_in_with_the_url_credentials_and_follows_its_pages(tmp_path: Path) -> None:
    with FakeGitHub(page_size=2) as github:
        for n in range(1, 4):  # two pages: the next page's link is on the same origin
            github.add_issue(n, f"Issue {n}", f"2024-01-0{n}T09:00:00Z")
        api = with_login(github, "x-access-token", PASSWORD)
        config = {"repository": github.repository, "api_url": api}
        items = items_of(GitHubSource(context(tmp_path, **config), POLICY))

        assert len([i for i in items if isinstance(i, SourceDocument)]) == 3
        assert_never_shown(items, PASSWORD)
        assert {r.headers.get("authorization") for r in github.requests} == {
            basic("x-access-token", PASSWORD)
        }

        missing = {"repository": "octo/missing", "api_url": api}
        with pytest.raises(SourceError) as failed:
            items_of(GitHubSource(context(tmp_path / "m", **missing), POLICY))
        assert PASSWORD not in str(failed.value)


def test_the_example_feed_connector_never_shows_the_url_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(__file__).parents[2] / "plugins/example-plugin/projectqa_example_plugin/feed.py"
    spec = importlib.util.spec_from_file_location("example_feed_under_test", path)
    assert spec and spec.loader
    feed = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, feed)  # its dataclasses look themselves up
    spec.loader.exec_module(feed)
    with FakeFeed("<rss><channel><title>News</title></channel></rss>") as server:
        for target in ("/missing.xml", "/feed.xml"):
            url = with_login(server, "reader", PASSWORD, target)
            source = feed.open_source(context(tmp_path, url=url))
            if target == "/feed.xml":  # answers, but with no feed in it
                server.document = "<html/>"
            with pytest.raises(SourceError) as failed:
                items_of(source)
            assert PASSWORD not in str(failed.value), failed.value
            assert server.url in str(failed.value)


def test_a_git_connector_saved_with_an_scp_style_password_does_not_run(tmp_path: Path) -> None:
    from projectqa.plugins.git import GitSource

    url = f"bob:{PASSWORD}@example.com:repo.git"
    context = SourceContext({"url": url}, None, tmp_path / "work")
    with pytest.raises(SourceError, match="scp-style") as refused:
        list(GitSource(context).items())
    assert PASSWORD not in str(refused.value)
