"""Event search: a tenant's events of one kind, newest first, filtered, paged by keyset.

A page reads the rows (collector.explore.rows) of the window's hours, newest hours first: one
hour, then twice as many hours each time the page is not full yet, so that a busy window costs
the hours its page spans and a sparse one few queries. Once the rows read hold more than a
page, the page is their newest: every hour not read yet is older. The page's events are then
fetched by `_id` (a point lookup, in chunks), without their content.

The cursor fixes the walk: the window's end (capped at the moment the first page was asked
for, so events arriving later are not met on the way), the position (timestamp, event_id) of
the last event given, and a digest of the filters it was made for. Following `next_cursor`
to its end yields every matching event exactly once: each page starts strictly after the
previous one's last key, and keys are unique (event ids are, per tenant and kind).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

from collector.domain import EARLIEST, Kind
from collector.errors import InvalidArgument
from collector.explore import cursor
from collector.explore.directory import hours_of
from collector.explore.rows import Row, epoch_ms, from_ms, hour_of, rows_of
from collector.explore.stored import fetch_events
from collector.store.storage import Document, Storage

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
DEFAULT_WINDOW = dt.timedelta(hours=24)
HOUR = dt.timedelta(hours=1)
# The hours one read covers at most, as the walk widens.
MAX_HOURS_PER_READ = 24 * 7
# How far another replica's clock may run ahead of this one's: a cursor's window ends at its
# now.
CLOCK_SKEW = HOUR


@dataclass(frozen=True)
class EventFilter:
    """What a row must match; None / False: anything."""

    model: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    environment: str | None = None
    release: str | None = None
    tag: str | None = None
    errors_only: bool = False
    min_cost: float | None = None
    min_latency_ms: float | None = None

    def matches(self, row: Row) -> bool:
        # Most selective first: an id filter rejects nearly every row at once.
        return (
            (self.user_id is None or row.user == self.user_id)
            and (self.session_id is None or row.session == self.session_id)
            and (self.trace_id is None or row.trace == self.trace_id)
            and (self.model is None or row.model == self.model)
            and (self.environment is None or row.env == self.environment)
            and (self.release is None or row.release == self.release)
            and (self.tag is None or (row.tags is not None and self.tag in row.tags))
            and (not self.errors_only or row.error == 1)
            and (self.min_cost is None or (row.cost is not None and row.cost >= self.min_cost))
            and (
                self.min_latency_ms is None
                or (row.latency is not None and row.latency >= self.min_latency_ms)
            )
        )

    def directory_key(self) -> tuple[str, str] | None:
        """The directory entry that names every hour a match can be in (the most selective of
        the filters it keeps), or None: then every hour of the window is read."""
        for dim, key in (
            ("trace", self.trace_id),
            ("session", self.session_id),
            ("user", self.user_id),
        ):
            if key is not None:
                return dim, key
        return None

    def digest(self) -> str:
        return cursor.digest_of(asdict(self))


@dataclass(frozen=True)
class Position:
    """Where a walk is: its window [start_ms, end_ms) and the key it stopped after."""

    start_ms: int
    end_ms: int
    after: tuple[int, str] | None  # the last (ts, event_id) given; None: from the end


@dataclass(frozen=True)
class EventPage:
    events: list[Document]
    next_cursor: str | None


def encode_cursor(position: Position, digest: str) -> str:
    data = {
        "s": position.start_ms,
        "e": position.end_ms,
        "a": list(position.after) if position.after else None,
    }
    return cursor.encode(data, digest)


def decode_cursor(text: str, digest: str, now: dt.datetime) -> Position:
    """The position a cursor holds; InvalidArgument when it is not one of ours or was made for
    other filters."""
    data = cursor.decode(text, digest)
    try:
        after = (int(data["a"][0]), str(data["a"][1]))
        position = Position(start_ms=int(data["s"]), end_ms=int(data["e"]), after=after)
        # What every cursor given holds (a next page's starts after an event of its window);
        # one made up could have a walk read hours no date can name.
        latest = epoch_ms(now + CLOCK_SKEW)
        if not epoch_ms(EARLIEST) <= position.start_ms <= after[0] < position.end_ms <= latest:
            raise ValueError
    except (ValueError, KeyError, TypeError, IndexError, OverflowError):
        raise InvalidArgument(
            "cursor: not a cursor this API gave (pass next_cursor as is)"
        ) from None
    return position


def check_limit(limit: int) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit: must be 1 to {MAX_LIMIT}, got {limit}")
    return limit


def window(start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime) -> Position:
    """A first page's position: the window asked for (default: the last 24 hours), its end
    capped at now, its start at the earliest time an event may have (each hour before it
    would cost a read)."""
    end = min(end, now) if end is not None else now
    start = max(start if start is not None else end - DEFAULT_WINDOW, EARLIEST)
    return Position(epoch_ms(start), max(epoch_ms(end), epoch_ms(start)), None)


class EventSearch:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def rows(
        self, tenant: str, kind: str, position: Position, wanted: EventFilter, enough: int
    ) -> list[Row]:
        """At least `enough` matching rows before the position, newest first, if there are as
        many: all of those of every hour read (the walk stops after the hour that fills it)."""
        found: list[Row] = []
        keyed = wanted.directory_key()
        if keyed is None:
            slices = self._hours_newest_first(tenant, kind, position)
        else:
            hours = await hours_of(self._storage, tenant, *keyed)
            slices = self._these_hours_newest_first(tenant, kind, position, hours)
        async for rows in slices:
            for row in rows:
                if (
                    position.start_ms <= row.ts < position.end_ms
                    and (position.after is None or row.key < position.after)
                    and wanted.matches(row)
                ):
                    found.append(row)
            if len(found) >= enough:
                break
        found.sort(key=lambda row: row.key, reverse=True)
        return found

    async def _hours_newest_first(
        self, tenant: str, kind: str, position: Position
    ) -> AsyncIterator[list[Row]]:
        """The rows of the window's hours (up to the position), a widening slice at a time."""
        top_ms = position.after[0] if position.after else position.end_ms - 1
        first = hour_of(from_ms(position.start_ms))
        high = hour_of(from_ms(top_ms))
        hours = 1
        while high >= first:
            low = max(high - (hours - 1) * HOUR, first)
            found = self._storage.event_rows.find(
                {"tenant": tenant, "kind": kind, "hour": {"$gte": low, "$lte": high}},
                {"rows": 1},
            )
            rows = [row for piece in await found.to_list() for row in rows_of(piece)]
            yield rows
            high = low - HOUR
            # Empty hours cost a query each, whatever their number: past them the slice keeps
            # doubling, bounded only once rows turn up (a sparse tenant's walk back to 2000
            # is ~18 reads, not ~1,400).
            hours = hours * 2 if not rows else min(hours * 2, MAX_HOURS_PER_READ)

    async def _these_hours_newest_first(
        self, tenant: str, kind: str, position: Position, hours: list[dt.datetime]
    ) -> AsyncIterator[list[Row]]:
        """The rows of these hours (a trace's, session's or user's, from the directory) within
        the window and up to the position, newest first, a few more hours at a time."""
        top_ms = position.after[0] if position.after else position.end_ms - 1
        first, high = hour_of(from_ms(position.start_ms)), hour_of(from_ms(top_ms))
        wanted = sorted((h for h in hours if first <= h <= high), reverse=True)
        size = 1
        while wanted:
            these, wanted = wanted[:size], wanted[size:]
            found = self._storage.event_rows.find(
                {"tenant": tenant, "kind": kind, "hour": {"$in": these}}, {"rows": 1}
            )
            yield [row for piece in await found.to_list() for row in rows_of(piece)]
            size = min(size * 2, MAX_HOURS_PER_READ)

    async def page(
        self, tenant: str, kind: Kind, position: Position, wanted: EventFilter, limit: int
    ) -> EventPage:
        rows = await self.rows(tenant, kind, position, wanted, limit + 1)
        shown = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = shown[-1].key
            following = Position(position.start_ms, position.end_ms, last)
            next_cursor = encode_cursor(following, wanted.digest())
        ids = [row.id for row in shown]
        events = await fetch_events(self._storage, kind, tenant, ids, content=False)
        return EventPage([events[row.id] for row in shown if row.id in events], next_cursor)


def position_of(
    given: str, start: dt.datetime | None, end: dt.datetime | None, wanted: EventFilter
) -> Position:
    """Where a page starts: the cursor's position, or the window's end for a first page."""
    now = dt.datetime.now(dt.UTC)
    if given:
        return decode_cursor(given, wanted.digest(), now)
    return window(start, end, now)
