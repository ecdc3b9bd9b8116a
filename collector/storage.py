"""The MongoDB handle: one client per process, the collections, and the indexes they need."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern

from collector.errors import Unavailable

log = logging.getLogger(__name__)

Document = dict[str, Any]
T = TypeVar("T")
DUPLICATE_KEY = 11000
TRANSACTION_ATTEMPTS = 5
CONFLICT_PAUSE_S = 0.005

# Events are acknowledged to clients only after this write concern is satisfied.
DURABLE = WriteConcern(w="majority", j=True)


@dataclass
class InsertOutcome:
    inserted: int = 0
    duplicates: int = 0  # already stored under the same (tenant, event_id)


class Storage:
    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self.client = client
        db = client[database]
        self.ml_events: AsyncCollection[Document] = db.get_collection(
            "ml_events", write_concern=DURABLE
        )
        self.llm_events: AsyncCollection[Document] = db.get_collection(
            "llm_events", write_concern=DURABLE
        )
        self.audit_logs: AsyncCollection[Document] = db["audit_logs"]
        self.users: AsyncCollection[Document] = db["users"]
        # Background jobs (collector.jobs) and alert rules (collector.alerts).
        self.job_leases: AsyncCollection[Document] = db["job_leases"]
        self.job_runs: AsyncCollection[Document] = db["job_runs"]
        self.alert_rules: AsyncCollection[Document] = db["alert_rules"]
        self.alert_events: AsyncCollection[Document] = db["alert_events"]
        self.alert_deliveries: AsyncCollection[Document] = db["alert_deliveries"]
        # Rollups (collector.rollups): a partial written with each batch, folded into buckets.
        self.partials: AsyncCollection[Document] = db.get_collection(
            "rollup_partials", write_concern=DURABLE
        )
        self.buckets: dict[str, AsyncCollection[Document]] = {
            tier: db.get_collection(f"rollups_{tier}", write_concern=DURABLE)
            for tier in ("minute", "hour", "day", "total")
        }
        self.recent: AsyncCollection[Document] = db.get_collection(
            "rollup_recent", write_concern=DURABLE
        )
        # Export (collector.export): one listing of the _ids each batch stored. No secondary
        # index: with one on (tenant, kind), concurrent ingest transactions conflicted until
        # they gave up (seen in test_delivery after a collector was killed mid-stream).
        self.event_batches: AsyncCollection[Document] = db.get_collection(
            "event_batches", write_concern=DURABLE
        )
        self._available = True

    async def ensure_indexes(self) -> None:
        # Raw events keep only their _id index: it is derived from (tenant, event_id), so it
        # is also what makes a retried event a duplicate. Every further index costs ingest
        # (measured: 18.6k docs/s with _id only, 5.2k with two more); reads use rollups.
        await self.partials.create_indexes([IndexModel([("tenant", ASCENDING)])])
        for buckets in self.buckets.values():
            await buckets.create_indexes(
                [IndexModel([("tenant", ASCENDING), ("kind", ASCENDING), ("start", ASCENDING)])]
            )
        await self.recent.create_indexes([IndexModel([("tenant", ASCENDING)])])
        await self.users.create_indexes(
            [IndexModel([("client_id", ASCENDING)], unique=True, name="client_id_unique")]
        )
        await self.audit_logs.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("timestamp", DESCENDING)])]
        )
        await self.job_runs.create_indexes(
            [IndexModel([("job", ASCENDING), ("started_at", DESCENDING)])]
        )
        await self.alert_rules.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("created_at", ASCENDING)])]
        )
        await self.alert_events.create_indexes(
            [
                IndexModel([("tenant", ASCENDING), ("time", DESCENDING)]),
                # The deliverer's scan: pending transitions, per rule in order.
                IndexModel(
                    [("delivery_status", ASCENDING), ("rule_id", ASCENDING), ("seq", ASCENDING)]
                ),
            ]
        )
        await self.alert_deliveries.create_indexes(
            [IndexModel([("transition_id", ASCENDING), ("attempt", ASCENDING)])]
        )

    def events(self, kind: str) -> AsyncCollection[Document]:
        """The raw events of one kind, "ml" or "llm"."""
        return self.ml_events if kind == "ml" else self.llm_events

    @property
    def available(self) -> bool:
        """Whether the last probe was answered. While not, writes fail fast with UNAVAILABLE
        instead of each waiting out the server-selection timeout."""
        return self._available

    async def probe(self, timeout_s: float) -> bool:
        """Ping the database (the health monitor does, periodically); remember and return
        whether it answered within timeout_s."""
        try:
            with pymongo.timeout(timeout_s):
                await self.client.admin.command("ping")
            self._available = True
        except PyMongoError:
            self._available = False
        return self._available

    async def transaction(
        self,
        work: Callable[[AsyncClientSession], Awaitable[T]],
        *,
        read_concern: ReadConcern | None = None,
        attempts: int = TRANSACTION_ATTEMPTS,
    ) -> T:
        """Run `work` in one transaction, committed with DURABLE; again (a few times) when it
        conflicts with another writer, after a random pause so that two writers do not meet
        again. `work` may run more than once, so it must read what it decides on inside the
        transaction. Unlike PyMongo's with_transaction, which keeps retrying for two minutes,
        a database that is down fails the call at once."""
        for attempt in range(1, attempts + 1):
            async with self.client.start_session() as session:
                try:
                    async with await session.start_transaction(
                        read_concern=read_concern, write_concern=DURABLE
                    ):
                        return await work(session)
                except PyMongoError as exc:
                    if attempt == attempts or not _conflict(exc):
                        raise
                    log.debug("transaction conflict, attempt %d: %s", attempt, exc)
            await asyncio.sleep(random.uniform(0, CONFLICT_PAUSE_S * 2 ** min(attempt, 6)))
        raise AssertionError("unreachable")

    async def insert_new(
        self,
        collection: AsyncCollection[Document],
        docs: Sequence[Document],
        summary: Callable[[list[Document]], Document],
        listing: Callable[[list[Document]], Document] | None = None,
    ) -> InsertOutcome:
        """Insert the documents whose `_id` is not stored yet, `summary(inserted)` into the
        partials and `listing(inserted)` into event_batches, in one transaction: all or
        none. The `_id`s are derived from (tenant, event_id) and distinct within `docs`, so a
        retried event is found, counted as a duplicate and written no second time."""
        if not docs:
            return InsertOutcome()
        if not self._available:
            raise Unavailable("database unavailable, retry later", retry_after=1.0)
        ids = [doc["_id"] for doc in docs]

        async def write(session: AsyncClientSession) -> int:
            found = collection.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
            stored = {doc["_id"] async for doc in found}
            new = [doc for doc in docs if doc["_id"] not in stored]
            if new:
                await collection.insert_many(new, session=session)
                await self.partials.insert_one(summary(new), session=session)
                if listing is not None:
                    await self.event_batches.insert_one(listing(new), session=session)
            return len(new)

        inserted = await self.transaction(write)
        return InsertOutcome(inserted=inserted, duplicates=len(docs) - inserted)

    async def audit(
        self, *, event_type: str, tenant: str, client_id: str, action: str, details: Document
    ) -> None:
        await self.audit_logs.insert_one(
            {
                "event_type": event_type,
                "tenant": tenant,
                "client_id": client_id,
                "action": action,
                "timestamp": dt.datetime.now(dt.UTC),
                "details": details,
            }
        )


def _conflict(exc: PyMongoError) -> bool:
    """A clash with a concurrent transaction, which running again resolves (a lost connection
    carries the same label, but is not worth a retry on the ingest path: the caller's is)."""
    if isinstance(exc, ConnectionFailure):
        return False
    if isinstance(exc, BulkWriteError):
        # insert_many met an _id another writer committed after our snapshot began.
        return any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", ()))
    return exc.has_error_label("TransientTransactionError") or (
        isinstance(exc, OperationFailure) and exc.code == DUPLICATE_KEY
    )


@contextlib.asynccontextmanager
async def open_storage(url: str, database: str, timeout_ms: int) -> AsyncIterator[Storage]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url,
        tz_aware=True,
        # Bounded so an unreachable database answers UNAVAILABLE quickly, never a hang.
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        # A database that accepts a connection but stops answering is cut off here.
        socketTimeoutMS=30_000,
        appname="aegisai-collector",
    )
    try:
        storage = Storage(client, database)
        await storage.ensure_indexes()
        yield storage
    finally:
        await client.close()
