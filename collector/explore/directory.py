"""The directory: which hours hold the rows of a trace or a session.

A trace or a session is asked for by its id alone, and ids are not ordered in time, so its rows
(collector.explore.rows) cannot be found by time. Ingest writes, in each batch's transaction,
one pending note of the batch's (trace, hour) and (session, hour) pairs into
`explore_pending` (no secondary index: one insert per batch). The explore job folds those
notes into `explore_directory`: one document per (tenant, dimension, day, bucket), a key's
bucket being a hash of it, holding key → the hours it has rows in. Its index (tenant, dim,
bucket) is one entry per document, written by the job, not by ingest.

A lookup reads the tenant's pending notes first, then the key's bucket documents: a job round
that commits in between is then seen at least once (hours are a set: seen twice is the same),
never missed. Documents are packed binary, as partials are (the embedded database decodes
every field of what it reads): {_id: "<tenant>|<dim>|<YYYYMMDD>|<bucket>", tenant, dim, day,
bucket, keys: Binary(BSON {"k": [[key, [hour ms, ...]], ...]})}.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Iterable, Sequence
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from pymongo import DeleteMany, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.store.storage import Document, Storage

DIMENSIONS = ("trace", "session")
BUCKETS = 16
DAY_MS = 86_400_000
# Pending notes one round folds at most, and directory documents it writes at most (at least
# one note per round, whatever it touches).
ROUND_NOTES = 100
ROUND_WRITES = 64
IN_CHUNK = 50
RUN_BUDGET_S = 20.0
PAUSE_SHARE = 0.5
ATTEMPTS = 20
_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# dimension → key → hours (epoch ms)
Keys = dict[str, dict[str, set[int]]]


def from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def bucket_of(key: str) -> int:
    return hashlib.blake2b(key.encode(), digest_size=2).digest()[0] % BUCKETS


def pending_note(tenant: str, keys: Keys) -> Document | None:
    """The note of one batch's keys; None when it has none."""
    if not any(keys.values()):
        return None
    packed = {
        dim: [[key, sorted(hours)] for key, hours in found.items()] for dim, found in keys.items()
    }
    return {"_id": str(ObjectId()), "tenant": tenant, "keys": bson.Binary(bson.encode(packed))}


def _note_keys(note: Document) -> Keys:
    data = bson.decode(note["keys"], _UNPACK)
    return {dim: {key: set(hours) for key, hours in data.get(dim, [])} for dim in DIMENSIONS}


def _document_id(tenant: str, dim: str, day_ms: int, bucket: int) -> str:
    return f"{tenant}|{dim}|{from_ms(day_ms):%Y%m%d}|{bucket:02d}"


def _unpack(doc: Document) -> dict[str, set[int]]:
    data = bson.decode(doc["keys"], _UNPACK)
    return {key: set(hours) for key, hours in data["k"]}


def _pack(keys: dict[str, set[int]]) -> bson.Binary:
    return bson.Binary(bson.encode({"k": [[key, sorted(hours)] for key, hours in keys.items()]}))


async def hours_of(storage: Storage, tenant: str, dim: str, key: str) -> list[dt.datetime]:
    """Every hour that holds rows of this trace or session, oldest first."""
    hours: set[int] = set()
    async for note in storage.explore_pending.find({"tenant": tenant}):
        hours |= _note_keys(note)[dim].get(key, set())
    found = storage.explore_directory.find(
        {"tenant": tenant, "dim": dim, "bucket": bucket_of(key)}, {"keys": 1}
    )
    async for doc in found:
        hours |= _unpack(doc).get(key, set())
    return [from_ms(hour) for hour in sorted(hours)]


class _Round:
    def __init__(self) -> None:
        self.notes: list[Document] = []
        # directory _id → (tenant, dim, day ms, bucket, key → hours to add)
        self.targets: dict[str, tuple[str, str, int, int, dict[str, set[int]]]] = {}

    def take(self, note: Document) -> bool:
        """Add the note unless the round would write too many documents (the first always)."""
        tenant = note["tenant"]
        adds: dict[str, tuple[str, str, int, int, dict[str, set[int]]]] = {}
        for dim, found in _note_keys(note).items():
            for key, hours in found.items():
                bucket = bucket_of(key)
                for hour in hours:
                    day = hour - hour % DAY_MS
                    target = _document_id(tenant, dim, day, bucket)
                    entry = adds.setdefault(target, (tenant, dim, day, bucket, {}))
                    entry[4].setdefault(key, set()).add(hour)
        new = [target for target in adds if target not in self.targets]
        if self.notes and len(self.targets) + len(new) > ROUND_WRITES:
            return False
        self.notes.append(note)
        for target, (tenant_, dim, day, bucket, keys) in adds.items():
            merged = self.targets.setdefault(target, (tenant_, dim, day, bucket, {}))[4]
            for key, hours in keys.items():
                merged.setdefault(key, set()).update(hours)
        return True


async def _fold_round(storage: Storage, queue: Sequence[Any], session: AsyncClientSession) -> int:
    """Fold the next notes of the queue; returns how many ids of the queue are done with."""
    round_ = _Round()
    used = 0
    for start in range(0, len(queue), IN_CHUNK):
        ids = list(queue[start : min(start + IN_CHUNK, ROUND_NOTES)])
        if not ids:
            break
        found = storage.explore_pending.find({"_id": {"$in": ids}}, session=session)
        notes = {note["_id"]: note async for note in found}
        full = False
        for note_id in ids:
            note = notes.get(note_id)
            if note is not None and not round_.take(note):
                full = True
                break
            used += 1
        if full or start + IN_CHUNK >= ROUND_NOTES:
            break
    if not round_.notes:
        return used
    targets = list(round_.targets)
    stored: dict[str, Document] = {}
    for start in range(0, len(targets), IN_CHUNK):
        chunk = targets[start : start + IN_CHUNK]
        async for doc in storage.explore_directory.find({"_id": {"$in": chunk}}, session=session):
            stored[doc["_id"]] = doc
    writes: list[Any] = []
    for target, (tenant, dim, day, bucket, keys) in round_.targets.items():
        merged = _unpack(stored[target]) if target in stored else {}
        for key, hours in keys.items():
            merged.setdefault(key, set()).update(hours)
        document = {
            "_id": target,
            "tenant": tenant,
            "dim": dim,
            "day": from_ms(day),
            "bucket": bucket,
            "keys": _pack(merged),
        }
        writes.append(ReplaceOne({"_id": target}, document, upsert=True))
    await storage.explore_directory.bulk_write(writes, ordered=False, session=session)
    await storage.explore_pending.bulk_write(
        [DeleteMany({"_id": {"$in": [note["_id"] for note in round_.notes]}})], session=session
    )
    return used


async def fold_notes(storage: Storage, *, budget_s: float | None = RUN_BUDGET_S) -> int:
    """Fold pending notes into the directory, round after round, until none is left or the
    budget has passed; returns how many notes were folded. A note written after the listing
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


async def run_directory(storage: Storage) -> dict[str, int]:
    """The scheduled job: fold what there is; the run record keeps how much."""
    return {"folded": await fold_notes(storage)}


def keys_of(rows: Iterable[tuple[str | None, str | None, int]]) -> Keys:
    """(trace, session, hour ms) of each row → the note's keys."""
    keys: Keys = {dim: {} for dim in DIMENSIONS}
    for trace, session, hour in rows:
        if trace:
            keys["trace"].setdefault(trace, set()).add(hour)
        if session:
            keys["session"].setdefault(session, set()).add(hour)
    return keys
