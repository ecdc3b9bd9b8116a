"""The rollup job: fold partials into minute, hour and day buckets, exactly once.

Each run lists the partials there are, oldest first, and folds them in rounds. Each round, in
one transaction: read the next partials by `_id`, merge their cells into the bucket documents
of every tier and their recent events into the per-tenant recent list, then delete those
partials. A partial with more cells than a round may write (a backfill's: a cell per event,
each in its own hour) is folded in parts: the round folds some of its cells and rewrites the
partial with the rest, in the same transaction. A crash or a second runner at any point
leaves either the cells or their effect, never both: an aborted round changes nothing, and
two rounds that read the same partial conflict on deleting or rewriting it, so one of them
aborts and retries.

Rounds are short because the embedded database serves everyone else while it works for us
(one process, one interpreter: our work slows theirs): a round writes at most `writes` bucket
documents, fewer when rounds run slow (Pace), and the job rests after each round for half as
long as it took, so that ingest and dashboards get through between them. Figures: the measurements
quoted below, and README (Benchmark).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from collector.rollups import cells, partials
from collector.rollups.cells import Cell
from collector.rollups.partials import Entry
from collector.rollups.tiers import BUCKET_TIERS, BucketTier, floor
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)
ROUND = 200  # partials per transaction at most
# Bucket documents one round writes at most. Measured on the embedded database, 2 cores shared
# with other work (load 8): 2.4-3.3 ms per bucket written, whatever the round's size (rounds
# of 100: median 0.24 s; of 400: 0.94 s); an ingest transaction of 500 events takes 0.4-0.8 s
# there alone, and overlapping a round of 300 it now and then outlasted its 1.5 s.
WRITES = 200
MIN_WRITES = 50
# A round that takes longer than this makes the next ones smaller (the machine is busy);
# quicker ones let them grow back, up to WRITES.
ROUND_TARGET_S = 0.3
# After each round the job rests for this share of the round's length: the database serves
# only others meanwhile, and a request overlaps at most one short round.
PAUSE_SHARE = 0.5
# One run stops starting rounds after this long and leaves the rest to the next run.
RUN_BUDGET_S = 20.0
FOLD_ATTEMPTS = 20
# The embedded database matches every document an `$in` finds against the whole list: a
# lookup of 300 ids cost 1.0 s, in chunks of 50 0.2 s.
IN_CHUNK = 50

BucketKey = tuple[str, str, str, Any]  # tenant, kind, model, bucket start
Target = tuple[BucketTier, BucketKey]  # one bucket document


def bucket_id(key: BucketKey) -> str:
    """One string, so lookups use the _id index (SecantusDB has no index path for a document
    _id: measured 25.8 s for 800 upserts into 3,000 buckets, against 0.55 s with strings).
    Unambiguous: tenants hold no "|", kinds are fixed, the start has a fixed width."""
    tenant, kind, model, start = key
    return f"{tenant}|{kind}|{start:%Y%m%d%H%M}|{model}"


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), IN_CHUNK):
        yield list(items[i : i + IN_CHUNK])


async def pending_ids(storage: Storage) -> list[Any]:
    """The partials there are now, oldest first: listed once per run. The embedded database
    answers any query that matches many documents by reading all of them whatever the limit,
    so rounds fetch theirs by `_id` instead of scanning again."""
    ids = [doc["_id"] async for doc in storage.partials.find({}, {"_id": 1})]
    return sorted(ids)


@dataclass
class _Round:
    """What one round folds: whole partials, and perhaps the first cells of one more."""

    minutes_from: dt.datetime | None
    writes: int
    whole: list[Document] = field(default_factory=list)
    part: tuple[Document, list[Entry]] | None = None  # (partial, the cells left for later)
    targets: set[Target] = field(default_factory=set)
    merged: dict[Target, Cell] = field(default_factory=dict)
    used: int = 0  # ids of the queue done with: folded whole, or gone meanwhile

    def targets_of(self, tenant: str, kind: str, entry: Entry) -> Iterator[Target]:
        for tier in BUCKET_TIERS:
            if tier == "minute" and self.minutes_from and entry["start"] < self.minutes_from:
                continue  # retention would delete it; readers take such minutes from raw
            yield tier, (tenant, kind, entry["model"], floor(entry["start"], tier))

    def take(self, partial: Document) -> bool:
        """Take as many of the partial's cells as the round has room for (at least one when
        it is empty); False once it is full."""
        tenant, kind = partial["tenant"], partial["kind"]
        # A model's cells in time order share hour and day buckets: a part writes fewer.
        entries = sorted(partials.cells_of(partial), key=lambda e: (e["model"], e["start"]))
        taken = 0
        for entry in entries:
            new = [t for t in self.targets_of(tenant, kind, entry) if t not in self.targets]
            if self.targets and len(self.targets) + len(new) > self.writes:
                break
            for target in self.targets_of(tenant, kind, entry):
                self.targets.add(target)
                cells.merge(self.merged.setdefault(target, cells.empty()), entry["cell"])
            taken += 1
        if taken == len(entries):
            self.whole.append(partial)
            return True
        if taken:
            self.part = (partial, entries[taken:])
        return False


async def _plan(
    storage: Storage,
    session: AsyncClientSession,
    queue: list[Any],
    limit: int,
    writes: int,
    minutes_from: dt.datetime | None,
) -> _Round:
    """The next partials of `queue`, read one at a time by `_id` (a backfill's are large),
    until the round is full or `limit` are taken whole."""
    plan = _Round(minutes_from, writes)
    for partial_id in queue:
        if len(plan.whole) >= limit:
            break
        partial = await storage.partials.find_one({"_id": partial_id}, session=session)
        if partial is None:
            plan.used += 1  # another runner folded it meanwhile
            continue
        if not plan.take(partial):
            break
        plan.used += 1
    return plan


async def _fold_round(
    storage: Storage,
    session: AsyncClientSession,
    *,
    queue: list[Any],
    limit: int,
    writes: int,
    minutes_from: dt.datetime | None,
) -> tuple[int, int]:
    """Fold the next partials of `queue` in `session`'s transaction; returns how many ids of
    the queue are done with (the caller drops them once the transaction has committed) and
    how many partials were folded whole."""
    plan = await _plan(storage, session, queue, limit, writes, minutes_from)
    by_tier: dict[BucketTier, dict[BucketKey, Cell]] = {tier: {} for tier in BUCKET_TIERS}
    for (tier, key), cell in plan.merged.items():
        by_tier[tier][key] = cell
    for tier, buckets in by_tier.items():
        if buckets:
            await _merge_into(storage.buckets[tier], session, buckets)
    recent: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for partial in plan.whole:
        owner = (partial["tenant"], partial["kind"])
        recent.setdefault(owner, []).extend(partials.recent_of(partial))
    for (tenant, kind), entries in recent.items():
        await _merge_recent(storage, session, tenant, kind, entries)
    for ids in _chunks([p["_id"] for p in plan.whole]):
        await storage.partials.delete_many({"_id": {"$in": ids}}, session=session)
    if plan.part is not None:
        partial, rest = plan.part
        await storage.partials.update_one(
            {"_id": partial["_id"]},
            {"$set": partials.packed(rest), "$unset": {"cells": ""}},  # an older one: packed now
            session=session,
        )
    return plan.used, len(plan.whole)


async def _merge_into(
    collection: AsyncCollection[Document],
    session: AsyncClientSession,
    buckets: dict[BucketKey, Cell],
) -> None:
    ids = {bucket_id(key): key for key in buckets}
    existing: set[str] = set()
    for chunk in _chunks(list(ids)):
        async for doc in collection.find({"_id": {"$in": chunk}}, session=session):
            existing.add(doc["_id"])
            cells.merge(buckets[ids[doc["_id"]]], cells.of_bucket(doc))

    def document(key: BucketKey) -> dict[str, Any]:
        tenant, kind, model, start = key
        return {
            "_id": bucket_id(key),
            **{"tenant": tenant, "kind": kind, "model": model, "start": start},
            "packed_cell": cells.packed(buckets[key]),
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


@dataclass
class Pace:
    """How large rounds are and how long the job rests between them. Rounds that take longer
    than `target_s` make the next ones smaller, quicker ones let them grow back up to `most`
    writes; the job keeps one Pace from run to run, so each run starts at the size the last
    one found the database could take."""

    most: int = WRITES
    target_s: float = ROUND_TARGET_S
    pause_share: float = PAUSE_SHARE
    writes: int = field(init=False)  # the next round's bound

    def __post_init__(self) -> None:
        self.writes = self.most

    def after(self, elapsed_s: float) -> float:
        """Learn from a round that took `elapsed_s`; returns how long to rest now."""
        if elapsed_s > self.target_s:
            self.writes = max(MIN_WRITES, int(self.writes * self.target_s / elapsed_s))
        else:
            self.writes = min(self.most, max(self.writes + 1, int(self.writes * 1.25)))
        return elapsed_s * self.pause_share


async def fold_partials(
    storage: Storage,
    *,
    limit: int = ROUND,
    max_rounds: int | None = None,
    budget_s: float | None = None,
    minute_retention_days: float = 0,
    pace: Pace | None = None,
) -> int:
    """Fold partials, at most `limit` per transaction, until none is left, `max_rounds` are
    done or `budget_s` has passed; returns how many were folded whole. Minute buckets older
    than `minute_retention_days` (0: keep all) are not written: retention would delete them,
    and readers take those minutes from raw events (collector.rollups.reader.minutes_kept_since,
    which keeps an hour's margin). A backfill of old events is then mostly hour buckets."""
    pace = pace or Pace()
    total = 0
    rounds = 0
    rest_s = 0.0
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
        await asyncio.sleep(rest_s)
        rounds += 1
        started = time.monotonic()
        writes = pace.writes
        # A second runner (a lost lease) conflicts on the same partials: take turns. Partials
        # written after the listing wait for the next run.
        used, folded = await storage.transaction(
            functools.partial(
                _fold_round,
                storage,
                queue=queue,
                limit=limit,
                writes=writes,
                minutes_from=minutes_from,
            ),
            attempts=FOLD_ATTEMPTS,
        )
        elapsed = time.monotonic() - started
        log.debug("rollups: a round of %d writes at most took %.3f s", writes, elapsed)
        rest_s = pace.after(elapsed)
        del queue[:used]
        total += folded
    if total:
        log.debug("rollups: folded %d partials in %d rounds", total, rounds)
    return total


async def run_rollups(
    storage: Storage, *, minute_retention_days: float, pace: Pace | None = None
) -> dict[str, int]:
    """The scheduled job: fold what there is; the run record keeps how much. The scheduler
    passes the same `pace` to every run."""
    folded = await fold_partials(
        storage, budget_s=RUN_BUDGET_S, minute_retention_days=minute_retention_days, pace=pace
    )
    return {"folded": folded}
