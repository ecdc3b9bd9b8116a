"""Parts: how the explore job adds to summaries and to the directory without rewriting them.

A fold round (collector.explore.fold) writes what it adds to an hour's summaries or to a day's
directory bucket as a new document, a part of that group, rather than reading, merging and
rewriting the stored one: that one grows with the hour (a busy hour's traces: tens of
thousands), and rewriting it at every round made the job's cost per event grow with the hour
(measured: from 100 to 325 µs an event as one hour filled to 200k events). Readers merge a
group's parts as they merge hours.

So that readers meet few parts, the job merges them at the end of each run (merge_parts), a
group at a time, in one transaction: the parts read, one document of their sum written, the
parts deleted. A group is merged once it has FANOUT parts, the smallest first, each taking the
next while it is at most GROWTH times the sum so far (a key is rewritten about log(n) times,
not once a round); and wholly once QUIET_S has passed since a round last touched it.

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

from pymongo import UpdateOne
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


async def _merge_group(
    storage: Storage, marker_id: str, now: dt.datetime, quiet_s: float, session: AsyncClientSession
) -> bool:
    marker = await storage.explore_dirty.find_one({"_id": marker_id}, session=session)
    if marker is None:
        return False
    kind = _KINDS[marker["collection"]]
    collection = kind.collection(storage)
    quiet = marker["touched"] <= now - dt.timedelta(seconds=quiet_s)
    sizes = [
        (doc.get("n", 0), doc["_id"])
        async for doc in collection.find(marker["where"], {"n": 1}, session=session)
    ]
    ids = chosen(sizes, quiet)
    # The marker counts the parts that may still be merged (those below half MAX_ENTRIES).
    left = sum(1 for size, _ in sizes if size < MAX_ENTRIES // 2)
    if ids:
        parts = [doc async for doc in collection.find({"_id": {"$in": ids}}, session=session)]
        merged = kind.merged_documents(parts)
        await collection.insert_many(merged, session=session)
        await collection.delete_many({"_id": {"$in": ids}}, session=session)
        left += sum(1 for doc in merged if doc["n"] < MAX_ENTRIES // 2) - len(ids)
    if quiet:
        await storage.explore_dirty.delete_one({"_id": marker_id}, session=session)
    elif left != marker["parts"]:
        await storage.explore_dirty.update_one(
            {"_id": marker_id}, {"$set": {"parts": left}}, session=session
        )
    return bool(ids)


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
    merged = 0
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    for marker_id in [doc["_id"] async for doc in due]:
        if stop_at is not None and time.monotonic() > stop_at:
            break
        work = functools.partial(_merge_group, storage, marker_id, now, quiet_s)
        merged += await storage.transaction(work, attempts=ATTEMPTS)
    return merged
