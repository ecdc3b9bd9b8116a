"""The rollup job: fold partials into minute, hour and day buckets, exactly once.

Each run lists the partials there are, oldest first. Each round, in one transaction: read the
next of them by `_id`, merge their cells into the bucket documents of every tier and their
recent events into the per-tenant recent list, then delete those partials. A crash or a second
runner at any point leaves either the partials or their effect, never both: an aborted round
changes nothing, and two rounds that read the same partials conflict on deleting them, so one
of them aborts and retries.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.rollups import cells, partials
from collector.rollups.cells import Cell
from collector.rollups.tiers import BUCKET_TIERS, BucketTier, floor
from collector.storage import Storage

log = logging.getLogger(__name__)
ROUND = 200  # partials per transaction at most: ~100k events at the SDK's batch size
# ...and at most about this many (model, minute) cells: a backfill whose events are spread
# over many minutes has a cell per event, and one round must stay short, because the embedded
# database serves everyone else while it commits.
ROUND_CELLS = 500
# One run of the job stops starting rounds after this long and leaves the rest to the next
# run, so that it never holds the database (and its lease) for minutes on end.
RUN_BUDGET_S = 20.0
FOLD_ATTEMPTS = 20

BucketKey = tuple[str, str, str, Any]  # tenant, kind, model, bucket start


def bucket_id(key: BucketKey) -> str:
    """One string, so lookups use the _id index (SecantusDB has no index path for a document
    _id: measured 25.8 s for 800 upserts into 3,000 buckets, against 0.55 s with strings).
    Unambiguous: tenants hold no "|", kinds are fixed, the start has a fixed width."""
    tenant, kind, model, start = key
    return f"{tenant}|{kind}|{start:%Y%m%d%H%M}|{model}"


async def pending_ids(storage: Storage) -> list[Any]:
    """The partials there are now, oldest first: listed once per run. The embedded database
    answers any query that matches many documents by reading all of them whatever the limit
    (measured: 1.8 s for `find().limit(1)` over 400 backfill partials of 160 kB), so rounds
    fetch theirs by `_id` instead of scanning again."""
    ids = [doc["_id"] async for doc in storage.partials.find({}, {"_id": 1})]
    return sorted(ids)


async def _round(
    storage: Storage, session: AsyncClientSession, queue: list[Any], limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The next partials of `queue` that fit ROUND_CELLS (at least one), at most `limit`, read
    one at a time by `_id`: a backfill's partials are large. Returns them and how many ids of
    the queue they used up, counting those another runner has folded meanwhile."""
    taken: list[dict[str, Any]] = []
    size = used = 0
    for partial_id in queue:
        if len(taken) >= limit:
            break
        partial = await storage.partials.find_one({"_id": partial_id}, session=session)
        if partial is not None:
            size += len(partial["cells"])
            if taken and size > ROUND_CELLS:
                break
            taken.append(partial)
        used += 1
    return taken, used


async def _fold_round(
    storage: Storage,
    session: AsyncClientSession,
    queue: list[Any],
    limit: int,
    minutes_from: dt.datetime | None,
) -> tuple[int, int]:
    """Fold the next partials of `queue` in `session`'s transaction; returns how many ids of
    the queue are done with (the caller drops them once the transaction has committed) and
    how many partials were folded."""
    batch, used = await _round(storage, session, queue, limit)
    if not batch:
        return used, 0
    merged: dict[BucketTier, dict[BucketKey, Cell]] = {tier: {} for tier in BUCKET_TIERS}
    recent: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for partial in batch:
        tenant, kind = partial["tenant"], partial["kind"]
        for entry in partial["cells"]:
            for tier in BUCKET_TIERS:
                if tier == "minute" and minutes_from and entry["start"] < minutes_from:
                    continue  # retention would delete it; readers take such minutes from raw
                key = (tenant, kind, entry["model"], floor(entry["start"], tier))
                cells.merge(merged[tier].setdefault(key, cells.empty()), entry["cell"])
        recent.setdefault((tenant, kind), []).extend(partial["recent"])
    for tier, buckets in merged.items():
        await _merge_into(storage, session, tier, buckets)
    for (tenant, kind), entries in recent.items():
        await _merge_recent(storage, session, tenant, kind, entries)
    await storage.partials.delete_many({"_id": {"$in": [p["_id"] for p in batch]}}, session=session)
    return used, len(batch)


async def _merge_into(
    storage: Storage,
    session: AsyncClientSession,
    tier: BucketTier,
    buckets: dict[BucketKey, Cell],
) -> None:
    collection = storage.buckets[tier]
    ids = {bucket_id(key): key for key in buckets}
    existing: set[str] = set()
    async for doc in collection.find({"_id": {"$in": list(ids)}}, session=session):
        existing.add(doc["_id"])
        cells.merge(buckets[ids[doc["_id"]]], doc["cell"])

    def document(key: BucketKey) -> dict[str, Any]:
        tenant, kind, model, start = key
        return {
            "_id": bucket_id(key),
            **{"tenant": tenant, "kind": kind, "model": model, "start": start},
            "cell": buckets[key],
        }

    # New buckets are inserted (the common case, and far cheaper); known ones replaced.
    new = [document(key) for bucket, key in ids.items() if bucket not in existing]
    if new:
        await collection.insert_many(new, session=session)
    if existing:
        await collection.bulk_write(
            [ReplaceOne({"_id": bucket}, document(ids[bucket])) for bucket in existing],
            ordered=False,
            session=session,
        )


async def _merge_recent(
    storage: Storage,
    session: AsyncClientSession,
    tenant: str,
    kind: str,
    entries: list[dict[str, Any]],
) -> None:
    key = f"{tenant}|{kind}"
    doc = await storage.recent.find_one({"_id": key}, session=session)
    if doc is not None:
        entries = entries + doc["entries"]
    await storage.recent.replace_one(
        {"_id": key},
        {"_id": key, "tenant": tenant, "kind": kind, "entries": partials.newest(entries)},
        upsert=True,
        session=session,
    )


async def fold_partials(
    storage: Storage,
    *,
    limit: int = ROUND,
    max_rounds: int | None = None,
    budget_s: float | None = None,
    minute_retention_days: float = 0,
) -> int:
    """Fold partials, at most `limit` per transaction, until none is left, `max_rounds` are
    done or `budget_s` has passed; returns how many were folded. Minute buckets older than
    `minute_retention_days` (0: keep all) are not written: retention would delete them, and
    readers take those minutes from raw events (collector.rollups.reader.minutes_kept_since,
    which keeps an hour's margin). A backfill of old events is then mostly hour buckets."""
    total = 0
    rounds = 0
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    minutes_from = None
    if minute_retention_days:
        minutes_from = dt.datetime.now(dt.UTC) - dt.timedelta(days=minute_retention_days)
    queue = await pending_ids(storage)
    while (
        queue
        and (max_rounds is None or rounds < max_rounds)
        and (stop_at is None or time.monotonic() < stop_at)
    ):
        rounds += 1
        # A second runner (a lost lease) conflicts on the same partials: take turns. Partials
        # written after the listing wait for the next run.
        used, folded = await storage.transaction(
            lambda s: _fold_round(storage, s, queue, limit, minutes_from),
            attempts=FOLD_ATTEMPTS,
        )
        del queue[:used]
        total += folded
    if total:
        log.debug("rollups: folded %d partials", total)
    return total


async def run_rollups(storage: Storage, *, minute_retention_days: float) -> dict[str, int]:
    """The scheduled job: fold what there is; the run record keeps how much."""
    folded = await fold_partials(
        storage, budget_s=RUN_BUDGET_S, minute_retention_days=minute_retention_days
    )
    return {"folded": folded}
