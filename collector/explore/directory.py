"""The directory: which hours hold the rows of a trace, a session or a user.

A trace or a session is asked for by its id alone, and ids are not ordered in time, so its rows
(collector.explore.rows) cannot be found by time; nor can a user's events without reading
every hour of a window. The explore job (collector.explore.fold) finds the hours of each
trace, session and user in the rows of each batch's note (collector.explore.notes) and adds
them into `explore_directory`: one document per (tenant, dimension, day, bucket), a key's
bucket being a hash of it, holding key → the hours it has rows in. Its index (tenant, dim,
bucket) is one entry per document, written by the job, not by ingest. A fold round adds a
new document (a part) for each (day, bucket) it touches rather than rewriting the stored one,
and the job merges a group's parts later (collector.explore.parts).

A lookup reads the rows of the tenant's pending notes and the key's bucket documents in one
snapshot, so a fold round or a merge of parts that commits meanwhile is seen whole or not at
all. Documents are packed binary, as partials are (the embedded
database decodes every field of what it reads): {_id: "<group>|<ObjectId>",
group: "<tenant>|<dim>|<YYYYMMDD>|<bucket>", tenant, dim, day, bucket, n,
keys: Binary(BSON {"k": [[key, [hour ms, ...]], ...]})}.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.explore.notes import pending_pieces
from collector.explore.rows import columns_of, epoch_ms, from_ms
from collector.explore.summaries import chunked
from collector.store.storage import Document, Storage

DIMENSIONS = ("trace", "session", "user")
BUCKETS = 16
DAY_MS = 86_400_000
_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()


def bucket_of(key: str) -> int:
    return hashlib.blake2b(key.encode(), digest_size=2).digest()[0] % BUCKETS


def group_of(tenant: str, dim: str, day_ms: int, bucket: int) -> str:
    """What a day's bucket documents share: one part per fold round that touched it until the
    job merges them (collector.explore.parts)."""
    return f"{tenant}|{dim}|{from_ms(day_ms):%Y%m%d}|{bucket:02d}"


def documents(
    tenant: str, dim: str, day_ms: int, bucket: int, keys: dict[str, set[int]]
) -> list[Document]:
    packed = [[key, sorted(hours)] for key, hours in keys.items()]
    return _documents(tenant, dim, day_ms, bucket, packed)


def _documents(
    tenant: str, dim: str, day_ms: int, bucket: int, packed: list[Any]
) -> list[Document]:
    group = group_of(tenant, dim, day_ms, bucket)
    return [
        {
            "_id": f"{group}|{ObjectId()}",
            "group": group,
            "tenant": tenant,
            "dim": dim,
            "day": from_ms(day_ms),
            "bucket": bucket,
            "n": len(chunk),
            "keys": bson.Binary(bson.encode({"k": chunk})),
        }
        for chunk in chunked(packed)
    ]


def where(doc: Document) -> Document:
    """How to find the documents of a part's group (by the index)."""
    return {name: doc[name] for name in ("tenant", "dim", "bucket", "day")}


def merged_documents(parts: list[Document]) -> list[Document]:
    """The documents of these parts of a group, merged; a key found in one part only keeps
    its packed hours as they are."""
    found: dict[str, list[Any]] = {}
    for part in parts:
        for packed in bson.decode(part["keys"], _UNPACK)["k"]:
            key = packed[0]
            current = found.get(key)
            found[key] = packed if current is None else [key, sorted({*current[1], *packed[1]})]
    first = parts[0]
    day = epoch_ms(first["day"])
    return _documents(first["tenant"], first["dim"], day, first["bucket"], list(found.values()))


async def hours_of(storage: Storage, tenant: str, dim: str, key: str) -> list[dt.datetime]:
    """Every hour that holds rows of this trace, session or user, oldest first."""
    column = dim  # the rows' column of the dimension (collector.explore.rows.COLUMNS)

    async def found(session: AsyncClientSession) -> set[int]:
        hours: set[int] = set()
        for piece in await pending_pieces(storage, tenant, session):
            if key in columns_of(piece)[column]:
                hours.add(epoch_ms(piece["hour"]))
        docs = storage.explore_directory.find(
            {"tenant": tenant, "dim": dim, "bucket": bucket_of(key)}, {"keys": 1}, session=session
        )
        async for doc in docs:
            for found_key, found_hours in bson.decode(doc["keys"], _UNPACK)["k"]:
                if found_key == key:
                    hours.update(found_hours)
        return hours

    hours = await storage.snapshot(found)
    return [from_ms(hour) for hour in sorted(hours)]
