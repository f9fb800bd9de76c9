"""HTTP webhooks: verified push events that start incremental ingestion runs.

An aiohttp server, in the gRPC server's process on its own port, with three routes:

``POST /webhooks/github/{connector_id}``
    GitHub deliveries, verified with ``X-Hub-Signature-256: sha256=<hex>``: the HMAC-SHA256 of
    the raw body under the connector's ``webhook_secret``. ``push``, ``issues``,
    ``issue_comment``, ``pull_request``, ``pull_request_review`` and
    ``pull_request_review_comment`` start an incremental run of that connector; ``ping`` is
    answered without one; any other event is acknowledged and ignored (logged, not stored).

``POST /webhooks/generic/{connector_id}``
    Any other source (Jira, Confluence, CI). The sender sets:

    - ``X-ProjectQA-Delivery``: a unique id for this delivery (required; reused on retries).
    - ``X-ProjectQA-Timestamp``: optional unix seconds. When present it is signed too, and a
      delivery more than five minutes away from the server's clock is refused (replay window).
    - ``X-ProjectQA-Event``: optional event name, only used in logs and the run's reason.
    - ``X-ProjectQA-Signature-256: sha256=<hex>``: HMAC-SHA256 under the connector's
      ``webhook_secret`` of ``<timestamp>.<raw body>`` with a timestamp, else of the raw body.

    For example, with a shell::

        body='{"issue": "PROJ-42"}'
        ts=$(date +%s)
        sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" \\
              | awk '{print $NF}')
        curl -X POST "http://localhost:8081/webhooks/generic/$CONNECTOR_ID" \\
             -H "X-ProjectQA-Delivery: $(uuidgen)" -H "X-ProjectQA-Timestamp: $ts" \\
             -H "X-ProjectQA-Signature-256: sha256=$sig" \\
             -H 'Content-Type: application/json' --data-binary "$body"

``GET /healthz``
    200 while the server runs.

Answers: 202 ``{"run_id": ...}`` when a run was queued, 202 ``{"coalesced": true}`` when the
connector already had an active run that will pick the change up, 200 ``{"duplicate": true}``
for a delivery id seen before. An unknown connector, a connector without a webhook secret, a
missing or wrong signature and a stale timestamp all get the same 401, so a caller cannot tell
them apart. 400 for missing headers or a body that is not the JSON it claims to be, 413 for a
body over the size cap, 503 when the store cannot be reached or the run could not be started
(retry), 500 (generic message) otherwise.

Deduplication: the (connector, delivery id) pair is recorded in the store *before* the run is
triggered, so two replicas or two racing retries of one delivery cannot both start a run. If
triggering then fails, the answer is 503 and the record is deleted again
(``Store.delete_deliveries``; with the store down, retried a few times over ~2.5 minutes), so
the sender's retry, or GitHub's "Redeliver" button, which resends the same delivery id, still
works. Ignored events and pings are not recorded. Records are pruned behind the answers:
delivery ids after ``DELIVERY_ID_RETENTION`` (GitHub redelivers up to three days back), body
hashes after the replay window.

Replayed bodies: neither GitHub nor a generic sender without a timestamp signs the delivery
id, so whoever captured one delivery could resend it with fresh ids. The SHA-256 of what the
signature covers (the body, or ``<timestamp>.<body>``) is therefore recorded too, in the same
store table under a key no delivery id can take, in the same store call as the delivery id
(all or none: a body key left alone would turn the retry away), and the same signed message
starts at most one run per connector within ``replay_window_s``
(``PROJECTQA_WEBHOOK_REPLAY_WINDOW_S``, default an hour; 0 turns the check off). Such a
replay gets 200 ``{"duplicate": true}``. A generic sender whose bodies can repeat (``{}`` on
every change) should send ``X-ProjectQA-Timestamp``, which makes each message different;
otherwise changes within the window wait for the next run.
The GitHub body of a delivery replayed to the generic route (same HMAC) is caught as well.

The handler never waits for the run: ``trigger`` only creates or queues it, so GitHub gets its
answer well within its ten-second limit. Each request logs one line (source, event, connector
id, delivery id, outcome); bodies, signatures and secrets are never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from .errors import StoreUnavailable
from .models import Connector
from .store import Store
from .store.base import DeliveryKey
from .threads import BlockingRunner

log = logging.getLogger("projectqa.webhooks")

TriggerRun = Callable[[Connector, str], Awaitable[str | None]]
"""``(connector, reason) -> run id``, or None when coalesced into the connector's active run."""

SECRET_FIELD = "webhook_secret"
GITHUB_RUN_EVENTS = frozenset(
    {
        "push",
        "issues",
        "issue_comment",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
    }
)
TIMESTAMP_WINDOW_S = 300
DEFAULT_REPLAY_WINDOW_S = 3600.0
DEFAULT_MAX_BODY_BYTES = 5 * 2**20
# A delivery whose run could not be started is forgotten again; with the store down, retried
# this many times, FORGET_RETRY_S, then twice as long each time (5 s to 80 s: ~2.5 min).
FORGET_RETRIES = 5
FORGET_RETRY_S = 5.0
# Delivery ids are kept this long (GitHub redelivers up to 3 days back), body keys the replay
# window: every PRUNE_EVERY recorded deliveries, at most PRUNE_LIMIT older records go.
DELIVERY_ID_RETENTION = timedelta(days=7)
PRUNE_EVERY = 100
PRUNE_LIMIT = 1000
# The store key of a signed message's hash: "#" is outside _TOKEN, so no delivery id is one.
BODY_KEY_PREFIX = "#body:"

GITHUB_SIGNATURE = "X-Hub-Signature-256"
GITHUB_DELIVERY = "X-GitHub-Delivery"
GITHUB_EVENT = "X-GitHub-Event"
GENERIC_SIGNATURE = "X-ProjectQA-Signature-256"
GENERIC_DELIVERY = "X-ProjectQA-Delivery"
GENERIC_TIMESTAMP = "X-ProjectQA-Timestamp"
GENERIC_EVENT = "X-ProjectQA-Event"

# Header values end up in the store, the run's reason and the logs: keep them to a safe shape.
_TOKEN = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_CONNECTOR_ID_MAX = 128


def sign(secret: str, message: bytes) -> str:
    """The signature header value for ``message``: ``sha256=`` and the hex HMAC-SHA256."""
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_matches(secret: str, message: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``message``, compared in constant time."""
    if not header:
        return False
    # Bytes on both sides: compare_digest refuses non-ASCII str, and headers are caller input.
    expected = sign(secret, message).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "surrogateescape"))


def generic_message(body: bytes, timestamp: str | None) -> bytes:
    """What the generic endpoint signs: ``<timestamp>.<body>``, or the body alone."""
    if timestamp is None:
        return body
    return f"{timestamp}.".encode("utf-8", "surrogateescape") + body


class _Unauthorized(Exception):
    """Refused for a reason only the log may know (the caller gets one common 401)."""


class _BadRequest(Exception):
    """The request is authentic but malformed; the message is safe to return."""


class _NotStarted(Exception):
    """The delivery was recorded but its run could not be started (and it was forgotten)."""


@dataclass(slots=True)
class _Delivery:
    source: str  # "github" | "generic"
    connector_id: str
    event: str
    delivery_id: str
    body_key: str = ""  # BODY_KEY_PREFIX and the hash of the signed message, once verified


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    outcome: str  # for the log line
    body: dict[str, Any]


_UNAUTHORIZED_BODY = {"error": "unauthorized"}


class WebhookServer:
    """The webhook endpoints; ``start`` binds them, ``app`` serves them to test utilities."""

    def __init__(
        self,
        store: Store,
        trigger: TriggerRun,
        run_blocking: BlockingRunner,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
        clock: Callable[[], float] = time.time,
        forget_retry_s: float = FORGET_RETRY_S,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        self._store = store
        self._trigger = trigger
        self._run_blocking = run_blocking
        self._replay_window = timedelta(seconds=replay_window_s)
        self._clock = clock  # unix seconds; injected by tests
        self._forget_retry_s = forget_retry_s
        self._prune_every, self._since_prune = prune_every, 0
        self._background: set[asyncio.Task[object]] = set()
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=max_body_bytes)
        self.app.router.add_post("/webhooks/github/{connector_id}", self._github)
        self.app.router.add_post("/webhooks/generic/{connector_id}", self._generic)
        self.app.router.add_get("/healthz", self._healthz)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port) and return the bound port."""
        # Our own line per request replaces aiohttp's access log.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ---------------------------------------------------------------- routes
    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _github(self, request: web.Request) -> web.Response:
        delivery = _Delivery(
            "github",
            request.match_info["connector_id"],
            request.headers.get(GITHUB_EVENT, ""),
            request.headers.get(GITHUB_DELIVERY, ""),
        )
        return await self._answer(delivery, self._github_delivery(request, delivery))

    async def _generic(self, request: web.Request) -> web.Response:
        delivery = _Delivery(
            "generic",
            request.match_info["connector_id"],
            request.headers.get(GENERIC_EVENT, "event"),
            request.headers.get(GENERIC_DELIVERY, ""),
        )
        return await self._answer(delivery, self._generic_delivery(request, delivery))

    # ------------------------------------------------------------- handlers
    async def _github_delivery(self, request: web.Request, delivery: _Delivery) -> _Answer:
        body = await request.read()
        header = request.headers.get(GITHUB_SIGNATURE)
        connector = await self._authenticate(delivery, body, header)
        _require_token(delivery.delivery_id, GITHUB_DELIVERY)
        _require_token(delivery.event, GITHUB_EVENT)
        _require_json(request.content_type, body)
        if delivery.event == "ping":
            return _Answer(200, "ping", {"ok": True, "event": "ping"})
        if delivery.event not in GITHUB_RUN_EVENTS:
            return _Answer(202, "ignored", {"ignored": True, "event": delivery.event})
        return await self._start_run(connector, delivery)

    async def _generic_delivery(self, request: web.Request, delivery: _Delivery) -> _Answer:
        body = await request.read()
        timestamp = request.headers.get(GENERIC_TIMESTAMP)
        message = generic_message(body, timestamp)
        header = request.headers.get(GENERIC_SIGNATURE)
        connector = await self._authenticate(delivery, message, header)
        if timestamp is not None and not _is_fresh(timestamp, self._clock()):
            raise _Unauthorized("timestamp outside the replay window")
        _require_token(delivery.delivery_id, GENERIC_DELIVERY)
        _require_token(delivery.event, GENERIC_EVENT)
        return await self._start_run(connector, delivery)

    async def _authenticate(
        self, delivery: _Delivery, message: bytes, header: str | None
    ) -> Connector:
        """The connector, if ``header`` signs ``message`` under its secret; notes the
        message's hash on ``delivery`` for the replay check."""
        if len(delivery.connector_id) > _CONNECTOR_ID_MAX:
            raise _Unauthorized("unknown connector")
        connector = await self._run_blocking(self._store.get_connector, delivery.connector_id)
        if connector is None:
            raise _Unauthorized("unknown connector")
        secret = connector.secrets.get(SECRET_FIELD)
        if not isinstance(secret, str) or not secret:
            raise _Unauthorized("connector has no webhook secret")
        if not signature_matches(secret, message, header):
            raise _Unauthorized("missing or wrong signature")
        delivery.body_key = BODY_KEY_PREFIX + hashlib.sha256(message).hexdigest()
        return connector

    async def _start_run(self, connector: Connector, delivery: _Delivery) -> _Answer:
        # Record first: the store's unique keys are what stop two replicas (or two racing
        # retries) from both starting a run for one delivery, or for one replayed body. Both
        # keys in one store call, all or none: a body key left behind alone would answer the
        # sender's retry "duplicate" for the whole window.
        now = datetime.fromtimestamp(self._clock(), UTC)
        keys = [DeliveryKey(delivery.delivery_id)]
        if self._replay_window:
            keys.insert(0, DeliveryKey(delivery.body_key, now - self._replay_window))
        record = partial(self._store.record_deliveries, connector.id, keys, now)
        held = await self._run_blocking(record)
        if held is not None:
            outcome = "duplicate body" if held == delivery.body_key else "duplicate"
            return _Answer(200, outcome, {"duplicate": True})
        self._prune_now_and_then(now)
        reason = f"{delivery.source} {delivery.event} {delivery.delivery_id}"
        try:
            run_id = await self._trigger(connector, reason)
        except Exception as exc:
            await self._forget([key.key for key in keys], delivery, connector.id)
            raise _NotStarted() from exc
        if run_id is None:
            return _Answer(202, "coalesced", {"coalesced": True})
        return _Answer(202, f"run {run_id}", {"run_id": run_id})

    async def _forget(self, keys: list[str], delivery: _Delivery, connector_id: str) -> None:
        """Undo the records of a delivery whose run could not be started, so a retry works:
        now, or, the store being down (as it often is then), a few times later."""
        forget = partial(self._store.delete_deliveries, connector_id, keys)
        if not await self._succeeds(forget):
            self._later(self._forget_later(forget, delivery, connector_id))

    async def _forget_later(
        self, forget: Callable[[], int], delivery: _Delivery, connector_id: str
    ) -> None:
        for attempt in range(FORGET_RETRIES):
            await asyncio.sleep(self._forget_retry_s * 2**attempt)
            if await self._succeeds(forget):
                return
        log.warning(
            "could not forget a failed delivery: a redelivery is taken for a duplicate",
            extra={"delivery_id": delivery.delivery_id, "connector_id": connector_id},
        )

    async def _succeeds(self, call: Callable[[], object]) -> bool:
        try:
            await self._run_blocking(call)
        except Exception:
            return False
        return True

    def _prune_now_and_then(self, now: datetime) -> None:
        """Forget old records every ``prune_every`` recorded deliveries, a bounded number at
        a time (more than the deliveries between two prunings record), behind the answer."""
        self._since_prune += 1
        if self._since_prune < self._prune_every:
            return
        self._since_prune = 0
        cutoff = now - max(self._replay_window, DELIVERY_ID_RETENTION)
        prune = partial(self._store.prune_deliveries, cutoff, PRUNE_LIMIT)
        self._later(self._succeeds(prune))

    def _later(self, work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` behind the answer; ``stop`` cancels what is left of it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --------------------------------------------------------------- answers
    async def _answer(self, delivery: _Delivery, handling: Awaitable[_Answer]) -> web.Response:
        """Run a handler, turn its failures into HTTP answers, and log one line."""
        level, exc_info = logging.INFO, False
        try:
            answer = await handling
        except _Unauthorized as refused:
            answer = _Answer(401, f"unauthorized: {refused}", _UNAUTHORIZED_BODY)
        except _BadRequest as bad:
            answer = _Answer(400, f"bad request: {bad}", {"error": str(bad)})
        except web.HTTPRequestEntityTooLarge:
            answer = _Answer(413, "body too large", {"error": "request body too large"})
        except StoreUnavailable:
            level = logging.WARNING
            answer = _Answer(503, "store unavailable", {"error": "temporarily unavailable"})
        except _NotStarted as failed:
            # The sender should retry: the records are forgotten (or will be, once reachable).
            unavailable = isinstance(failed.__cause__, StoreUnavailable)
            level, exc_info = (logging.WARNING, False) if unavailable else (logging.ERROR, True)
            answer = _Answer(503, "run not started", {"error": "temporarily unavailable"})
        except Exception:
            level, exc_info = logging.ERROR, True
            answer = _Answer(500, "internal error", {"error": "internal error"})
        _log(delivery, answer, level, exc_info)
        return web.json_response(answer.body, status=answer.status)


def _require_token(value: str, header: str) -> None:
    if not value:
        raise _BadRequest(f"missing {header} header")
    if not _TOKEN.fullmatch(value):
        raise _BadRequest(f"malformed {header} header")


def _require_json(content_type: str, body: bytes) -> None:
    """GitHub sends JSON, or a form with the JSON in its ``payload`` field."""
    if content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"))
        body = (fields.get("payload") or [""])[0].encode("utf-8")
    elif content_type != "application/json":
        raise _BadRequest("content type must be application/json")
    try:
        payload = json.loads(body)
    except ValueError:
        raise _BadRequest("payload is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _BadRequest("payload is not a JSON object")


def _is_fresh(timestamp: str, now: float) -> bool:
    if not _TIMESTAMP.fullmatch(timestamp):
        return False
    return abs(now - int(timestamp)) <= TIMESTAMP_WINDOW_S


def _log(delivery: _Delivery, answer: _Answer, level: int, exc_info: bool) -> None:
    fields = {
        "source": delivery.source,
        "event": _printable(delivery.event),
        "connector_id": _printable(delivery.connector_id),
        "delivery_id": _printable(delivery.delivery_id),
        "status": answer.status,
        "outcome": answer.outcome,
    }
    log.log(level, "webhook", extra=fields, exc_info=exc_info)


def _printable(value: str, limit: int = 80) -> str:
    """Caller-chosen text made safe for a log line (no control characters, bounded)."""
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])
