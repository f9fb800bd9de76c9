"""HTTP for connectors that read a vendor's REST API (GitHub, Jira, Confluence).

One :class:`ApiClient` per ingestion run wraps an ``httpx.Client`` with explicit
timeouts and turns every way a request can go wrong into either a bounded retry
or a :class:`~projectqa.server.sources.SourceError` whose message a user can act
on:

- connection errors, 5xx, 429 and malformed JSON are retried with exponential
  backoff and jitter, a bounded number of times;
- ``Retry-After`` and GitHub's ``X-RateLimit-Remaining: 0`` / ``X-RateLimit-Reset``
  are honoured by waiting, up to a cap; beyond it the run fails with "rate
  limited until <time>";
- 401/403 → :class:`CredentialsRejected`, 404/410 → :class:`ResourceNotFound`.

Secrets (tokens, and a user and password written in the base URL) travel only in
headers; every message is scrubbed of them as well, in case a vendor echoes one
back. Links the vendor hands out are
followed only on the configured origin, so credentials never reach another host.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from projectqa.server.sources import SourceError
from projectqa.server.url_credentials import login, without_credentials

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "projectqa-connector"
_DETAIL_LIMIT = 200


class HttpSourceError(SourceError):
    """The vendor answered with an error status; ``status`` is the HTTP code (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class CredentialsRejected(HttpSourceError):
    """401 or 403 that is not a rate limit: the token is wrong or lacks access."""


class ResourceNotFound(HttpSourceError):
    """404 or 410: the repository, project, space or item does not exist (or is hidden)."""


class RateLimited(HttpSourceError):
    """The vendor's rate limit resets later than the client is willing to wait."""


class RunCancelled(SourceError):
    """The run was cancelled while waiting to retry."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests inject ``sleep`` and ``clock`` to run without waiting."""

    attempts: int = 5  # tries per request, the first included
    base_delay_s: float = 1.0  # first backoff; doubles per attempt
    max_delay_s: float = 60.0  # backoff never exceeds this
    max_rate_limit_wait_s: float = 900.0  # wait longer than this for a reset and the run fails
    sleep: Callable[[float], None] | None = None  # None: real sleep, interrupted by cancel
    clock: Callable[[], float] = time.time  # epoch seconds, for X-RateLimit-Reset

    def backoff(self, attempt: int) -> float:
        """Delay after failed ``attempt`` (1-based): exponential with "equal jitter"."""
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)


@dataclass(frozen=True)
class ApiResponse:
    """A decoded JSON answer with the headers and links (``rel`` → absolute URL) it came with."""

    data: Any
    url: str
    links: dict[str, str] = field(default_factory=dict)
    status: int = 200


class ResponseCache:
    """ETag cache on disk (one JSON file per URL) for conditional GETs: 304 reuses the body."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _file(self, url: str) -> Path:
        return self._directory / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def get(self, url: str) -> tuple[str, ApiResponse] | None:
        try:
            entry = json.loads(self._file(url).read_text(encoding="utf-8"))
            return entry["etag"], ApiResponse(entry["data"], url, entry["links"], 304)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no entry, or a damaged one: ask unconditionally

    def put(self, url: str, etag: str, response: ApiResponse) -> None:
        """Remember a response; a cache that cannot be written only costs a later full GET."""
        entry = {"etag": etag, "data": response.data, "links": response.links}
        tmp = ""
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._directory, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(entry, out)
            os.replace(tmp, self._file(url))
        except OSError as exc:
            log.warning("cannot write the HTTP cache", extra={"error": str(exc)})
            if tmp:
                Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    resource: str  # what is read, for messages
    body: Any
    cacheable: bool
    cached: tuple[str, ApiResponse] | None  # (etag, response) from an earlier run


@dataclass(frozen=True)
class _Retry:
    """A failed attempt that may succeed later: why, and how long to wait first."""

    reason: str
    delay_s: float


class ApiClient:
    """JSON over HTTP to one vendor, with retries, rate limits and typed errors.

    ``vendor`` names the service in messages ("GitHub"); ``secrets`` are the
    values to scrub from anything that could reach a user or a log; a user and
    password written in ``base_url`` log in (basic auth) unless ``auth`` or an
    ``Authorization`` header is given, and are never part of a request's URL;
    ``not_found_hint`` is appended to 404 messages (vendors that hide private
    resources answer 404 rather than 403).
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        secrets: Iterable[str] = (),
        policy: RetryPolicy | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        cache: ResponseCache | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        not_found_hint: str = "",
    ) -> None:
        self.vendor = vendor
        self._not_found_hint = not_found_hint
        self.base_url = without_credentials(base_url).rstrip("/")
        self._origin = httpx.URL(self.base_url).copy_with(path="/", query=None, fragment=None)
        written = login(base_url)
        if written and auth is None and "authorization" not in {h.lower() for h in headers or {}}:
            auth = httpx.BasicAuth(*written)
        # A user name is scrubbed only when it stands alone (then it is usually a token).
        in_url = [written[1] or written[0]] if written else []
        self._secrets = [s for s in (*secrets, *in_url) if s]
        self._policy = policy or RetryPolicy()
        self._cancelled = cancelled
        self._cache = cache
        self._client = httpx.Client(
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            auth=auth,
            timeout=timeout,
            follow_redirects=True,  # httpx drops Authorization on a cross-origin redirect
            max_redirects=5,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url(self, path_or_link: str) -> str:
        """An absolute URL for an API path or a link the vendor sent, on the configured origin."""
        if "://" not in path_or_link:
            return self.base_url + "/" + path_or_link.lstrip("/")
        if httpx.URL(path_or_link).copy_with(path="/", query=None, fragment=None) != self._origin:
            host = httpx.URL(path_or_link).host
            raise SourceError(
                f"{self.vendor} sent a link to another host ({host}); "
                "refusing to send credentials there"
            )
        return path_or_link

    def get(
        self,
        path: str,
        *,
        resource: str,
        params: Mapping[str, Any] | None = None,
        cacheable: bool = False,
    ) -> ApiResponse:
        """GET JSON. ``resource`` names what is read, for error messages ("repository o/r")."""
        url = str(httpx.URL(self.url(path), params=params)) if params else self.url(path)
        return self._send("GET", url, resource, body=None, cacheable=cacheable)

    def post(self, path: str, *, resource: str, body: Any) -> ApiResponse:
        """POST a JSON body (a read, such as Jira's search) and decode the JSON answer."""
        return self._send("POST", self.url(path), resource, body=body, cacheable=False)

    # ------------------------------------------------------------ attempts
    def _send(
        self, method: str, url: str, resource: str, *, body: Any, cacheable: bool
    ) -> ApiResponse:
        cached = self._cache.get(url) if cacheable and self._cache else None
        request = _Request(
            method, url, resource, body, cacheable and self._cache is not None, cached
        )
        attempts = self._policy.attempts
        for attempt in range(1, attempts + 1):
            outcome = self._attempt(request, attempt)
            if isinstance(outcome, ApiResponse):
                return outcome
            if attempt == attempts:
                raise HttpSourceError(
                    self._scrub(f"{outcome.reason} (gave up after {attempts} attempts)")
                )
            log.warning(
                "retrying a %s request",
                self.vendor,
                extra={
                    "reason": self._scrub(outcome.reason),
                    "attempt": attempt,
                    "delay_s": round(outcome.delay_s, 2),
                },
            )
            self._pause(outcome.delay_s)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _attempt(self, request: _Request, attempt: int) -> ApiResponse | _Retry:
        headers = {"If-None-Match": request.cached[0]} if request.cached else {}
        try:
            response = self._client.request(
                request.method, request.url, json=request.body, headers=headers
            )
        except httpx.TransportError as exc:
            reason = f"cannot reach {self.vendor} for {request.resource}: {type(exc).__name__}"
            return _Retry(f"{reason} {exc}".rstrip(), self._policy.backoff(attempt))
        if response.status_code == 304 and request.cached:
            return request.cached[1]
        if response.is_success:
            return self._decode(response, request, attempt)
        return self._failure(response, request.resource, attempt)

    def _decode(
        self, response: httpx.Response, request: _Request, attempt: int
    ) -> ApiResponse | _Retry:
        try:
            data = response.json()
        except ValueError:
            reason = f"{self.vendor} returned malformed JSON for {request.resource}"
            return _Retry(reason, self._policy.backoff(attempt))
        links = {
            rel: str(response.url.join(value["url"]))
            for rel, value in response.links.items()
            if rel and "url" in value  # httpx keys a link with neither rel nor url by None
        }
        decoded = ApiResponse(data, request.url, links, response.status_code)
        etag = response.headers.get("ETag")
        if request.cacheable and etag and self._cache:
            self._cache.put(request.url, etag, decoded)
        return decoded

    def _failure(self, response: httpx.Response, resource: str, attempt: int) -> _Retry:
        status = response.status_code
        wait = self._rate_limit_wait(response)
        if wait is not None:
            return _Retry(f"{self.vendor} rate limited the request for {resource}", wait)
        if status in (401, 403):
            detail = self._detail(response)
            message = f"{self.vendor} rejected the credentials ({status}){detail}"
            raise CredentialsRejected(self._scrub(message), status)
        if status in (404, 410):
            message = f"{self.vendor}: {resource} not found ({status}){self._not_found_hint}"
            raise ResourceNotFound(self._scrub(message), status)
        if status == 429 or status >= 500:
            reason = f"{self.vendor} answered {status} for {resource}{self._detail(response)}"
            return _Retry(reason, self._policy.backoff(attempt))
        raise HttpSourceError(
            self._scrub(
                f"{self.vendor} refused the request for {resource} ({status})"
                f"{self._detail(response)}"
            ),
            status,
        )

    # ------------------------------------------------------------ rate limits
    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying a rate-limited request; None if it is no rate limit.

        Raises :class:`RateLimited` when the wait would exceed the policy's cap.
        """
        status = response.status_code
        if status not in (403, 429, 503):
            return None
        now = self._policy.clock()
        until: float | None = None
        retry_after = _retry_after(response.headers.get("Retry-After"), now)
        if retry_after is not None:
            until = now + retry_after
        elif status != 503 and response.headers.get("X-RateLimit-Remaining") == "0":
            reset = response.headers.get("X-RateLimit-Reset", "")
            until = float(reset) + 1 if reset.isdigit() else now + self._policy.max_delay_s
        elif status == 403 and "rate limit" in response.text.lower():
            # GitHub's secondary limits may come without headers: "wait at least a minute".
            until = now + 60
        if until is None:
            return None
        if until - now > self._policy.max_rate_limit_wait_s:
            moment = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise RateLimited(f"{self.vendor} rate limited until {moment}", status)
        return max(0.0, until - now)

    # ------------------------------------------------------------ helpers
    def _pause(self, seconds: float) -> None:
        if self._policy.sleep is not None:
            self._policy.sleep(seconds)
        else:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0 and not self._cancelled():
                time.sleep(min(left, 1.0))
        if self._cancelled():
            raise RunCancelled(f"cancelled while waiting to retry {self.vendor}")

    def _detail(self, response: httpx.Response) -> str:
        """The vendor's own short explanation, if its error body has one."""
        try:
            body = response.json()
        except ValueError:
            return ""
        if not isinstance(body, dict):
            return ""
        parts = [body.get("message"), *(body.get("errorMessages") or [])]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        text = "; ".join(str(p) for p in parts if p)
        return f": {text[:_DETAIL_LIMIT]}" if text else ""

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message


def _retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)
