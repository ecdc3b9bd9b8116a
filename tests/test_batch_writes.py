"""What a batch writes besides its events (rollup partial, export listing, drift partials,
explore rows and note) goes to the database in one bulkWrite command where the database takes
it (MongoDB 8.0, SecantusDB), one insert per collection otherwise (MongoDB 7): the same
documents either way, and the same errors as an insert's, so that a conflict is tried again
and a lost connection is answered "unavailable" (Storage.insert_in_one)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import grpc
import pytest
from pymongo.errors import PyMongoError

from collector.domain import Principal
from collector.errors import from_exception
from collector.ingest.batch import IngestService
from collector.store.storage import Storage, open_storage
from tests.procs import Database

pytestmark = pytest.mark.timeout(120)
SMALL = ("rollup_partials", "event_batches", "drift_partials", "event_rows", "explore_pending")


def batch(tenant: str, size: int = 20) -> list[dict[str, Any]]:
    """ML events with every attribution field and features: each writes all of SMALL."""
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return [
        {
            "event_id": f"{tenant}-{i}",
            "model_type": "rf",
            "model_id": "ranker",
            "input_shape": [],
            "prediction_count": 1,
            "timestamp": when - dt.timedelta(seconds=i),
            "metadata": {"region": "eu"},
            "latency_ms": 4.0,
            "user_id": f"user-{i % 3}",
            "session_id": f"session-{i % 2}",
            "trace_id": f"{i + 1:032x}",
            "span_id": f"{i + 1:016x}",
            "features": {"age": {"numbers": [float(i)]}},
            "predictions": {"numbers": [0.5]},
        }
        for i in range(size)
    ]


async def ingest(storage: Storage, tenant: str) -> None:
    principal = Principal("client", tenant, frozenset({"ingest"}))
    result = await IngestService(storage).ingest(principal, "ml", batch(tenant))
    assert (result.accepted, result.rejected, result.duplicates) == (20, 0, 0), result.errors


async def counts(storage: Storage, tenant: str) -> dict[str, int]:
    db = storage.partials.database
    return {name: await db[name].count_documents({"tenant": tenant}) for name in SMALL}


async def fail_bulk_write(storage: Storage, mode: Any, **data: Any) -> None:
    await storage.client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": mode,
            "data": {"failCommands": ["bulkWrite"], **data},
        }
    )


async def test_a_batch_writes_the_same_documents_with_or_without_bulk_write(
    failpoint_database: Database,
) -> None:
    async with open_storage(failpoint_database.url, "writes", 5000) as storage:
        assert storage.bulk_write  # SecantusDB answers as MongoDB 8.0 does
        await ingest(storage, "bulk")
        storage.bulk_write = False  # as with MongoDB 7
        await ingest(storage, "apart")
        in_one, apart = await counts(storage, "bulk"), await counts(storage, "apart")
    assert in_one == apart
    assert all(in_one.values()), in_one  # every kind was written


async def test_a_write_conflict_on_the_bulk_write_is_tried_again(
    failpoint_database: Database,
) -> None:
    """The server's WriteConflict comes back inside PyMongo's ClientBulkWriteException: it
    must still read as a conflict, or the batch would be refused instead of written."""
    async with open_storage(failpoint_database.url, "writes", 5000) as storage:
        await fail_bulk_write(
            storage,
            {"times": 2},
            errorCode=112,
            errorLabels=["TransientTransactionError"],
        )
        await ingest(storage, "conflict")
        assert (await counts(storage, "conflict"))["rollup_partials"] == 1
        events = storage.ml_events
        assert await events.count_documents({"tenant": "conflict"}) == 20


async def test_a_connection_lost_on_the_bulk_write_is_unavailable_and_nothing_is_stored(
    failpoint_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """UNAVAILABLE with a retry delay, never INTERNAL; the transaction's events are not
    stored, so the client's retry stores them once. The log says why: the lost connection
    cleared PyMongo's pool."""
    caplog.set_level(logging.INFO)
    async with open_storage(failpoint_database.url, "writes", 5000) as storage:
        await fail_bulk_write(storage, {"times": 1}, closeConnection=True)
        with pytest.raises(PyMongoError) as lost:
            await ingest(storage, "lost")
        error = from_exception(lost.value)
        assert error is not None and error.code == grpc.StatusCode.UNAVAILABLE, lost.value
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(m.startswith("database connection pool cleared") for m in said), said
        assert await storage.ml_events.count_documents({"tenant": "lost"}) == 0
        await ingest(storage, "lost")  # the client's retry
        assert await storage.ml_events.count_documents({"tenant": "lost"}) == 20
        assert (await counts(storage, "lost"))["rollup_partials"] == 1
