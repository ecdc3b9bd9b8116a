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

from collector.errors import Unavailable, database_busy

log = logging.getLogger(__name__)

Document = dict[str, Any]
T = TypeVar("T")
DUPLICATE_KEY = 11000
TRANSACTION_ATTEMPTS = 5
CONFLICT_PAUSE_S = 0.005

# Events are acknowledged to clients only after this write concern is satisfied.
DURABLE = WriteConcern(w="majority", j=True)
DEFAULT_REQUEST_TIMEOUT_S = 1.5
# PyMongo's heartbeats use connectTimeoutMS as their socket timeout, and a heartbeat that
# times out clears the pool, cancelling every operation in flight (seen: _OperationCancelled
# in background jobs while the database was merely busy). Heartbeats get this long; what
# bounds requests is the client's operation timeout (timeoutMS), not the heartbeat.
HEARTBEAT_TIMEOUT_MS = 10_000
# Background work (jobs, index builds) runs its long transactions and deletes under this
# deadline per run instead of the request's per-operation timeout.
BACKGROUND_TIMEOUT_S = 300.0


@dataclass
class InsertOutcome:
    inserted: int = 0
    duplicates: int = 0  # already stored under the same (tenant, event_id)


class Storage:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        database: str,
        *,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.request_timeout_s = request_timeout_s
        db = client[database]
        self.ml_events: AsyncCollection[Document] = db.get_collection(
            "ml_events", write_concern=DURABLE
        )
        self.llm_events: AsyncCollection[Document] = db.get_collection(
            "llm_events", write_concern=DURABLE
        )
        self.audit_logs: AsyncCollection[Document] = db["audit_logs"]
        self.users: AsyncCollection[Document] = db["users"]
        # Tenants' own model prices (collector.price_overrides); _id = "tenant:model".
        self.price_overrides: AsyncCollection[Document] = db["price_overrides"]
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

    def request_deadline(self) -> contextlib.AbstractContextManager[None]:
        """One deadline for several operations that make one write (PyMongo's client-side
        timeout; alone, each operation has its own, the client's timeoutMS). A timeout raises
        a PyMongoError whose `timeout` is true: UNAVAILABLE for the caller."""
        return pymongo.timeout(self.request_timeout_s)

    @staticmethod
    def background_deadline() -> contextlib.AbstractContextManager[None]:
        """The deadline of a background run (a job, index builds): long transactions and
        deletes are expected there, unlike in a request."""
        return pymongo.timeout(BACKGROUND_TIMEOUT_S)

    @property
    def available(self) -> bool:
        """Whether the last probe reached the database. While not, writes fail fast with
        UNAVAILABLE instead of each waiting out the server-selection timeout."""
        return self._available

    async def probe(self, timeout_s: float) -> bool:
        """Ping the database (the health monitor does, periodically); return whether it
        answered within timeout_s. A ping that timed out on a database we are connected to
        leaves it `available`: busy is not down (requests still try, and are told to retry
        later if they time out too)."""
        try:
            with pymongo.timeout(timeout_s):
                await self.client.admin.command("ping")
        except PyMongoError as exc:
            self._available = database_busy(exc)
            return False
        self._available = True
        return True

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

        # A write that times out may still have landed (its commit sent, the answer not yet
        # read): the client's retry then finds the _ids stored and counts them as duplicates.
        with self.request_deadline():
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
async def open_storage(
    url: str,
    database: str,
    timeout_ms: int,
    request_timeout_ms: int = int(DEFAULT_REQUEST_TIMEOUT_S * 1000),
) -> AsyncIterator[Storage]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url,
        tz_aware=True,
        # Bounded so an unreachable database answers UNAVAILABLE quickly, never a hang.
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=max(timeout_ms, HEARTBEAT_TIMEOUT_MS),
        # Every operation ends within this (PyMongo's client-side operation timeout), so a
        # database that is frozen rather than down answers UNAVAILABLE within 2 s; a socket
        # timeout alone waited 30 s. Background work sets its own (background_deadline).
        timeoutMS=request_timeout_ms,
        appname="aegisai-collector",
    )
    try:
        storage = Storage(client, database, request_timeout_s=request_timeout_ms / 1000)
        with storage.background_deadline():
            await storage.ensure_indexes()
        yield storage
    finally:
        await client.close()
