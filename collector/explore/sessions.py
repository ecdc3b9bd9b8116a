"""One session: its events of both kinds, oldest first, with content, and its exact totals.

The directory (collector.explore.directory) gives the hours that hold the session's rows; the
rows of those hours name its events, which are fetched by `_id`. Totals count every event of the
session, whatever page is asked for: requests (events), tokens, cost (known costs) and errors.
The session's user is the user of its newest event that names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.domain import Kind
from collector.errors import InvalidArgument
from collector.explore import cursor
from collector.explore.directory import hours_of
from collector.explore.rows import Row
from collector.explore.stored import fetch_events
from collector.explore.traces import EVENT_KINDS, rows_of_key
from collector.store.storage import Document, Storage

MAX_EVENTS = 1000  # per page
MAX_SESSION_ID = 256

SessionKey = tuple[int, Kind, str]  # (timestamp ms, kind, event_id): the order of a session


@dataclass
class Totals:
    requests: int = 0
    tokens: int = 0
    cost: float = 0.0
    errors: int = 0

    def add(self, row: Row) -> None:
        self.requests += 1
        self.tokens += row.tokens or 0
        self.cost += row.cost or 0.0
        self.errors += row.error


@dataclass
class SessionPage:
    session_id: str
    user_id: str | None
    events: list[tuple[Kind, Document]]  # oldest first
    totals: Totals = field(default_factory=Totals)
    next_cursor: str | None = None


def check_session_id(text: str) -> str:
    if not text or len(text) > MAX_SESSION_ID:
        raise InvalidArgument(f"session_id: must be 1 to {MAX_SESSION_ID} characters")
    return text


def check_session_limit(limit: int) -> int:
    """Events per page: 0 means the most, MAX_EVENTS."""
    limit = limit or MAX_EVENTS
    if not 1 <= limit <= MAX_EVENTS:
        raise InvalidArgument(f"limit: must be 1 to {MAX_EVENTS}, got {limit}")
    return limit


def _after(given: str, session_id: str) -> SessionKey | None:
    if not given:
        return None
    data = cursor.decode(given, cursor.digest_of({"session": session_id}))
    try:
        ts, kind, event_id = data["k"]
        if kind not in EVENT_KINDS:
            raise ValueError(kind)
        return (int(ts), kind, str(event_id))
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(
            "cursor: not a cursor this API gave (pass next_cursor as is)"
        ) from None


async def session(
    storage: Storage,
    tenant: str,
    session_id: str,
    *,
    given_cursor: str = "",
    limit: int = MAX_EVENTS,
) -> SessionPage | None:
    """The page of the session's events after the cursor; None when the tenant has none."""
    after = _after(given_cursor, session_id)
    hours = await hours_of(storage, tenant, "session", session_id)
    rows = await rows_of_key(storage, tenant, EVENT_KINDS, hours, ("session", session_id))
    keyed: list[tuple[SessionKey, Row]] = []
    totals = Totals()
    user: tuple[int, str] | None = None
    for kind in EVENT_KINDS:
        for row in rows[kind]:
            if row.session != session_id:
                continue
            keyed.append(((row.ts, kind, row.id), row))
            totals.add(row)
            if row.user and (user is None or row.ts >= user[0]):
                user = (row.ts, row.user)
    if not keyed:
        return None
    keyed.sort(key=lambda pair: pair[0])
    following = [key for key, _ in keyed if after is None or key > after]
    shown = following[:limit]
    page = SessionPage(session_id, user[1] if user else None, [], totals)
    if len(following) > limit:
        page.next_cursor = cursor.encode(
            {"k": list(shown[-1])}, cursor.digest_of({"session": session_id})
        )
    found: dict[Kind, dict[str, Document]] = {}
    for kind in EVENT_KINDS:
        ids = [event_id for _, k, event_id in shown if k == kind]
        found[kind] = await fetch_events(storage, kind, tenant, ids, content=True)
    page.events = [
        (kind, found[kind][event_id]) for _, kind, event_id in shown if event_id in found[kind]
    ]
    return page
