"""The ceiling: ready-made documents written straight into the database, no collector.

The documents the collector would store (their `_id` included), into the same collection with
the same write concern (collector.store.storage), under a tenant of its own so the data does not
mix, with the same number of batches in flight. Raw events have only the `_id` index, so this is
the
most the database takes for this document shape: no transaction, no partial, no collector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pymongo import AsyncMongoClient

from bench.events import Event
from bench.phase import Phase
from collector.store.storage import DURABLE

Batch = Sequence[Event]


async def insert_raw(
    url: str, database: str, warmup: Batch, batches: Sequence[Batch], in_flight: int, phase: Phase
) -> None:
    client: AsyncMongoClient[Event] = AsyncMongoClient(url, tz_aware=True)
    try:
        events = client[database].get_collection("ml_events", write_concern=DURABLE)
        await events.insert_many(warmup, ordered=False)
        pending = list(reversed(batches))

        async def writer() -> None:
            while pending:
                batch = pending.pop()
                result = await events.insert_many(batch, ordered=False)
                phase.acked(len(result.inserted_ids))

        phase.start()
        await asyncio.gather(*(writer() for _ in range(in_flight)))
        phase.stop()
    finally:
        await client.close()
