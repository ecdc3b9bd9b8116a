"""The explore job: fold pending notes (collector.explore.notes) into the directory and the
summaries, exactly once.

Each round, in one transaction: read the next notes by `_id` and their rows, sum the rows per
user, session and trace and hour (collector.explore.summaries), merge those into the
directory documents (trace and session → hours) and the hour and day summary documents of
every dimension they touch, write those back, delete the notes. A crash or a second runner at
any point leaves either the notes or their effect, never both: two rounds that read the same
note conflict on deleting it, so one of them aborts and retries. A round writes at most
ROUND_WRITES documents (but folds at least one note, whatever it touches), and the job rests
after each round for half as long as it took, so that ingest and reads get through between
rounds, as the rollup job does (collector.rollups.fold).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import DeleteMany, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.explore import directory
from collector.explore.notes import NoteEntry, entries_of, pieces_by_id
from collector.explore.rows import HOUR_MS, epoch_ms, from_ms
from collector.explore.summaries import (
    PERIODS,
    Summary,
    dirty_id,
    merged,
    summaries_of,
    summary_document,
    summary_id,
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
    # directory _id → (tenant, dim, day ms, bucket, key → hours)
    hours: dict[str, tuple[str, str, int, int, dict[str, set[int]]]] = field(default_factory=dict)
    # hour summary _id → (tenant, dim, "hour", start ms, key → summary)
    sums: dict[str, tuple[str, str, str, int, dict[str, Summary]]] = field(default_factory=dict)
    # marker _id → (tenant, dim, day ms): days whose day summary must be built again
    dirty: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def _written(self) -> set[str]:
        return self.hours.keys() | self.sums.keys() | self.dirty.keys()

    def _targets(self, tenant: str, entries: list[NoteEntry]) -> set[str]:
        found = set()
        for dim, key, hour, _ in entries:
            if dim in directory.DIMENSIONS:
                day = hour - hour % directory.DAY_MS
                found.add(directory.document_id(tenant, dim, day, directory.bucket_of(key)))
            found.add(summary_id(tenant, dim, "hour", hour - hour % HOUR_MS))
            found.add(dirty_id(tenant, dim, hour - hour % DAY_MS))
        return found

    def take(self, note: Document, entries: list[NoteEntry]) -> bool:
        """Add the note (its rows' entries) unless the round would write too many documents
        (the first always)."""
        tenant = note["tenant"]
        new = self._targets(tenant, entries) - self._written()
        if self.notes and len(self._written()) + len(new) > ROUND_WRITES:
            return False
        self.notes.append(note)
        for dim, key, hour, summary in entries:
            if dim in directory.DIMENSIONS:
                day, bucket = hour - hour % directory.DAY_MS, directory.bucket_of(key)
                target = directory.document_id(tenant, dim, day, bucket)
                keys = self.hours.setdefault(target, (tenant, dim, day, bucket, {}))[4]
                keys.setdefault(key, set()).add(hour)
            start = hour - hour % HOUR_MS
            target = summary_id(tenant, dim, "hour", start)
            merged(self.sums.setdefault(target, (tenant, dim, "hour", start, {}))[4], key, summary)
            day = hour - hour % DAY_MS
            self.dirty[dirty_id(tenant, dim, day)] = (tenant, dim, day)
        return True


async def _stored(
    collection: Any, ids: list[str], session: AsyncClientSession
) -> dict[str, Document]:
    found: dict[str, Document] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        async for doc in collection.find({"_id": {"$in": chunk}}, session=session):
            found[doc["_id"]] = doc
    return found


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
    stored = await _stored(storage.explore_directory, list(round_.hours), session)
    writes: list[Any] = []
    for target, (tenant, dim, day, bucket, keys) in round_.hours.items():
        if target in stored:
            for key, hours in directory.unpacked(stored[target]).items():
                keys.setdefault(key, set()).update(hours)
        doc = directory.document(tenant, dim, day, bucket, keys)
        writes.append(ReplaceOne({"_id": target}, doc, upsert=True))
    if writes:
        await storage.explore_directory.bulk_write(writes, ordered=False, session=session)
    stored = await _stored(storage.explore_summaries, list(round_.sums), session)
    writes = []
    for target, (tenant, dim, period, start, adds) in round_.sums.items():
        summaries = summaries_of(stored[target]) if target in stored else {}
        for key, summary in adds.items():
            merged(summaries, key, summary)
        doc = summary_document(tenant, dim, period, start, summaries)
        writes.append(ReplaceOne({"_id": target}, doc, upsert=True))
    if writes:  # notes of events naming no user, session or trace add no summary
        await storage.explore_summaries.bulk_write(writes, ordered=False, session=session)
        marks = [
            ReplaceOne(
                {"_id": target},
                {"_id": target, "tenant": tenant, "dim": dim, "day": from_ms(day)},
                upsert=True,
            )
            for target, (tenant, dim, day) in round_.dirty.items()
        ]
        await storage.explore_dirty.bulk_write(marks, ordered=False, session=session)
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


async def _rebuild_day(storage: Storage, marker: Document, session: AsyncClientSession) -> None:
    """The day summary of a marked day, from its hour summaries, and the marker gone: in one
    transaction, so a fold that touches the day meanwhile conflicts with it and one of them
    runs again (the marker it writes then marks the day once more)."""
    tenant, dim, day = marker["tenant"], marker["dim"], marker["day"]
    start = epoch_ms(day)
    hours = storage.explore_summaries.find(
        {
            "tenant": tenant,
            "dim": dim,
            "period": "hour",
            "start": {"$gte": day, "$lt": from_ms(start + DAY_MS)},
        },
        {"s": 1, "dim": 1},
        session=session,
    )
    found: dict[str, Summary] = {}
    async for doc in hours:
        for key, summary in summaries_of(doc).items():
            merged(found, key, summary)
    if found:
        doc = summary_document(tenant, dim, "day", start, found)
        await storage.explore_summaries.replace_one(
            {"_id": doc["_id"]}, doc, upsert=True, session=session
        )
    await storage.explore_dirty.delete_one({"_id": marker["_id"]}, session=session)


async def rebuild_days(storage: Storage) -> int:
    """Build the day summary of every marked day once: a day summary is a sum of 24 hour
    summaries that a fold round would otherwise rewrite whole at every round (a day of 10k
    users: 759 KiB, 90 ms to encode and decode). Returns how many days were built."""
    markers = [doc async for doc in storage.explore_dirty.find({})]
    for marker in markers:
        await storage.transaction(
            functools.partial(_rebuild_day, storage, marker), attempts=ATTEMPTS
        )
    return len(markers)


async def run_explore(storage: Storage) -> dict[str, int]:
    """The scheduled job: fold what there is, then build the day summaries it touched; the run
    record keeps how much."""
    folded = await fold_notes(storage)
    return {"folded": folded, "days_built": await rebuild_days(storage)}
