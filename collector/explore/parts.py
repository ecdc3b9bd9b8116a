"""Parts: how the explore job adds to summaries and to the directory without rewriting them.

A fold round (collector.explore.fold) writes what it adds to an hour's summaries or to a day's
directory bucket as a new document, a part of that group, rather than reading, merging and
rewriting the stored one: that one grows with the hour (a busy hour's traces: tens of
thousands), and rewriting it at every round made the job's cost per event grow with the hour
(measured: from 100 to 325 µs an event as one hour filled to 200k events). Readers merge a
group's parts as they merge hours.

So that readers meet few parts, the job merges them at the end of each run (merge_parts), up
to BATCH_GROUPS groups in one transaction: the parts read, one document of each group's sum
written, the parts deleted (a transaction a group cost seven round trips each, the job's most
CPU after a burst of ingest). A group is merged once it has FANOUT parts, the smallest first,
each taking the next while it is at most GROWTH times the sum so far (a key is rewritten about
log(n) times, not once a round); and wholly once QUIET_S has passed since a round last touched
it.

Each round counts the parts it adds in a marker per group, in the same transaction
(`explore_dirty`: {_id: "parts|<collection>|<group>", what: "parts", collection, group, where,
parts, touched}); a merge that meets a round conflicts on the marker, and one runs again.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.explore import directory, summaries
from collector.explore.summaries import MAX_ENTRIES
from collector.store.storage import Document, Storage

FANOUT = 8
GROWTH = 4
# A group or day no fold round touched for this long is done with for now: a busy hour or
# today is touched at every run (ROLLUP_INTERVAL_S, 10 s), a backfilled day is left behind.
QUIET_S = 60.0
BUDGET_S = 10.0  # merging per run at most; the rest waits for the next run
# Groups merged in one transaction at most, and about how many entries their parts hold: a
# transaction's reads and writes stay a few MB, and a conflict repeats little.
BATCH_GROUPS = 64
BATCH_ENTRIES = MAX_ENTRIES
ATTEMPTS = 20


@dataclass(frozen=True)
class _Kind:
    collection: Callable[[Storage], Any]
    merged_documents: Callable[[list[Document]], list[Document]]


_KINDS = {
    "explore_summaries": _Kind(lambda s: s.explore_summaries, summaries.merged_documents),
    "explore_directory": _Kind(lambda s: s.explore_directory, directory.merged_documents),
}
_WHERE = {"explore_summaries": summaries.where, "explore_directory": directory.where}


def counted(collection: str, part: Document, now: dt.datetime) -> UpdateOne:
    """The marker update that counts one more part of the part's group."""
    group = part["group"]
    return UpdateOne(
        {"_id": f"parts|{collection}|{group}"},
        {
            "$inc": {"parts": 1},
            "$set": {
                "what": "parts",
                "collection": collection,
                "group": group,
                "where": _WHERE[collection](part),
                "touched": now,
            },
        },
        upsert=True,
    )


def chosen(sizes: list[tuple[int, Any]], quiet: bool) -> list[Any]:
    """Which parts (size, id) to merge now: of a quiet group's, all; of a busy group with
    FANOUT parts or more, the smallest, each taking the next while it is at most GROWTH times
    the one before (at least two): parts of like sizes, so a key is rewritten about
    log(parts) times, not at every merge. A part of half MAX_ENTRIES or more is left as it is:
    a document holds MAX_ENTRIES at most, so merging it would gain little."""
    small = [(size, part) for size, part in sizes if size < MAX_ENTRIES // 2]
    if len(small) < 2:
        return []
    if quiet:
        return [part for _, part in small]
    if len(small) < FANOUT:
        return []
    ordered = sorted(small, key=lambda item: item[0])
    taken, previous = [ordered[0][1]], ordered[0][0]
    for size, part in ordered[1:]:
        if len(taken) >= 2 and size > GROWTH * max(previous, 1):
            break
        taken.append(part)
        previous = size
    return taken


@dataclass
class _Merge:
    """One group's merge, decided from its marker and its parts' sizes."""

    marker: Document
    ids: list[Any]  # the parts to merge now
    entries: int  # what they hold
    quiet: bool
    left: int  # its parts that may still be merged (below half MAX_ENTRIES)


async def _planned(
    storage: Storage,
    marker: Document,
    now: dt.datetime,
    quiet_s: float,
    session: AsyncClientSession,
) -> _Merge:
    collection = _KINDS[marker["collection"]].collection(storage)
    quiet = marker["touched"] <= now - dt.timedelta(seconds=quiet_s)
    sizes = [
        (doc.get("n", 0), doc["_id"])
        async for doc in collection.find(marker["where"], {"n": 1}, session=session)
    ]
    ids = chosen(sizes, quiet)
    taken = set(ids)
    entries = sum(size for size, part in sizes if part in taken)
    left = sum(1 for size, _ in sizes if size < MAX_ENTRIES // 2)
    return _Merge(marker, ids, entries, quiet, left)


async def _merge_groups(
    storage: Storage,
    marker_ids: list[str],
    now: dt.datetime,
    quiet_s: float,
    session: AsyncClientSession,
) -> tuple[int, int]:
    """Merge the groups of these markers, in order, in one transaction, until about
    BATCH_ENTRIES entries are read (one group at least); returns (markers done with, groups
    merged). A batch's parts are read, written and deleted a collection at a time, so a merge
    costs a few round trips per batch rather than seven per group."""
    found = storage.explore_dirty.find({"_id": {"$in": marker_ids}}, session=session)
    markers = {doc["_id"]: doc async for doc in found}
    plans: list[_Merge] = []
    entries = used = 0
    for marker_id in marker_ids:
        if plans and entries >= BATCH_ENTRIES:
            break
        used += 1
        marker = markers.get(marker_id)
        if marker is None:
            continue  # merged by another runner meanwhile
        plan = await _planned(storage, marker, now, quiet_s, session)
        plans.append(plan)
        entries += plan.entries
    for name, kind in _KINDS.items():
        mine = [plan for plan in plans if plan.ids and plan.marker["collection"] == name]
        if not mine:
            continue
        collection = kind.collection(storage)
        ids = [part for plan in mine for part in plan.ids]
        found = collection.find({"_id": {"$in": ids}}, session=session)
        parts = {doc["_id"]: doc async for doc in found}
        merged_docs: list[Document] = []
        for plan in mine:
            merged = kind.merged_documents([parts[part] for part in plan.ids])
            merged_docs += merged
            plan.left += sum(1 for doc in merged if doc["n"] < MAX_ENTRIES // 2) - len(plan.ids)
        await collection.insert_many(merged_docs, session=session)
        await collection.delete_many({"_id": {"$in": ids}}, session=session)
    updates: list[UpdateOne | DeleteOne] = [
        DeleteOne({"_id": plan.marker["_id"]})
        if plan.quiet
        else UpdateOne({"_id": plan.marker["_id"]}, {"$set": {"parts": plan.left}})
        for plan in plans
        if plan.quiet or plan.left != plan.marker["parts"]
    ]
    if updates:
        await storage.explore_dirty.bulk_write(updates, ordered=False, session=session)
    return used, sum(1 for plan in plans if plan.ids)


async def merge_parts(
    storage: Storage, *, quiet_s: float = QUIET_S, budget_s: float | None = BUDGET_S
) -> int:
    """Merge the parts of every group that has FANOUT of them, or has been quiet for
    `quiet_s`, until `budget_s` has passed (after a backfill, thousands of groups are quiet at
    once: the next run goes on, so that folding is not held up); returns how many groups were
    merged."""
    now = dt.datetime.now(dt.UTC)
    quiet_before = now - dt.timedelta(seconds=quiet_s)
    due = storage.explore_dirty.find(
        {
            "what": "parts",
            "$or": [{"parts": {"$gte": FANOUT}}, {"touched": {"$lte": quiet_before}}],
        },
        {"_id": 1},
    )
    queue = [doc["_id"] async for doc in due]
    merged = 0
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    while queue and (stop_at is None or time.monotonic() <= stop_at):
        work = functools.partial(_merge_groups, storage, queue[:BATCH_GROUPS], now, quiet_s)
        used, groups = await storage.transaction(work, attempts=ATTEMPTS)
        merged += groups
        del queue[:used]
    return merged
