"""Retention: delete what is older than its cut-off, by range, in batches.

RETENTION_DAYS applies to raw events (`ml_events`, `llm_events`, by event time `timestamp`)
and to the spans of traces (`spans`, by span start);
ROLLUP_RETENTION_DAYS to minute rollup buckets (by bucket `start`) and to drift's hour sketches
(`drift_hour`, by `hour`); hour and day buckets and drift's day sketches are kept.
AUDIT_RETENTION_DAYS (365) applies to `audit_logs` (by `timestamp`), and
ALERT_HISTORY_RETENTION_DAYS (90) to alert events (`alert_events`, by the time of the state
change) and their delivery attempts (`alert_deliveries`, by attempt time). 0 keeps forever.
An alert event whose webhook is still to be delivered is never deleted, nor are its attempts.
Run history (`job_runs`) is kept for JOB_RUNS_KEEP.

A job rather than a TTL index: a TTL index is one more index to maintain on every insert,
which costs ingest throughput on the embedded database. For the same reason raw events have no
time index: each run scans them, which an hourly job can afford and ingest cannot. Minute
buckets and run records are found through their indexes instead, per tenant and kind (the
total buckets list those) and per job (the leases list those): a backfill leaves one minute
bucket per event, and the embedded database is single-threaded, so a scan of them all holds
everyone else up. Deletes go in batches, each a few small deletes, so that ingest is never
stuck behind one huge delete.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from collector.jobs.leases import utcnow
from collector.store.storage import Document, Storage

JOB_RUNS_KEEP = dt.timedelta(days=7)
BATCH = 5000
# Delivery states an alert event does not leave (collector.alerts.webhooks); any other, such
# as "pending", still has a webhook to send.
SETTLED = ("delivered", "failed", "cancelled")
# Ids per delete. The embedded database matches every document an `$in` finds against the
# whole list: 300 ids cost 1.0 s, so one delete of 5,000 would hold it for minutes.
DELETE_CHUNK = 50


async def _delete_batches(
    collection: AsyncCollection[Document], query: Document, batch: int
) -> int:
    deleted = 0
    while True:
        ids = [doc["_id"] async for doc in collection.find(query, {"_id": 1}).limit(batch)]
        for i in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[i : i + DELETE_CHUNK]
            deleted += (await collection.delete_many({"_id": {"$in": chunk}})).deleted_count
        if len(ids) < batch:
            return deleted


async def _delete_alert_history(
    storage: Storage, cutoff: dt.datetime, batch: int
) -> dict[str, int]:
    events = storage.alert_events
    deleted = {
        events.name: await _delete_batches(
            events, {"time": {"$lt": cutoff}, "delivery_status": {"$in": list(SETTLED)}}, batch
        )
    }
    # Attempts of an event still being delivered stay with it (few: one head per rule).
    unsettled = [
        doc["_id"]
        async for doc in events.find({"delivery_status": {"$nin": list(SETTLED)}}, {"_id": 1})
    ]
    deliveries = storage.alert_deliveries
    deleted[deliveries.name] = await _delete_batches(
        deliveries, {"time": {"$lt": cutoff}, "transition_id": {"$nin": unsettled}}, batch
    )
    return deleted


async def _owners(storage: Storage) -> list[tuple[str, str]]:
    """Every (tenant, kind) that has buckets: each has a total bucket per model."""
    found = storage.buckets["total"].find({}, {"tenant": 1, "kind": 1})
    return sorted({(doc["tenant"], doc["kind"]) async for doc in found})


async def _drift_owners(storage: Storage) -> list[tuple[str, str]]:
    """Every (tenant, model) that has drift sketches: each has a day sketch per feature."""
    found = storage.drift_day.find({}, {"tenant": 1, "model_id": 1})
    return sorted({(doc["tenant"], doc["model_id"]) async for doc in found})


async def apply_retention(
    storage: Storage,
    *,
    retention_days: float,
    rollup_retention_days: float,
    audit_retention_days: float = 0,
    alert_history_retention_days: float = 0,
    now: dt.datetime | None = None,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Delete expired documents; returns how many went, per collection."""
    now = now or utcnow()
    deleted: dict[str, int] = {}
    if retention_days > 0:
        cutoff = now - dt.timedelta(days=retention_days)
        for collection in (storage.ml_events, storage.llm_events):
            deleted[collection.name] = await _delete_batches(
                collection, {"timestamp": {"$lt": cutoff}}, batch
            )
        deleted[storage.spans.name] = await _delete_batches(
            storage.spans, {"start": {"$lt": cutoff}}, batch
        )
        # Explore's rows and directory go with the last events they cover (a read skips the
        # events no longer stored).
        deleted[storage.event_rows.name] = await _delete_batches(
            storage.event_rows, {"hour": {"$lt": cutoff - dt.timedelta(hours=1)}}, batch
        )
        deleted[storage.explore_directory.name] = await _delete_batches(
            storage.explore_directory, {"day": {"$lt": cutoff - dt.timedelta(days=1)}}, batch
        )
        deleted[storage.explore_summaries.name] = await _delete_batches(
            storage.explore_summaries, {"start": {"$lt": cutoff - dt.timedelta(days=1)}}, batch
        )
        # A listing goes with the newest of its events (export skips ids no longer stored).
        deleted[storage.event_batches.name] = await _delete_batches(
            storage.event_batches, {"last": {"$lt": cutoff}}, batch
        )
    if rollup_retention_days > 0:
        cutoff = now - dt.timedelta(days=rollup_retention_days)
        minute = storage.buckets["minute"]
        deleted[minute.name] = 0
        for tenant, kind in await _owners(storage):
            old = {"tenant": tenant, "kind": kind, "start": {"$lt": cutoff}}
            deleted[minute.name] += await _delete_batches(minute, old, batch)
        hours = storage.drift_hour
        deleted[hours.name] = 0
        for tenant, model in await _drift_owners(storage):
            old = {"tenant": tenant, "model_id": model, "hour": {"$lt": cutoff}}
            deleted[hours.name] += await _delete_batches(hours, old, batch)
    if audit_retention_days > 0:
        cutoff = now - dt.timedelta(days=audit_retention_days)
        deleted[storage.audit_logs.name] = await _delete_batches(
            storage.audit_logs, {"timestamp": {"$lt": cutoff}}, batch
        )
    if alert_history_retention_days > 0:
        cutoff = now - dt.timedelta(days=alert_history_retention_days)
        deleted |= await _delete_alert_history(storage, cutoff, batch)
    deleted[storage.job_runs.name] = 0
    for job in [doc["_id"] async for doc in storage.job_leases.find({}, {"_id": 1})]:
        old = {"job": job, "started_at": {"$lt": now - JOB_RUNS_KEEP}}
        deleted[storage.job_runs.name] += await _delete_batches(storage.job_runs, old, batch)
    return {"deleted": deleted}
