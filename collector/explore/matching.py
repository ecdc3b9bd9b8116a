"""The stored events of a range that match attribution filters, for a dashboard asked for one
user, environment or release: rollups sum per model only, so such an answer is computed from
the matching events themselves, found through the rows (collector.explore.rows) of the
range's hours and fetched by `_id`."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

from collector.domain import Kind
from collector.explore.directory import hours_of
from collector.explore.events import EventFilter
from collector.explore.rows import epoch_ms, hour_of, rows_of
from collector.explore.stored import IN_CHUNK, fetch_events
from collector.store.storage import Document, Storage


def _within_hours(hour: dt.datetime, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    return (start is None or hour >= hour_of(start)) and (end is None or hour < end)


async def matching_events(
    storage: Storage,
    tenant: str,
    kind: Kind,
    start: dt.datetime | None,
    end: dt.datetime | None,
    wanted: EventFilter,
) -> AsyncIterator[Document]:
    """Every stored event of [start, end) (None: unbounded) that `wanted` matches, without
    content, in no particular order."""
    hours: dict[str, dt.datetime] = {}
    if start is not None:
        hours["$gte"] = hour_of(start)
    if end is not None:
        hours["$lt"] = end
    query: Document = {"tenant": tenant, "kind": kind}
    if hours:
        query["hour"] = hours
    keyed = wanted.directory_key()
    if keyed is not None:  # only the hours the directory names for this user
        named = await hours_of(storage, tenant, *keyed)
        query["hour"] = {"$in": [h for h in named if _within_hours(h, start, end)]}
    low = epoch_ms(start) if start is not None else None
    high = epoch_ms(end) if end is not None else None
    ids: list[str] = []
    async for piece in storage.event_rows.find(query, {"rows": 1}):
        for row in rows_of(piece):
            within = (low is None or row.ts >= low) and (high is None or row.ts < high)
            if within and wanted.matches(row):
                ids.append(row.id)
    for i in range(0, len(ids), IN_CHUNK):
        found = await fetch_events(storage, kind, tenant, ids[i : i + IN_CHUNK], content=False)
        for doc in found.values():
            yield doc
