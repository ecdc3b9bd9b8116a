"""The audit log (`audit_logs`): who did what, per tenant, and reading it back.

Records keep the seed's fields (event_type, client_id, action, timestamp, details) plus the
tenant the record concerns and, when the actor belongs to another one (a global admin or the
CLI acting on a tenant), the actor's tenant. Details hold ids, scopes and counts, never a secret
or a token.

Who reads what: a tenant's admins read the records of their tenant. A global admin reads those
of its own tenant, plus what global admins and the CLI did in other tenants (by actor_tenant),
plus the records that belong to no tenant (tenant "", e.g. refused token requests for an
unknown client id), which nobody else can read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from collector.auth.clients import is_global_admin
from collector.dates import DateRange
from collector.domain import Principal
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)

MAX_ENTRIES = 1000
# The tenant of records that belong to none (no tenant can be named so), and the actor's
# tenant of the CLI, which acts as the operator rather than as a client of some tenant.
NO_TENANT = ""


@dataclass(frozen=True)
class AuditEntry:
    event_type: str
    tenant: str
    client_id: str
    action: str
    timestamp: dt.datetime
    details: dict[str, Any]
    actor_tenant: str = NO_TENANT


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
        *,
        actor_tenant: str | None = None,
    ) -> None:
        """Write one record. tenant None: the caller belongs to no tenant (an unknown client
        id); it is stored as "", which no tenant can be named. actor_tenant: the tenant of the
        actor (client_id) when it may differ from `tenant` (a global admin acting on another
        tenant; NO_TENANT for the CLI); None means the same as `tenant`."""
        await self._storage.audit(
            event_type=event_type,
            tenant=tenant or NO_TENANT,
            client_id=client_id,
            action=action,
            details=details,
            actor_tenant=actor_tenant,
        )

    def later(
        self,
        event_type: str,
        tenant: str | None,
        client_id: str,
        action: str,
        details: Document,
        *,
        actor_tenant: str | None = None,
    ) -> None:
        """Record without making the caller wait (e.g. for a refusal that must stay cheap)."""
        task = asyncio.ensure_future(
            self.record(event_type, tenant, client_id, action, details, actor_tenant=actor_tenant)
        )
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("audit record not written: %s", task.exception())

    async def list_for(self, caller: Principal, dates: DateRange) -> list[AuditEntry]:
        """What the caller may read (see the module's docstring), newest first."""
        global_view = await is_global_admin(self._storage.users, caller.client_id)
        return await self.list_entries(caller.tenant, dates, global_view=global_view)

    async def list_entries(
        self, tenant: str, dates: DateRange, *, global_view: bool = False
    ) -> list[AuditEntry]:
        """The tenant's records in the range, newest first, at most MAX_ENTRIES; global_view
        adds a global admin's (see the module's docstring)."""
        if not global_view:
            return [_entry(doc) for doc in await self._newest({"tenant": tenant}, dates)]
        # Two index-served reads merged here: the embedded database answers an $or across
        # two fields with a scan of the whole collection.
        tenants = {"$in": [tenant, NO_TENANT]}
        found: dict[Any, Document] = {}
        for query in ({"tenant": tenants}, {"actor_tenant": tenants}):
            found.update((doc["_id"], doc) for doc in await self._newest(query, dates))
        newest = sorted(found.values(), key=lambda doc: doc["timestamp"], reverse=True)
        return [_entry(doc) for doc in newest[:MAX_ENTRIES]]

    async def _newest(self, query: Document, dates: DateRange) -> list[Document]:
        if bounds := dates.mongo_filter():
            query = {**query, "timestamp": bounds}
        cursor = self._logs.find(query).sort("timestamp", -1).limit(MAX_ENTRIES)
        return [doc async for doc in cursor]


def _entry(doc: Document) -> AuditEntry:
    tenant = doc.get("tenant") or NO_TENANT
    return AuditEntry(
        doc.get("event_type", ""),
        tenant,
        doc.get("client_id", ""),
        doc.get("action", ""),
        doc["timestamp"],
        doc.get("details") or {},
        str(doc.get("actor_tenant", tenant)),
    )
