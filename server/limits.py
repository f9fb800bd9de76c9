"""Budgets of calls in flight: streams apart from unary calls, per caller and in total.

grpc's own ``maximum_concurrent_rpcs`` counts every call alike, so 512 long-lived
streams (WatchIngestion, Ask) from one member made every WhoAmI and Search answer
RESOURCE_EXHAUSTED, for everybody. Here streams spend a budget of their own, in
total and per caller, and unary calls another one; grpc's limit stays only as a
backstop well above both (``grpc_backstop``), for calls that never reach the
guard (a client that opens calls and never sends the request).

``RpcGuard`` spends these budgets in the order that keeps refusals cheap: the
total before authentication (no store call, no decoding), the caller's share
right after it, the request decoded only once admitted. A stream's request is
held by grpc for as long as the stream is open, so its size is capped too.

Everything runs on the server's event loop: the counters need no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Settings
from .errors import ProjectQAError

# grpc's limit is this many times the guard's budgets together: room for the calls
# being refused at any moment (each holds a grpc slot until its refusal is sent).
BACKSTOP_FACTOR = 2


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


@dataclass(slots=True)
class Budget:
    """Calls of one kind in flight, in total and (when ``per_caller`` is set) per caller."""

    total: Limit
    per_caller: Limit | None = None
    open: int = 0
    _by_caller: dict[str, int] = field(default_factory=dict)

    def ticket(self) -> Ticket:
        return Ticket(self)

    def open_of(self, caller: str) -> int:
        return self._by_caller.get(caller, 0)


class Ticket:
    """One call's share of a budget: taken in steps, given back once, whatever happened."""

    __slots__ = ("_budget", "_caller", "_counted")

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._counted = False
        self._caller: str | None = None

    def take(self) -> None:
        """Count the call in the total; ``OverBudget`` when the total is spent."""
        budget = self._budget
        if budget.open >= budget.total.size:
            raise OverBudget(budget.total, "retry when calls have ended")
        budget.open += 1
        self._counted = True

    def take_for(self, caller: str) -> None:
        """Count the call against ``caller``'s share; ``OverBudget`` when it is spent."""
        budget = self._budget
        if budget.per_caller is None:
            return
        held = budget.open_of(caller)
        if held >= budget.per_caller.size:
            raise OverBudget(budget.per_caller, "close one of yours first")
        budget._by_caller[caller] = held + 1
        self._caller = caller

    def give_back(self) -> None:
        budget = self._budget
        if self._caller is not None:
            left = budget._by_caller[self._caller] - 1
            if left:
                budget._by_caller[self._caller] = left
            else:
                del budget._by_caller[self._caller]  # the map only holds callers with streams
            self._caller = None
        if self._counted:
            budget.open -= 1
            self._counted = False


@dataclass(frozen=True, slots=True)
class RpcBudgets:
    """What ``RpcGuard`` enforces: unary calls, streams, and a stream request's size."""

    unary: Budget
    streams: Budget
    stream_request: Limit  # bytes

    @classmethod
    def of(cls, settings: Settings) -> RpcBudgets:
        return cls(
            unary=Budget(
                Limit(
                    "PROJECTQA_MAX_CONCURRENT_RPCS", settings.max_concurrent_rpcs, "calls in flight"
                )
            ),
            streams=Budget(
                Limit("PROJECTQA_MAX_STREAMS", settings.max_streams, "streams open on the server"),
                Limit(
                    "PROJECTQA_MAX_STREAMS_PER_CALLER",
                    settings.max_streams_per_caller,
                    "streams open per caller",
                ),
            ),
            stream_request=Limit(
                "PROJECTQA_MAX_STREAM_REQUEST_BYTES",
                settings.stream_request_limit,
                "bytes in the request of a stream",
            ),
        )

    def check_stream_request(self, size: int) -> None:
        if size > self.stream_request.size:
            raise OverBudget(self.stream_request, f"this one has {size}")


def grpc_backstop(settings: Settings) -> int:
    """grpc's ``maximum_concurrent_rpcs``: never the limit a well-behaved caller meets."""
    return BACKSTOP_FACTOR * (settings.max_concurrent_rpcs + settings.max_streams)
