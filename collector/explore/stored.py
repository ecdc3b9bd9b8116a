"""Stored events by event id: what every explore read ends with, once rows have named them."""

from __future__ import annotations

from collections.abc import Sequence

from collector.domain import CONTENT_FIELDS, Kind
from collector.store.storage import Document, Storage

# The embedded database matches every document an `$in` finds against the whole list: lookups
# stay in chunks this size (collector.rollups.fold.IN_CHUNK measured it).
IN_CHUNK = 50
_NO_CONTENT = {name: 0 for name in CONTENT_FIELDS}


async def fetch_events(
    storage: Storage, kind: Kind, tenant: str, event_ids: Sequence[str], *, content: bool
) -> dict[str, Document]:
    """The tenant's stored events with these ids, by event id (those retention has not
    deleted meanwhile); without their content unless `content`."""
    found: dict[str, Document] = {}
    projection = None if content else _NO_CONTENT
    for i in range(0, len(event_ids), IN_CHUNK):
        ids = [f"{tenant}:{event_id}" for event_id in event_ids[i : i + IN_CHUNK]]
        async for doc in storage.events(kind).find({"_id": {"$in": ids}}, projection):
            found[doc["event_id"]] = doc
    return found


async def fetch_event(storage: Storage, kind: Kind, tenant: str, event_id: str) -> Document | None:
    """One stored event, with its content."""
    doc: Document | None = await storage.events(kind).find_one({"_id": f"{tenant}:{event_id}"})
    return doc
