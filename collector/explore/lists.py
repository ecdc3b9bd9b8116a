"""Lists over a window: users by a total, sessions by last seen, traces by start.

Each reads the window's summaries (collector.explore.windows) of its dimension, filters and
sorts them in the collector. Sessions and traces page by keyset, as events do: the cursor holds
the window (its end capped at the first page's now) and the last (time, id) given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.errors import InvalidArgument
from collector.explore import cursor
from collector.explore.events import Position, decode_cursor, encode_cursor
from collector.explore.summaries import Summary
from collector.explore.windows import summaries
from collector.store.storage import Storage

USER_SORTS: dict[str, Callable[[Summary], float]] = {
    "cost": lambda s: s.cost,
    "tokens": lambda s: s.tokens,
    "requests": lambda s: s.n,
    "errors": lambda s: s.errors,
}
MAX_USERS = 100
DEFAULT_USERS = 20


@dataclass(frozen=True)
class Listed:
    key: str
    summary: Summary


@dataclass(frozen=True)
class Page:
    items: list[Listed]
    next_cursor: str | None


def check_sort(text: str) -> str:
    sort = text.strip().lower() or "cost"
    if sort not in USER_SORTS:
        raise InvalidArgument(f"sort: must be one of {', '.join(USER_SORTS)}, got {text[:20]!r}")
    return sort


def check_users_limit(limit: int) -> int:
    if limit == 0:
        return DEFAULT_USERS
    if not 1 <= limit <= MAX_USERS:
        raise InvalidArgument(f"limit: must be 1 to {MAX_USERS}, got {limit}")
    return limit


async def top_users(
    storage: Storage, tenant: str, position: Position, sort: str, limit: int
) -> list[Listed]:
    """The users with the largest total, ties by user id."""
    found = await summaries(storage, tenant, "user", position.start_ms, position.end_ms)
    total = USER_SORTS[sort]
    ranked = sorted(found.items(), key=lambda item: (-total(item[1]), item[0]))
    return [Listed(key, summary) for key, summary in ranked[:limit]]


async def newest(
    storage: Storage,
    tenant: str,
    dim: str,
    position: Position,
    wanted: dict[str, Any],
    keep: Callable[[Summary], bool],
    time_of: Callable[[Summary], int],
    limit: int,
) -> Page:
    """A page of the dimension's keys, newest `time_of` first (ties by key, descending)."""
    found = await summaries(storage, tenant, dim, position.start_ms, position.end_ms)
    ordered = sorted(
        ((time_of(summary), key) for key, summary in found.items() if keep(summary)),
        reverse=True,
    )
    if position.after is not None:
        ordered = [item for item in ordered if item < position.after]
    shown = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        following = Position(position.start_ms, position.end_ms, shown[-1])
        next_cursor = encode_cursor(following, cursor.digest_of(wanted))
    return Page([Listed(key, found[key]) for _, key in shown], next_cursor)


def resumed(given: str, wanted: dict[str, Any], first: Position) -> Position:
    """Where a page of a list starts: the cursor's position, or the first page's."""
    if not given:
        return first
    return decode_cursor(given, cursor.digest_of(wanted), dt.datetime.now(dt.UTC))


def trace_filter(user_id: str, session_id: str, errors_only: bool) -> Callable[[Summary], bool]:
    """What a listed trace must match (empty / False: anything)."""

    def keep(s: Summary) -> bool:
        return (
            (not user_id or s.user == user_id)
            and (not session_id or s.session == session_id)
            and (not errors_only or s.errors > 0)
        )

    return keep


def session_filter(user_id: str) -> Callable[[Summary], bool]:
    return lambda s: not user_id or s.user == user_id
