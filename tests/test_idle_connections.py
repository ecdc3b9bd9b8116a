"""A pooled database connection that sat idle is closed by PyMongo before the database (or a
firewall) closes it under us: SecantusDB drops a connection idle for 300 s, and async PyMongo
does not notice while it is not reading, so the next operation on it failed on the network,
which cleared the pool and failed every operation in flight with it, each answered
"database unavailable" (seen in fresh-clone runs, on reads and on streams alike).

The wire proxy stands in for the database's idle timeout, with a shorter one; the collector's
limit (storage.MAX_IDLE_MS, a minute) is shortened to match.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib

import pytest

from collector.domain import Principal
from collector.ingest.batch import IngestService
from collector.store.storage import Storage, open_storage
from tests.procs import Database, mongodb_url
from tests.wire_proxy import WireProxy, wire_proxy

pytestmark = pytest.mark.timeout(120)
IDLE_S = 1.0  # the proxy's idle timeout, as the database's 300 s
IN_FLIGHT = 6  # concurrent batches: as many pooled connections


async def ingest_concurrently(storage: Storage, round_: str) -> None:
    now = dt.datetime.now(dt.UTC)

    async def one(i: int) -> None:
        principal = Principal("client", f"tenant-{i}", frozenset({"ingest"}))
        events = [
            {
                "event_id": f"{round_}-{i}-{n}",
                "model_type": "rf",
                "model_id": "ranker",
                "input_shape": [],
                "prediction_count": 1,
                "timestamp": now,
                "metadata": {},
                "latency_ms": 3.0,
            }
            for n in range(50)
        ]
        result = await IngestService(storage).ingest(principal, "ml", events)
        assert result.accepted == 50, result

    await asyncio.gather(*(one(i) for i in range(IN_FLIGHT)))


async def round_trip_after_idle(proxy: WireProxy, storage: Storage) -> None:
    await ingest_concurrently(storage, "busy")
    await asyncio.sleep(IDLE_S * 1.5)
    proxy.close_idle(IDLE_S)  # what the database does to connections idle that long
    assert proxy.idle_closed >= 1  # the pool's connections, all idle now
    await ingest_concurrently(storage, "after")  # no "database unavailable"


async def test_connections_idle_longer_than_the_database_keeps_them_are_not_used(
    tmp_path: pathlib.Path,
) -> None:
    db = Database(tmp_path).start()
    try:
        with wire_proxy(db.port) as proxy:
            async with open_storage(
                mongodb_url(proxy.port), "idle", 5000, max_idle_ms=int(IDLE_S * 1000 / 2)
            ) as storage:
                await round_trip_after_idle(proxy, storage)
    finally:
        db.stop()
