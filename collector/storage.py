"""The MongoDB handle: one client per process, the collections, and the indexes they need."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from collector.errors import Unavailable

log = logging.getLogger(__name__)

Document = dict[str, Any]
DUPLICATE_KEY = 11000

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
            for tier in ("minute", "hour", "day")
        }
        self.recent: AsyncCollection[Document] = db.get_collection(
            "rollup_recent", write_concern=DURABLE
        )
        self._available = True

    async def ensure_indexes(self) -> None:
        for events in (self.ml_events, self.llm_events):
            await events.create_indexes(
                [
                    # Exactly-once: a retried event_id is refused by the database itself.
                    IndexModel(
                        [("tenant", ASCENDING), ("event_id", ASCENDING)],
                        unique=True,
                        name="tenant_event_id_unique",
                    ),
                    IndexModel([("tenant", ASCENDING), ("timestamp", DESCENDING)]),
                ]
            )
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

    async def insert_events(
        self, collection: AsyncCollection[Document], docs: Sequence[Document]
    ) -> InsertOutcome:
        """One unordered insert_many; duplicate keys are counted, not raised."""
        if not docs:
            return InsertOutcome()
        if not self._available:
            raise Unavailable("database unavailable, retry later", retry_after=1.0)
        try:
            result = await collection.insert_many(docs, ordered=False)
            return InsertOutcome(inserted=len(result.inserted_ids))
        except BulkWriteError as exc:
            details = exc.details
            others = [e for e in details["writeErrors"] if e["code"] != DUPLICATE_KEY]
            if others or details.get("writeConcernErrors"):
                raise
            return InsertOutcome(
                inserted=details["nInserted"],
                duplicates=len(details["writeErrors"]),
            )

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
