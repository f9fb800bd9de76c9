"""Reading "everything updated since T, oldest first" from APIs that page by offset.

GitHub issues, Jira search and Confluence CQL all sort by update time and page
by offset or opaque token. Following such pages naively loses items: when an
item of an earlier page is updated mid-run it moves to the end, every later
item shifts one place forward, and the first item of the next page is never
served. A full run would then delete it as gone.

:func:`walk_updates` therefore restarts the query from the newest update time
seen so far (keyset pagination) whenever that moves the query's lower bound
past everything the current query had already covered, and only follows the
vendor's next-page link while the bound cannot move (a page full of items
updated within the same bound). Items served twice because bounds overlap are
dropped by identity and update time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a query. ``next`` continues the same query; None on its last page."""

    items: list[T]
    next: Any = None


@dataclass(frozen=True)
class Progress(Generic[T]):
    """Items not yet served in this run, and the newest update time seen so far."""

    fresh: list[T]
    newest: datetime | None


Fetch = Callable[[datetime | None, Any], Page[T]]


def walk_updates(
    fetch: Fetch[T],
    updated_at: Callable[[T], datetime],
    identity: Callable[[T], str],
    since: datetime | None,
    lower_bound: Callable[[datetime], datetime],
) -> Iterator[Progress[T]]:
    """Yield the items updated at or after ``since`` (all if None), page by page.

    :param fetch: ``fetch(since, next)`` reads one page of the query "updated at
        or after ``since``, oldest first"; ``next`` is None for its first page,
        else the ``next`` of the previous page.
    :param lower_bound: the earliest update time the query for ``since`` may
        return (the vendor may round ``since`` down, e.g. to the minute).
    """
    query_since, token = since, None
    covered = since  # newest update time seen when the current query started
    newest = since
    served: dict[str, datetime] = {}
    while True:
        page = fetch(query_since, token)
        fresh = [item for item in page.items if served.get(identity(item)) != updated_at(item)]
        for item in fresh:
            served[identity(item)] = updated_at(item)
            newest = max(newest, updated_at(item)) if newest else updated_at(item)
        yield Progress(fresh, newest)
        if page.next is None:
            return
        if newest is not None and (covered is None or lower_bound(newest) > covered):
            query_since, token, covered = newest, None, newest
        else:
            token = page.next


# Jira's JQL and Confluence's CQL compare dates as wall-clock minutes in the
# user's time zone. With the zone unknown, a bound written in UTC-12 is read as
# no later than meant in any zone; the query may then reach back 26 hours.
EARLIEST_ZONE = timezone(timedelta(hours=-12))


def wall_clock_minute(moment: datetime, zone: tzinfo | None) -> str:
    """``moment`` as a JQL/CQL date (``yyyy-MM-dd HH:mm``) in the user's zone."""
    return f"{moment.astimezone(zone or EARLIEST_ZONE):%Y-%m-%d %H:%M}"


def wall_clock_lower_bound(newest: datetime, zone: tzinfo | None) -> datetime:
    """The earliest update time a query bounded by :func:`wall_clock_minute` may return."""
    floor = newest.replace(second=0, microsecond=0)
    return floor if zone is not None else floor - timedelta(hours=26)
