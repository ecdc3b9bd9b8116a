"""The drift job: fold drift partials into hour and day sketches, exactly once.

Each run lists the partials there are, oldest first, and folds them in short rounds. Each
round, in one transaction: read the next partials by `_id`, merge their sketches into the
`drift_hour` and `drift_day` documents they belong to (read, merged, written back), then delete
those partials. A crash or a second runner at any point leaves either the partials or their
effect, never both: an aborted round changes nothing, and two rounds that take the same
partial conflict on deleting it, so one of them aborts and is tried again.

A round takes at most ROUND partials, and stops taking them once their sketches would make it
write more than WRITES documents (an hour and a day document per sketch, fewer when they
share one); a partial is never split, so one with more sketches than that (up to 201 features
and predictions: 402 writes) is a round of its own. The job rests after each round for half as
long as it took, as the rollups job does (collector.rollups.fold), so that ingest and reads get
through between rounds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import bson
from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from collector.drift import sketches
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)
ROUND = 50  # partials per transaction at most
WRITES = 200  # sketch documents a round writes at most (but always one whole partial)
FOLD_ATTEMPTS = 20
PAUSE_SHARE = 0.5
RUN_BUDGET_S = 20.0
IN_CHUNK = 50  # ids per `$in` (the embedded database matches each find against the list)
Period = Literal["hour", "day"]
PERIODS: tuple[Period, ...] = ("hour", "day")
# (tenant, model_id, role, name, kind, start of the hour or day)
SketchKey = tuple[str, str, str, str, str, dt.datetime]


def floor(moment: dt.datetime, period: Period) -> dt.datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if period == "day" else moment


def sketch_id(period: Period, key: SketchKey) -> str:
    """One string, so lookups use the _id index. Unambiguous: tenants hold no "|", the start
    has a fixed width, roles and kinds are ours, and the model id is prefixed by its length,
    so whatever the model and feature names hold, the split is known."""
    tenant, model, role, name, kind, start = key
    when = f"{start:%Y%m%d%H}" if period == "hour" else f"{start:%Y%m%d}"
    return f"{tenant}|{when}|{role}|{kind}|{len(model)}:{model}|{name}"


def key_of(partial: Document, sketch: Document, period: Period) -> SketchKey:
    return (
        partial["tenant"],
        partial["model_id"],
        sketch["role"],
        sketch["name"],
        sketch["kind"],
        floor(partial["hour"], period),
    )


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), IN_CHUNK):
        yield list(items[i : i + IN_CHUNK])


async def pending_ids(storage: Storage) -> list[Any]:
    """The partials there are now, oldest first (ObjectIds sort by creation): listed once
    per run, fetched by `_id` in rounds."""
    return sorted([doc["_id"] async for doc in storage.drift_partials.find({}, {"_id": 1})])


async def _merge_into(
    collection: AsyncCollection[Document],
    period: Period,
    session: AsyncClientSession,
    groups: dict[SketchKey, list[Document]],
) -> None:
    """Merge each group of sketches into its stored sketch (or a new one)."""
    ids = {sketch_id(period, key): key for key in groups}
    stored: dict[str, Document] = {}
    for chunk in _chunks(list(ids)):
        async for doc in collection.find({"_id": {"$in": chunk}}, session=session):
            stored[doc["_id"]] = doc
    new: list[Document] = []
    replaced: list[Document] = []
    for doc_id, key in ids.items():
        parts = groups[key]
        before = stored.get(doc_id)
        blobs = [p["blob"] for p in parts] + ([before["blob"]] if before else [])
        tenant, model, role, name, kind, start = key
        doc = {
            "_id": doc_id,
            "tenant": tenant,
            "model_id": model,
            "role": role,
            "name": name,
            "kind": kind,
            period: start,
            "rows": sum(p["rows"] for p in parts) + (before["rows"] if before else 0),
            "blob": bson.Binary(sketches.merge(kind, blobs)),  # type: ignore[arg-type]
        }
        (replaced if before else new).append(doc)
    if new:
        await collection.insert_many(new, session=session)
    if replaced:
        await collection.bulk_write(
            [ReplaceOne({"_id": doc["_id"]}, doc) for doc in replaced],
            ordered=False,
            session=session,
        )


async def _fold_round(
    storage: Storage, session: AsyncClientSession, *, ids: list[Any]
) -> tuple[int, int]:
    """Fold the first partials of `ids` that fit a round into their hour and day sketches
    and delete them, in `session`'s transaction; returns how many ids are done with (folded,
    or gone meanwhile: another runner folded them) and how many partials were folded."""
    stored: dict[Any, Document] = {}
    for chunk in _chunks(ids):
        async for doc in storage.drift_partials.find({"_id": {"$in": chunk}}, session=session):
            stored[doc["_id"]] = doc
    taken: list[Document] = []
    targets: set[tuple[Period, SketchKey]] = set()
    used = 0
    for partial_id in ids:
        partial = stored.get(partial_id)
        if partial is not None:
            mine = {(p, key_of(partial, s, p)) for s in partial["sketches"] for p in PERIODS}
            if taken and len(targets | mine) > WRITES:
                break
            targets |= mine
            taken.append(partial)
        used += 1
    collections = {"hour": storage.drift_hour, "day": storage.drift_day}
    for period in PERIODS:
        groups: dict[SketchKey, list[Document]] = {}
        for partial in taken:
            for sketch in partial["sketches"]:
                groups.setdefault(key_of(partial, sketch, period), []).append(sketch)
        if groups:
            await _merge_into(collections[period], period, session, groups)
    for chunk in _chunks([doc["_id"] for doc in taken]):
        await storage.drift_partials.delete_many({"_id": {"$in": chunk}}, session=session)
    return used, len(taken)


async def fold_drift(
    storage: Storage,
    *,
    limit: int = ROUND,
    max_rounds: int | None = None,
    budget_s: float | None = None,
) -> int:
    """Fold drift partials, at most `limit` per transaction, until none is left (of those
    listed at the start), `max_rounds` are done or `budget_s` has passed; returns how many
    were folded."""
    queue = await pending_ids(storage)
    total = rounds = 0
    rest_s = 0.0
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    while (
        queue
        and (max_rounds is None or rounds < max_rounds)
        and (stop_at is None or time.monotonic() < stop_at)
    ):
        await asyncio.sleep(rest_s)
        rounds += 1
        started = time.monotonic()
        used, folded = await storage.transaction(
            functools.partial(_fold_round, storage, ids=queue[:limit]), attempts=FOLD_ATTEMPTS
        )
        del queue[:used]
        total += folded
        rest_s = (time.monotonic() - started) * PAUSE_SHARE
    if total:
        log.debug("drift: folded %d partials in %d rounds", total, rounds)
    return total


async def run_drift(storage: Storage) -> dict[str, int]:
    """The scheduled job: fold what there is; the run record keeps how much."""
    return {"folded": await fold_drift(storage, budget_s=RUN_BUDGET_S)}
