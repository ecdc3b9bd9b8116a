"""The directory: which hours hold the rows of a trace, a session or a user.

A trace or a session is asked for by its id alone, and ids are not ordered in time, so its rows
(collector.explore.rows) cannot be found by time; nor can a user's events without reading
every hour of a window. The explore job (collector.explore.fold) finds the hours of each
trace, session and user in the rows of each batch's note (collector.explore.notes) and adds
them into `explore_directory`: one document per (tenant, dimension, day, bucket), a key's
bucket being a hash of it, holding key → the hours it has rows in. Its index (tenant, dim,
bucket) is one entry per document, written by the job, not by ingest.

A lookup reads the rows of the tenant's pending notes first, then the key's bucket documents:
a job round that commits in between is then seen at least once (hours are a set: seen twice
is the same), never missed. Documents are packed binary, as partials are (the embedded
database decodes every field of what it reads): {_id: "<tenant>|<dim>|<YYYYMMDD>|<bucket>",
tenant, dim, day, bucket, keys: Binary(BSON {"k": [[key, [hour ms, ...]], ...]})}.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import bson
from bson.codec_options import CodecOptions

from collector.explore.notes import pending_pieces
from collector.explore.rows import epoch_ms, from_ms, rows_of
from collector.store.storage import Document, Storage

DIMENSIONS = ("trace", "session", "user")
_ROW_FIELD = {"trace": "trace", "session": "session", "user": "user"}  # collector.explore.rows.Row
BUCKETS = 16
DAY_MS = 86_400_000
_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()


def bucket_of(key: str) -> int:
    return hashlib.blake2b(key.encode(), digest_size=2).digest()[0] % BUCKETS


def document_id(tenant: str, dim: str, day_ms: int, bucket: int) -> str:
    return f"{tenant}|{dim}|{from_ms(day_ms):%Y%m%d}|{bucket:02d}"


def document(
    tenant: str, dim: str, day_ms: int, bucket: int, keys: dict[str, set[int]]
) -> Document:
    packed = [[key, sorted(hours)] for key, hours in keys.items()]
    return {
        "_id": document_id(tenant, dim, day_ms, bucket),
        "tenant": tenant,
        "dim": dim,
        "day": from_ms(day_ms),
        "bucket": bucket,
        "keys": bson.Binary(bson.encode({"k": packed})),
    }


def unpacked(doc: Document) -> dict[str, set[int]]:
    data = bson.decode(doc["keys"], _UNPACK)
    return {key: set(hours) for key, hours in data["k"]}


async def hours_of(storage: Storage, tenant: str, dim: str, key: str) -> list[dt.datetime]:
    """Every hour that holds rows of this trace, session or user, oldest first."""
    hours: set[int] = set()
    field = _ROW_FIELD[dim]
    for piece in await pending_pieces(storage, tenant):
        if any(getattr(row, field) == key for row in rows_of(piece)):
            hours.add(epoch_ms(piece["hour"]))
    found = storage.explore_directory.find(
        {"tenant": tenant, "dim": dim, "bucket": bucket_of(key)}, {"keys": 1}
    )
    async for doc in found:
        hours |= unpacked(doc).get(key, set())
    return [from_ms(hour) for hour in sorted(hours)]
