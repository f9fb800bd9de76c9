"""Budgets of calls in flight: streams apart from unary calls, per caller and in total.

Unary calls have a per-caller share too: a member holding slow calls (a Grep may
run 10 s) takes at most its share, never every caller's slot. Anonymous streams
have a small budget of their own, per host and in total, that never counts
toward the authenticated callers' one.

grpc's own ``maximum_concurrent_rpcs`` counts every call alike, so 512 long-lived
streams (WatchIngestion, Ask) from one member made every WhoAmI and Search answer
RESOURCE_EXHAUSTED, for everybody. Here streams spend a budget of their own, in
total and per caller, and unary calls another one; grpc's limit stays only as a
backstop well above both (``grpc_backstop``), for calls that never reach the
guard (a client that opens calls and never sends the request).

``RpcGuard`` spends these budgets in the order that keeps refusals cheap: the
share of the credential presented and the total before authentication (no
store call, no decoding: a flood from one token costs next to nothing), the
user's share right after it (one user, many tokens), the request decoded only
once admitted. A stream's request is held by grpc for as long as the stream is
open, so its size is capped too.

``RunGate`` bounds work inside calls that is costly by itself (a ripgrep process):
at most so many at once, in total and per project, with a bounded queue.

Everything runs on the server's event loop: the counters need no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .config import Settings
from .errors import ProjectQAError

# grpc's limit is this many times the guard's budgets together: room for the calls
# being refused at any moment (each holds a grpc slot until its refusal is sent).
BACKSTOP_FACTOR = 2
# Grep calls that may wait for a ripgrep run, per run allowed at once.
GREP_WAITING_FACTOR = 4


@dataclass(frozen=True, slots=True)
class Limit:
    """One bound, named by the setting an operator would change."""

    setting: str  # e.g. PROJECTQA_MAX_STREAMS
    size: int
    what: str  # e.g. "streams open on the server"


class OverBudget(ProjectQAError):
    """A call was refused because ``limit`` is reached; the message names the setting."""

    def __init__(self, limit: Limit, retry: str) -> None:
        super().__init__(f"at most {limit.size} {limit.what} ({limit.setting}); {retry}")
        self.limit = limit


# Who holds a share of a per-caller budget: ("user", id) once authenticated,
# ("credential", the authorization header) before, ("peer", host) for anonymous calls.
# Kinds keep the namespaces apart: a header can never pass for a user id.
Holder = tuple[str, str]


@dataclass(slots=True)
class Budget:
    """Calls of one kind in flight, in total and (when ``per_caller`` is set) per holder."""

    total: Limit
    per_caller: Limit | None = None
    open: int = 0
    _shares: dict[Holder, int] = field(default_factory=dict)

    def ticket(self) -> Ticket:
        return Ticket(self)

    def open_of(self, holder: Holder) -> int:
        return self._shares.get(holder, 0)


class Ticket:
    """One call's claims on a budget: taken in steps, given back once, whatever happened."""

    __slots__ = ("_budget", "_counted", "_holders")

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._counted = False
        self._holders: list[Holder] = []

    def take(self) -> None:
        """Count the call in the total; ``OverBudget`` when the total is spent."""
        budget = self._budget
        if budget.open >= budget.total.size:
            raise OverBudget(budget.total, "retry when calls have ended")
        budget.open += 1
        self._counted = True

    def take_share(self, holder: Holder) -> None:
        """Count the call against ``holder``'s share; ``OverBudget`` when it is spent."""
        budget = self._budget
        if budget.per_caller is None:
            return
        held = budget.open_of(holder)
        if held >= budget.per_caller.size:
            raise OverBudget(budget.per_caller, "close one of yours first")
        budget._shares[holder] = held + 1
        self._holders.append(holder)

    def give_back(self) -> None:
        budget = self._budget
        for holder in self._holders:
            left = budget._shares[holder] - 1
            if left:
                budget._shares[holder] = left
            else:
                del budget._shares[holder]  # only holders of open calls stay in memory
        self._holders.clear()
        if self._counted:
            budget.open -= 1
            self._counted = False


@dataclass(frozen=True, slots=True)
class RpcBudgets:
    """What ``RpcGuard`` enforces: unary calls, streams, and a stream request's size.

    Anonymous streams (health Watch) spend ``public_streams``, never ``streams``: callers
    without a token, from however many hosts, cannot take the streams members need.
    """

    unary: Budget
    streams: Budget
    public_streams: Budget
    stream_request: Limit  # bytes

    @classmethod
    def of(cls, settings: Settings) -> RpcBudgets:
        return cls(
            unary=Budget(
                Limit(
                    "PROJECTQA_MAX_CONCURRENT_RPCS", settings.max_concurrent_rpcs, "calls in flight"
                ),
                Limit(
                    "PROJECTQA_MAX_CONCURRENT_RPCS_PER_CALLER",
                    settings.max_concurrent_rpcs_per_caller,
                    "calls in flight per caller",
                ),
            ),
            streams=Budget(
                Limit("PROJECTQA_MAX_STREAMS", settings.max_streams, "streams open on the server"),
                Limit(
                    "PROJECTQA_MAX_STREAMS_PER_CALLER",
                    settings.max_streams_per_caller,
                    "streams open per caller",
                ),
            ),
            public_streams=Budget(
                Limit(
                    "PROJECTQA_MAX_PUBLIC_STREAMS",
                    settings.max_public_streams,
                    "anonymous streams open on the server",
                ),
                Limit(
                    "PROJECTQA_MAX_PUBLIC_STREAMS_PER_HOST",
                    settings.max_public_streams_per_host,
                    "anonymous streams open per host",
                ),
            ),
            stream_request=Limit(
                "PROJECTQA_MAX_STREAM_REQUEST_BYTES",
                settings.stream_request_limit,
                "bytes in the request of a stream",
            ),
        )

    def of_call(self, *, streaming: bool, public: bool) -> Budget:
        """The budget a call spends."""
        if not streaming:
            return self.unary  # anonymous unary calls (health Check) end at once
        return self.public_streams if public else self.streams

    def check_stream_request(self, size: int) -> None:
        if size > self.stream_request.size:
            raise OverBudget(self.stream_request, f"this one has {size}")


def grpc_backstop(settings: Settings) -> int:
    """grpc's ``maximum_concurrent_rpcs``: never the limit a well-behaved caller meets."""
    guarded = settings.max_concurrent_rpcs + settings.max_streams + settings.max_public_streams
    return BACKSTOP_FACTOR * guarded


class RunGate:
    """At most ``total.size`` runs at once, and ``per_key.size`` of one key (a project).

    A run waits for its turn, within the time bound it is given; at most
    ``waiting.size`` wait at once, and the others are refused at once: a burst
    queues briefly instead of failing, a flood costs a refusal, not a process.
    """

    def __init__(self, total: Limit, per_key: Limit, waiting: Limit) -> None:
        self.total, self.per_key, self.waiting = total, per_key, waiting
        self._running = asyncio.Semaphore(total.size)
        self._keys: dict[str, _KeyTurns] = {}
        self.queued = 0  # runs waiting for their turn

    @contextlib.asynccontextmanager
    async def turn(self, key: str, timeout_s: float) -> AsyncIterator[None]:
        """Hold a turn of ``key`` while the block runs; ``OverBudget`` if none comes in time."""
        if self.queued >= self.waiting.size:
            raise OverBudget(self.waiting, "retry in a moment")
        turns = self._keys.setdefault(key, _KeyTurns(asyncio.Semaphore(self.per_key.size)))
        turns.users += 1
        held: list[asyncio.Semaphore] = []
        try:
            await self._wait(turns.running, held, timeout_s)
            yield
        finally:
            for semaphore in held:
                semaphore.release()
            turns.users -= 1
            if not turns.users:
                del self._keys[key]  # only keys with runs stay in memory

    async def _wait(
        self, of_key: asyncio.Semaphore, held: list[asyncio.Semaphore], timeout_s: float
    ) -> None:
        self.queued += 1
        try:
            async with asyncio.timeout(timeout_s):
                for semaphore in (of_key, self._running):  # always in this order: no deadlock
                    await semaphore.acquire()
                    held.append(semaphore)
        except TimeoutError:
            limit = self.total if held else self.per_key
            raise OverBudget(limit, "none ended in time; retry in a moment") from None
        finally:
            self.queued -= 1

    @classmethod
    def for_grep(cls, max_runs: int = 8, per_project: int = 4) -> RunGate:
        """Concurrent ripgrep runs (Grep may run 10 s each), server-wide and per project."""
        return cls(
            Limit("PROJECTQA_GREP_MAX_RUNS", max_runs, "grep runs at once"),
            Limit(
                "PROJECTQA_GREP_MAX_RUNS_PER_PROJECT", per_project, "grep runs at once per project"
            ),
            Limit(
                "PROJECTQA_GREP_MAX_RUNS",
                GREP_WAITING_FACTOR * max_runs,
                "grep calls waiting for a run (four per run allowed)",
            ),
        )


@dataclass(slots=True)
class _KeyTurns:
    running: asyncio.Semaphore
    users: int = 0  # runs holding or waiting for a turn of the key
