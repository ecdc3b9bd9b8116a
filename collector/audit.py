"""The audit log (`audit_logs`): who did what, per tenant, and reading it back.

Records keep the seed's fields (event_type, client_id, action, timestamp, details) plus the
tenant. Details hold ids, scopes and counts, never a secret or a token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from collector.dates import DateRange
from collector.storage import Document, Storage

log = logging.getLogger(__name__)

MAX_ENTRIES = 1000


@dataclass(frozen=True)
class AuditEntry:
    event_type: str
    tenant: str
    client_id: str
    action: str
    timestamp: dt.datetime
    details: dict[str, Any]


class Auditor:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._logs = storage.audit_logs
        self._pending: set[asyncio.Task[None]] = set()

    async def record(
        self,
        event_type: str,
        tenant: str | None,
        client_id: str,
        action: str,
        details: Document,
    ) -> None:
        """Write one record. tenant None: the caller belongs to no tenant (an unknown client
        id); it is stored as "", which no tenant can be named."""
        await self._storage.audit(
            event_type=event_type,
            tenant=tenant or "",
            client_id=client_id,
            action=action,
            details=details,
        )

    def later(
        self, event_type: str, tenant: str | None, client_id: str, action: str, details: Document
    ) -> None:
        """Record without making the caller wait (e.g. for a refusal that must stay cheap)."""
        task = asyncio.ensure_future(self.record(event_type, tenant, client_id, action, details))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("audit record not written: %s", task.exception())

    async def list_entries(self, tenant: str, dates: DateRange) -> list[AuditEntry]:
        """The tenant's records in the range, newest first, at most MAX_ENTRIES."""
        query: Document = {"tenant": tenant}
        if bounds := dates.mongo_filter():
            query["timestamp"] = bounds
        cursor = self._logs.find(query).sort("timestamp", -1).limit(MAX_ENTRIES)
        return [
            AuditEntry(
                doc.get("event_type", ""),
                doc.get("tenant") or "",
                doc.get("client_id", ""),
                doc.get("action", ""),
                doc["timestamp"],
                doc.get("details") or {},
            )
            async for doc in cursor
        ]
