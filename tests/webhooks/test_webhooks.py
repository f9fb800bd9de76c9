"""The webhook endpoint over real HTTP: signatures, deduplication, triggering, failures."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from projectqa.server.errors import StoreUnavailable
from projectqa.server.models import utcnow
from projectqa.server.store import SqliteStore, sqlite_ingest
from projectqa.server.store.base import DeliveryKey
from projectqa.server.webhooks import (
    DELIVERY_ID_RETENTION,
    generic_message,
    sign,
    signature_matches,
)
from tests.waiting import eventually

from .conftest import (
    MAX_BODY_BYTES,
    REPLAY_WINDOW_S,
    SECRET,
    Site,
    make_connector,
    payload,
    serving,
)

UNAUTHORIZED = {"error": "unauthorized"}


def github_headers(event: str, body: bytes, secret: str | None = SECRET, **extra: str) -> dict:
    """The headers GitHub sends with a delivery (see its "Webhook events" docs)."""
    headers = {
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-GitHub-Hook-Installation-Target-ID": "79929171",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers | extra


def generic_headers(body: bytes, timestamp: str | None = None, **extra: str) -> dict:
    headers = {
        "Content-Type": "application/json",
        "X-ProjectQA-Delivery": str(uuid.uuid4()),
        "X-ProjectQA-Event": "jira:issue_updated",
        "X-ProjectQA-Signature-256": sign(SECRET, generic_message(body, timestamp)),
    }
    if timestamp is not None:
        headers["X-ProjectQA-Timestamp"] = timestamp
    return headers | extra


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict
) -> tuple[int, Any]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


def github_url(site: Site, connector_id: str | None = None) -> str:
    return f"{site.url}/webhooks/github/{connector_id or site.connector.id}"


def generic_url(site: Site, connector_id: str | None = None) -> str:
    return f"{site.url}/webhooks/generic/{connector_id or site.connector.id}"


def was_recorded(site: Site, delivery_id: str) -> bool:
    # record_delivery is the only way to ask; a fresh id is recorded by asking, which is harmless
    # at the end of a test.
    return not site.store.record_delivery(delivery_id, site.connector.id, utcnow())


# ------------------------------------------------------------- signatures
def test_github_published_test_vector() -> None:
    """From GitHub's "Validating webhook deliveries"."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == expected
    assert signature_matches("It's a Secret to Everybody", b"Hello, World!", expected)
    assert not signature_matches("It's a Secret to Everybody", b"Hello, World?", expected)
    assert not signature_matches("It's a Secret to Everybody", b"Hello, World!", None)
    assert not signature_matches("It's a Secret to Everybody", b"Hello, World!", "sha256=ü")


def test_generic_message_prefixes_the_timestamp() -> None:
    assert generic_message(b"{}", None) == b"{}"
    assert generic_message(b"{}", "1700000000") == b"1700000000.{}"
    assert generic_message(b"{}", "\udcff") == b"\xff.{}"  # a raw header byte aiohttp kept


# ---------------------------------------------------------------- github
@pytest.mark.parametrize("event", ["push", "issues", "pull_request"])
async def test_github_event_triggers_one_incremental_run(
    site: Site, http: aiohttp.ClientSession, event: str
) -> None:
    body = payload(event)
    headers = github_headers(event, body)
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (202, {"run_id": "run_0001"})
    delivery_id = headers["X-GitHub-Delivery"]
    assert site.trigger.calls == [(site.connector.id, f"github {event} {delivery_id}")]
    assert was_recorded(site, delivery_id)


async def test_ping_answers_without_a_run(site: Site, http: aiohttp.ClientSession) -> None:
    body = payload("ping")
    headers = github_headers("ping", body)
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (200, {"ok": True, "event": "ping"})
    assert site.trigger.calls == []
    assert not was_recorded(site, headers["X-GitHub-Delivery"])


async def test_replayed_delivery_starts_no_second_run(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = payload("push")
    headers = github_headers("push", body)
    first = await post(http, github_url(site), body, headers)
    replay = await post(http, github_url(site), body, headers)
    assert first == (202, {"run_id": "run_0001"})
    assert replay == (200, {"duplicate": True})
    assert len(site.trigger.calls) == 1


# ------------------------------------------------------ replayed bodies
# GitHub signs the body but not the delivery id: a captured delivery sent again with a fresh id
# verifies. One signed body starts at most one run per connector and replay window.
async def test_same_body_with_a_fresh_delivery_id_starts_no_second_run(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = payload("push")
    first = await post(http, github_url(site), body, github_headers("push", body))
    replay_headers = github_headers("push", body)
    replay = await post(http, github_url(site), body, replay_headers)
    assert first == (202, {"run_id": "run_0001"})
    assert replay == (200, {"duplicate": True})
    assert len(site.trigger.calls) == 1
    # Refused before its id was recorded: replays do not grow the store.
    assert not was_recorded(site, replay_headers["X-GitHub-Delivery"])


async def test_same_body_after_the_window_starts_a_run_again(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = payload("push")
    await post(http, github_url(site), body, github_headers("push", body))
    site.clock.advance(REPLAY_WINDOW_S)
    inside = await post(http, github_url(site), body, github_headers("push", body))
    site.clock.advance(1)
    after = await post(http, github_url(site), body, github_headers("push", body))
    assert inside == (200, {"duplicate": True})
    assert after == (202, {"run_id": "run_0001"})
    assert len(site.trigger.calls) == 2


async def test_different_bodies_start_a_run_each(site: Site, http: aiohttp.ClientSession) -> None:
    for event in ("push", "issues"):
        body = payload(event)
        status, _ = await post(http, github_url(site), body, github_headers(event, body))
        assert status == 202
    other = b'{"webhookEvent": "jira:issue_updated", "issue": {"key": "PROJ-43"}}'
    for body in (b'{"issue": {"key": "PROJ-42"}}', other):
        status, _ = await post(http, generic_url(site), body, generic_headers(body))
        assert status == 202
    assert len(site.trigger.calls) == 4


async def test_a_github_body_replayed_on_the_generic_route_is_a_replay(
    site: Site, http: aiohttp.ClientSession
) -> None:
    """The generic route without a timestamp verifies the same HMAC of the same body."""
    body = payload("push")
    signed = github_headers("push", body)
    await post(http, github_url(site), body, signed)
    headers = generic_headers(body, **{"X-ProjectQA-Signature-256": signed["X-Hub-Signature-256"]})
    assert await post(http, generic_url(site), body, headers) == (200, {"duplicate": True})
    assert len(site.trigger.calls) == 1


async def test_the_same_body_on_another_connector_is_not_a_replay(
    site: Site, http: aiohttp.ClientSession
) -> None:
    other = make_connector(site.connector.project_id, "gh-other", {"webhook_secret": SECRET})
    site.store.create_connector(other)
    body = payload("push")
    for connector_id in (site.connector.id, other.id):
        url = github_url(site, connector_id)
        assert (await post(http, url, body, github_headers("push", body)))[0] == 202
    assert len(site.trigger.calls) == 2


async def test_a_replay_is_refused_by_another_replica_of_the_same_store(
    site: Site, http: aiohttp.ClientSession
) -> None:
    """The window lives in the Store: a second server (a replica, or after a restart) sees it."""
    body = payload("push")
    await post(http, github_url(site), body, github_headers("push", body))
    async with serving(site.store, site.trigger, site.clock) as replica:
        url = f"{replica}/webhooks/github/{site.connector.id}"
        assert await post(http, url, body, github_headers("push", body)) == (
            200,
            {"duplicate": True},
        )
    assert len(site.trigger.calls) == 1


async def test_a_zero_window_turns_the_body_check_off(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = payload("push")
    async with serving(site.store, site.trigger, site.clock, replay_window_s=0) as url:
        for _ in range(2):
            target = f"{url}/webhooks/github/{site.connector.id}"
            assert (await post(http, target, body, github_headers("push", body)))[0] == 202
    assert len(site.trigger.calls) == 2


class StoreOutage:
    """Makes the store's delivery writes fail (as an unreachable store does) while ``down``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: SqliteStore) -> None:
        self.down = True
        self.forget_attempts = 0
        delete = store.delete_deliveries

        def delete_unless_down(*args: Any) -> int:
            self.forget_attempts += 1
            if self.down:
                raise StoreUnavailable("store unreachable")
            return delete(*args)

        monkeypatch.setattr(store, "delete_deliveries", delete_unless_down)

    def fail_delivery_ids(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Recording a delivery id (not a body key) fails, inside the store's transaction."""
        record = sqlite_ingest._record_delivery

        def record_unless_down(connector_id: str, key: DeliveryKey, at: Any) -> Any:
            if self.down and not key.key.startswith("#body:"):
                raise StoreUnavailable("store unreachable")
            return record(connector_id, key, at)

        monkeypatch.setattr(sqlite_ingest, "_record_delivery", record_unless_down)


async def test_a_delivery_id_that_cannot_be_recorded_leaves_no_body_key_behind(
    site: Site, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails after the body key and fails the forget too: the retry must work."""
    outage = StoreOutage(monkeypatch, site.store)
    outage.fail_delivery_ids(monkeypatch)
    body = payload("push")
    headers = github_headers("push", body)
    assert await post(http, github_url(site), body, headers) == (
        503,
        {"error": "temporarily unavailable"},
    )
    outage.down = False
    assert await post(http, github_url(site), body, headers) == (202, {"run_id": "run_0001"})
    assert len(site.trigger.calls) == 1


async def test_a_run_not_started_with_the_store_down_is_forgotten_once_it_is_back(
    site: Site, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 so the sender retries; the records go as soon as the store answers again."""
    outage = StoreOutage(monkeypatch, site.store)
    site.trigger.error = StoreUnavailable("store unreachable")
    body = payload("push")
    headers = github_headers("push", body)
    assert await post(http, github_url(site), body, headers) == (
        503,
        {"error": "temporarily unavailable"},
    )
    site.trigger.error = None
    assert await eventually(lambda: outage.forget_attempts >= 2)  # the first forget failed
    outage.down = False
    attempts = outage.forget_attempts
    # a retry after the store is back
    assert await eventually(lambda: outage.forget_attempts > attempts)
    assert await post(http, github_url(site), body, headers) == (202, {"run_id": "run_0001"})
    assert len(site.trigger.calls) == 2


async def test_old_delivery_records_are_pruned_behind_the_answers(
    site: Site, http: aiohttp.ClientSession
) -> None:
    now = datetime.fromtimestamp(site.clock(), UTC)
    old, recent = now - DELIVERY_ID_RETENTION - timedelta(seconds=1), now - timedelta(days=1)
    site.store.record_delivery("old-delivery", site.connector.id, old)
    site.store.record_delivery("recent-delivery", site.connector.id, recent)
    async with serving(site.store, site.trigger, site.clock, prune_every=2) as url:
        for number in range(2):
            body = json.dumps({"ref": f"refs/heads/b{number}"}).encode()
            target = f"{url}/webhooks/github/{site.connector.id}"
            assert (await post(http, target, body, github_headers("push", body)))[0] == 202

        def pruned() -> bool:
            return site.store.record_delivery("old-delivery", site.connector.id, old)

        assert await eventually(pruned)
    assert not site.store.record_delivery("recent-delivery", site.connector.id, recent)


async def test_replays_within_the_window_are_logged_as_such(
    site: Site, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="projectqa.webhooks")
    body = payload("push")
    await post(http, github_url(site), body, github_headers("push", body))
    await post(http, github_url(site), body, github_headers("push", body))
    outcomes = [r.outcome for r in caplog.records if r.name == "projectqa.webhooks"]
    assert outcomes == ["run run_0001", "duplicate body"]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        sign("not-the-secret", payload("push")),
        sign(SECRET, b"another body"),
        "sha1=" + "0" * 40,
        "sha256=" + sign(SECRET, payload("push")).removeprefix("sha256=").upper(),
    ],
    ids=["missing", "empty", "other-secret", "other-body", "sha1", "uppercase-hex"],
)
async def test_bad_signature_is_refused(
    site: Site, http: aiohttp.ClientSession, signature: str | None
) -> None:
    body = payload("push")
    headers = github_headers("push", body, secret=None)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (401, UNAUTHORIZED)
    assert site.trigger.calls == []
    assert not was_recorded(site, headers["X-GitHub-Delivery"])


async def test_unknown_connector_and_missing_secret_look_like_a_bad_signature(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = payload("push")
    for connector_id in ("con_doesnotexist", site.bare_connector.id, "x" * 500):
        headers = github_headers("push", body)
        status, answer = await post(http, github_url(site, connector_id), body, headers)
        assert (status, answer) == (401, UNAUTHORIZED)
    assert site.trigger.calls == []


async def test_oversized_body_is_refused(site: Site, http: aiohttp.ClientSession) -> None:
    body = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    status, answer = await post(http, github_url(site), body, github_headers("push", body))
    assert status == 413
    assert answer == {"error": "request body too large"}
    assert site.trigger.calls == []


async def test_other_events_are_acknowledged_and_ignored(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = b'{"action": "started", "repository": {"full_name": "octocat/Hello-World"}}'
    headers = github_headers("watch", body)
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (202, {"ignored": True, "event": "watch"})
    assert site.trigger.calls == []


async def test_missing_delivery_header_is_a_bad_request(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = payload("push")
    headers = github_headers("push", body)
    del headers["X-GitHub-Delivery"]
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (400, {"error": "missing X-GitHub-Delivery header"})
    assert site.trigger.calls == []


async def test_signed_body_that_is_not_json_is_a_bad_request(
    site: Site, http: aiohttp.ClientSession
) -> None:
    body = b"ref=refs/heads/main"
    status, answer = await post(http, github_url(site), body, github_headers("push", body))
    assert (status, answer) == (400, {"error": "payload is not valid JSON"})
    assert site.trigger.calls == []


async def test_form_encoded_delivery_is_accepted(site: Site, http: aiohttp.ClientSession) -> None:
    """GitHub's other content type: the JSON in a ``payload`` form field, signed as sent."""
    body = urlencode({"payload": payload("issues").decode()}).encode()
    content_type = {"Content-Type": "application/x-www-form-urlencoded"}
    headers = github_headers("issues", body, **content_type)
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (202, {"run_id": "run_0001"})


# ------------------------------------------------------------ run outcomes
async def test_coalesced_run(site: Site, http: aiohttp.ClientSession) -> None:
    site.trigger.result = None
    body = payload("push")
    status, answer = await post(http, github_url(site), body, github_headers("push", body))
    assert (status, answer) == (202, {"coalesced": True})
    assert len(site.trigger.calls) == 1


async def test_failed_trigger_answers_503_and_allows_redelivery(
    site: Site, http: aiohttp.ClientSession
) -> None:
    site.trigger.error = RuntimeError("scheduler exploded at /srv/secret/path")
    body = payload("push")
    headers = github_headers("push", body)
    status, answer = await post(http, github_url(site), body, headers)
    assert (status, answer) == (503, {"error": "temporarily unavailable"})

    site.trigger.error = None
    redelivery = await post(http, github_url(site), body, headers)
    assert redelivery == (202, {"run_id": "run_0001"})
    assert len(site.trigger.calls) == 2


async def test_unreachable_store_answers_503(site: Site, http: aiohttp.ClientSession) -> None:
    site.store.close()
    body = payload("push")
    status, answer = await post(http, github_url(site), body, github_headers("push", body))
    assert (status, answer) == (503, {"error": "temporarily unavailable"})
    assert site.trigger.calls == []
    with pytest.raises(StoreUnavailable):
        site.store.ping()


# --------------------------------------------------------------- generic
async def test_generic_delivery_without_timestamp(site: Site, http: aiohttp.ClientSession) -> None:
    body = b'{"webhookEvent": "jira:issue_updated", "issue": {"key": "PROJ-42"}}'
    headers = generic_headers(body)
    status, answer = await post(http, generic_url(site), body, headers)
    assert (status, answer) == (202, {"run_id": "run_0001"})
    delivery_id = headers["X-ProjectQA-Delivery"]
    assert site.trigger.calls == [(site.connector.id, f"generic jira:issue_updated {delivery_id}")]
    assert await post(http, generic_url(site), body, headers) == (200, {"duplicate": True})


def timestamp_at(site: Site, offset_s: float = 0) -> str:
    """A timestamp header ``offset_s`` away from the server's (injected) clock."""
    return str(int(site.clock.now + offset_s))


@pytest.mark.parametrize("offset_s", [0, -300, 300], ids=["now", "oldest", "newest"])
async def test_generic_delivery_with_timestamp(
    site: Site, http: aiohttp.ClientSession, offset_s: int
) -> None:
    body = b'{"page": {"id": "65538"}}'
    headers = generic_headers(body, timestamp=timestamp_at(site, offset_s))
    status, answer = await post(http, generic_url(site), body, headers)
    assert (status, answer) == (202, {"run_id": "run_0001"})


# Offsets from the server's clock, applied inside the test: a time taken at collection would
# drift into the window when the suite runs long (it did, on a loaded machine).
@pytest.mark.parametrize("offset_s", [-301, 301, -600, 600, None], ids=str)
async def test_generic_stale_or_malformed_timestamp_is_refused(
    site: Site, http: aiohttp.ClientSession, offset_s: int | None
) -> None:
    body = b'{"page": {"id": "65538"}}'
    timestamp = "yesterday" if offset_s is None else timestamp_at(site, offset_s)
    headers = generic_headers(body, timestamp=timestamp)
    status, answer = await post(http, generic_url(site), body, headers)
    assert (status, answer) == (401, UNAUTHORIZED)
    assert site.trigger.calls == []
    assert not was_recorded(site, headers["X-ProjectQA-Delivery"])


async def test_generic_timestamp_must_be_signed(site: Site, http: aiohttp.ClientSession) -> None:
    body = b'{"page": {"id": "65538"}}'
    headers = generic_headers(body, **{"X-ProjectQA-Timestamp": timestamp_at(site)})
    status, answer = await post(http, generic_url(site), body, headers)
    assert (status, answer) == (401, UNAUTHORIZED)


async def test_generic_delivery_id_is_required(site: Site, http: aiohttp.ClientSession) -> None:
    body = b"{}"
    headers = generic_headers(body)
    del headers["X-ProjectQA-Delivery"]
    status, answer = await post(http, generic_url(site), body, headers)
    assert (status, answer) == (400, {"error": "missing X-ProjectQA-Delivery header"})


async def test_generic_bad_signature(site: Site, http: aiohttp.ClientSession) -> None:
    body = b"{}"
    headers = generic_headers(body, **{"X-ProjectQA-Signature-256": sign("guess", body)})
    status, answer = await post(http, generic_url(site), body, headers)
    assert (status, answer) == (401, UNAUTHORIZED)
    assert site.trigger.calls == []


# ------------------------------------------------------------ operations
async def test_healthz(site: Site, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{site.url}/healthz") as response:
        assert response.status == 200


async def test_one_log_line_per_request_without_body_or_secret(
    site: Site, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="projectqa.webhooks")
    body = payload("issues")
    headers = github_headers("issues", body)
    await post(http, github_url(site), body, headers)
    await post(http, github_url(site), body, github_headers("issues", body, secret="wrong"))

    records = [r for r in caplog.records if r.name == "projectqa.webhooks"]
    assert [(r.status, r.outcome) for r in records] == [
        (202, "run run_0001"),
        (401, "unauthorized: missing or wrong signature"),
    ]
    assert records[0].delivery_id == headers["X-GitHub-Delivery"]
    assert records[0].connector_id == site.connector.id
    assert records[0].event == "issues"
    assert SECRET not in caplog.text
    assert "Found a bug" not in caplog.text
    assert headers["X-Hub-Signature-256"] not in caplog.text
