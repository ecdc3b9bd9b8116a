"""The explore job: fold pending notes (collector.explore.notes) into the directory and the
summaries, exactly once.

Each round, in one transaction: read the next notes by `_id` and their rows, sum the rows per
user, session and trace and hour (collector.explore.summaries), write those sums as new parts
of the hour summaries and of the directory documents (key → hours) they touch, count the
parts and mark the days touched (collector.explore.parts), delete the notes. No stored
summary is read or rewritten by a round, so its cost is its notes', whatever the hour holds.
A crash or a second runner at any point leaves either the notes or their effect, never both:
two rounds that read the same note conflict on deleting it, so one of them aborts and retries.
A round writes at most ROUND_WRITES documents (but folds at least one note, whatever it
touches), and the job rests after each round for half as long as it took, so that ingest and
reads get through between rounds, as the rollup job does (collector.rollups.fold). After the
rounds, a run merges the parts of groups that have many (collector.explore.parts), and builds
the day summary of each marked day that no round touched for QUIET_S from its hours
(rebuild_days).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import DeleteMany, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.explore import directory
from collector.explore.notes import NoteEntry, entries_of, pieces_by_id
from collector.explore.parts import BUDGET_S, QUIET_S, counted, merge_parts
from collector.explore.rows import epoch_ms, from_ms
from collector.explore.summaries import (
    PERIODS,
    Summary,
    add_packed,
    dirty_id,
    group_of,
    merged,
    packed_documents,
    packed_of,
    summary_documents,
)
from collector.store.storage import Document, Storage

ROUND_NOTES = 100  # notes a round reads at most
ROUND_WRITES = 200  # documents a round writes at most (as the rollup job's rounds)
IN_CHUNK = 50
RUN_BUDGET_S = 20.0
PAUSE_SHARE = 0.5
ATTEMPTS = 20
DAY_MS = PERIODS["day"]


@dataclass
class _Round:
    notes: list[Document] = field(default_factory=list)
    # directory group → (tenant, dim, day ms, bucket, key → hours)
    hours: dict[str, tuple[str, str, int, int, dict[str, set[int]]]] = field(default_factory=dict)
    # hour summary group → (tenant, dim, start ms, key → summary)
    sums: dict[str, tuple[str, str, int, dict[str, Summary]]] = field(default_factory=dict)
    # day marker _id → (tenant, dim, day ms): days whose day summary must be built again
    dirty: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def _written(self) -> set[str]:
        return self.hours.keys() | self.sums.keys() | self.dirty.keys()

    def take(self, note: Document, entries: list[NoteEntry]) -> bool:
        """Add the note (its rows' entries) unless the round would write too many documents
        (the first always)."""
        tenant = note["tenant"]
        # The note's groups: (dim, hour) → (directory day, summary group, day marker).
        hour_groups: dict[tuple[str, int], tuple[int, str, str]] = {}
        directory_groups: dict[tuple[str, int, int], str] = {}
        for dim, key, hour, _ in entries:
            if (dim, hour) not in hour_groups:
                day = hour - hour % DAY_MS
                hour_groups[dim, hour] = (
                    day,
                    group_of(tenant, dim, "hour", hour),
                    dirty_id(tenant, dim, day),
                )
            if dim in directory.DIMENSIONS:
                day, bucket = hour - hour % DAY_MS, directory.bucket_of(key)
                if (dim, day, bucket) not in directory_groups:
                    directory_groups[dim, day, bucket] = directory.group_of(
                        tenant, dim, day, bucket
                    )
        targets = {group for _, group, _ in hour_groups.values()}
        targets |= {marker for _, _, marker in hour_groups.values()}
        targets |= set(directory_groups.values())
        new = targets - self._written()
        if self.notes and len(self._written()) + len(new) > ROUND_WRITES:
            return False
        self.notes.append(note)
        for dim, key, hour, summary in entries:
            day, group, marker = hour_groups[dim, hour]
            if dim in directory.DIMENSIONS:
                bucket = directory.bucket_of(key)
                target = directory_groups[dim, day, bucket]
                keys = self.hours.setdefault(target, (tenant, dim, day, bucket, {}))[4]
                keys.setdefault(key, set()).add(hour)
            merged(self.sums.setdefault(group, (tenant, dim, hour, {}))[3], key, summary)
            self.dirty[marker] = (tenant, dim, day)
        return True


async def _fold_round(storage: Storage, queue: Sequence[Any], session: AsyncClientSession) -> int:
    """Fold the next notes of the queue; returns how many ids of the queue are done with."""
    round_ = _Round()
    used = 0
    ids = list(queue[:ROUND_NOTES])
    notes: dict[Any, Document] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        found = storage.explore_pending.find({"_id": {"$in": chunk}}, session=session)
        notes |= {note["_id"]: note async for note in found}
    pieces = await pieces_by_id(
        storage, [piece for note in notes.values() for piece in note["pieces"]], session
    )
    for note_id in ids:
        note = notes.get(note_id)  # gone: folded by another runner meanwhile
        if note is not None:
            # A piece retention deleted meanwhile has nothing left to add.
            mine = [pieces[p] for p in note["pieces"] if p in pieces]
            if not round_.take(note, list(entries_of(mine))):
                break
        used += 1
    if not round_.notes:
        return used
    now = dt.datetime.now(dt.UTC)
    # New parts of their groups (collector.explore.parts), counted in their markers.
    parts = [
        doc
        for tenant, dim, day, bucket, keys in round_.hours.values()
        for doc in directory.documents(tenant, dim, day, bucket, keys)
    ]
    if parts:
        await storage.explore_directory.insert_many(parts, ordered=False, session=session)
    markers = [counted(storage.explore_directory.name, part, now) for part in parts]
    parts = [
        doc
        for tenant, dim, start, adds in round_.sums.values()
        for doc in summary_documents(tenant, dim, "hour", start, adds)
    ]
    if parts:  # notes of events naming no user, session or trace add no summary
        await storage.explore_summaries.insert_many(parts, ordered=False, session=session)
        markers += [counted(storage.explore_summaries.name, part, now) for part in parts]
        markers += [
            UpdateOne(
                {"_id": target},
                {
                    "$set": {
                        "what": "day",
                        "tenant": tenant,
                        "dim": dim,
                        "day": from_ms(day),
                        "touched": now,
                    }
                },
                upsert=True,
            )
            for target, (tenant, dim, day) in round_.dirty.items()
        ]
    if markers:
        await storage.explore_dirty.bulk_write(markers, ordered=False, session=session)
    done = [note["_id"] for note in round_.notes]
    await storage.explore_pending.bulk_write([DeleteMany({"_id": {"$in": done}})], session=session)
    return used


async def fold_notes(storage: Storage, *, budget_s: float | None = RUN_BUDGET_S) -> int:
    """Fold pending notes, round after round, until none is left or the budget has passed;
    returns how many notes were folded (or found gone). A note written after the listing
    waits for the next run."""
    queue = sorted([doc["_id"] async for doc in storage.explore_pending.find({}, {"_id": 1})])
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    total = 0
    rest_s = 0.0
    while queue and (stop_at is None or time.monotonic() < stop_at):
        await asyncio.sleep(rest_s)
        started = time.monotonic()
        used = await storage.transaction(
            lambda session: _fold_round(storage, queue, session), attempts=ATTEMPTS
        )
        rest_s = (time.monotonic() - started) * PAUSE_SHARE
        total += used
        del queue[:used]
    return total


async def _rebuild_day(
    storage: Storage, marker_id: str, quiet_before: dt.datetime, session: AsyncClientSession
) -> None:
    """The day summary of a marked day, from its hour summaries, and the marker gone: in one
    transaction, so a fold that touches the day meanwhile conflicts with it and one of them
    runs again (the marker it writes then marks the day once more)."""
    marker = await storage.explore_dirty.find_one({"_id": marker_id}, session=session)
    if marker is None or marker["touched"] > quiet_before:
        return  # built by another runner, or touched again since it was listed
    tenant, dim, day = marker["tenant"], marker["dim"], marker["day"]
    start = epoch_ms(day)
    hours = storage.explore_summaries.find(
        {
            "tenant": tenant,
            "dim": dim,
            "period": "hour",
            "start": {"$gte": day, "$lt": from_ms(start + DAY_MS)},
        },
        {"s": 1},
        session=session,
    )
    found: dict[str, list[Any]] = {}
    async for doc in hours:
        add_packed(found, dim, packed_of(doc))
    await storage.explore_summaries.delete_many(
        {"tenant": tenant, "dim": dim, "period": "day", "start": day}, session=session
    )
    if found:
        docs = packed_documents(tenant, dim, "day", start, list(found.values()))
        await storage.explore_summaries.insert_many(docs, session=session)
    await storage.explore_dirty.delete_one({"_id": marker_id}, session=session)


async def rebuild_days(
    storage: Storage, *, quiet_s: float = QUIET_S, budget_s: float | None = BUDGET_S
) -> int:
    """Build the day summary of every marked day that no fold round touched for `quiet_s`,
    once: a day summary is a sum of 24 hours' that rewriting at every round or run cost as much
    as the day holds (a day of 10k users: 759 KiB, 90 ms to encode and decode). Until then,
    readers take a marked day from its hours. Stops after `budget_s` (the next run goes on).
    Returns how many days were built."""
    quiet_before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=quiet_s)
    markers = storage.explore_dirty.find(
        {"what": "day", "touched": {"$lte": quiet_before}}, {"_id": 1}
    )
    ids = [doc["_id"] async for doc in markers]
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    built = 0
    for marker_id in ids:
        if stop_at is not None and time.monotonic() > stop_at:
            break
        built += 1
        await storage.transaction(
            functools.partial(_rebuild_day, storage, marker_id, quiet_before), attempts=ATTEMPTS
        )
    return built


async def run_explore(storage: Storage) -> dict[str, int]:
    """The scheduled job: fold what there is, merge the parts it leaves, and build the day
    summaries of the days it is done with; the run record keeps how much."""
    folded = await fold_notes(storage)
    return {
        "folded": folded,
        "parts_merged": await merge_parts(storage),
        "days_built": await rebuild_days(storage),
    }
