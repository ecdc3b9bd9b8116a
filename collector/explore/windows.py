"""Summaries over any window, exactly: whole days from day documents, other whole hours from hour
documents, the rows of the notes not folded yet for those, and the partial hours at either
edge from rows.

The notes (with their rows) and the summary documents are read in one snapshot transaction,
so a fold that commits meanwhile is seen entirely or not at all: nothing counted twice or
missed. Rows are never folded away, so the edges need no snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from collector.explore.notes import entries_of, pending_pieces
from collector.explore.rows import epoch_ms, from_ms
from collector.explore.summaries import PERIODS, Summary, add_packed, packed_of
from collector.explore.traces import ROW_KINDS, rows_of_key
from collector.store.storage import Storage

HOUR_MS = PERIODS["hour"]
DAY_MS = PERIODS["day"]
# The kinds of rows that carry each dimension (spans carry a trace only).
_KINDS = {"user": ("llm", "ml"), "session": ("llm", "ml"), "trace": ROW_KINDS}


@dataclass(frozen=True)
class Plan:
    days: list[int]  # starts (ms) of the whole days in the window
    hours: list[int]  # starts of its other whole hours
    edges: list[int]  # starts of the hours it covers in part


def plan(start_ms: int, end_ms: int) -> Plan:
    days: list[int] = []
    hours: list[int] = []
    edges: list[int] = []
    hour = start_ms - start_ms % HOUR_MS
    while hour < end_ms:
        if hour < start_ms or hour + HOUR_MS > end_ms:
            edges.append(hour)
            hour += HOUR_MS
        elif hour % DAY_MS == 0 and hour + DAY_MS <= end_ms:
            days.append(hour)
            hour += DAY_MS
        else:
            hours.append(hour)
            hour += HOUR_MS
    return Plan(days, hours, edges)


async def summaries(
    storage: Storage, tenant: str, dim: str, start_ms: int, end_ms: int
) -> dict[str, Summary]:
    """Every key of the dimension with rows in [start_ms, end_ms), summed over them."""
    window = plan(start_ms, end_ms)
    whole_days, whole_hours = set(window.days), set(window.hours)

    def _whole(hour: int) -> bool:
        return hour in whole_hours or hour - hour % DAY_MS in whole_days

    async def folded(session: AsyncClientSession) -> dict[str, list[Any]]:
        # Packed summaries ([key, *values]), merged without a Summary for each (add_packed).
        found: dict[str, list[Any]] = {}
        wanted_pieces = [
            piece
            for piece in await pending_pieces(storage, tenant, session)
            if _whole(epoch_ms(piece["hour"]))
        ]
        pending = [
            [key, *summary.packed(dim)]
            for d, key, _, summary in entries_of(wanted_pieces)
            if d == dim
        ]
        add_packed(found, dim, pending)
        # A day marked dirty has a day summary that misses some of its hours' (the job builds
        # it again at the end of its run): read its hours instead.
        marked = {
            epoch_ms(doc["day"])
            async for doc in storage.explore_dirty.find(
                {"what": "day", "tenant": tenant, "dim": dim}, {"day": 1}, session=session
            )
        }
        days = [d for d in window.days if d not in marked]
        hours = window.hours + [
            d + i * HOUR_MS for d in window.days if d in marked for i in range(24)
        ]
        wanted: list[dict[str, Any]] = []
        if days:
            wanted.append({"period": "day", "start": {"$in": [from_ms(d) for d in days]}})
        if hours:
            wanted.append({"period": "hour", "start": {"$in": [from_ms(h) for h in hours]}})
        for query in wanted:
            docs = storage.explore_summaries.find(
                {"tenant": tenant, "dim": dim, **query}, {"s": 1, "dim": 1}, session=session
            )
            async for doc in docs:
                add_packed(found, dim, packed_of(doc))
        return found

    packed = await storage.snapshot(folded)
    found = {key: Summary(*values[1:]) for key, values in packed.items()}
    if window.edges:
        kinds = _KINDS[dim]
        rows = await rows_of_key(storage, tenant, kinds, [from_ms(h) for h in window.edges])
        for kind in kinds:
            for row in rows[kind]:
                key = row.user if dim == "user" else row.session if dim == "session" else row.trace
                if key and start_ms <= row.ts < end_ms:
                    summary = found.get(key)
                    if summary is None:
                        summary = found[key] = Summary()
                    summary.add(kind, row)
    return found
