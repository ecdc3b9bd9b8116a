"""Event rows: the compact listing that event search pages through, written with each batch.

Raw events carry no index but `_id` (each secondary index on them costs ~half of ingest,
docs/architecture.md), so ingest also writes, in the batch's own transaction, one small
document per (batch, hour) that its events fall in: the hour's rows of that batch, one per
event, holding what a list filters and sorts on and nothing else. The `event_rows` collection
has one secondary index, (tenant, kind, hour): one index entry per batch and hour, not per
event. A search reads the rows of a window's hours, newest hours first, filters them in the
collector and fetches the page's events by `_id`.

{_id: "<tenant>|<kind>|<YYYYMMDDHH>|<ObjectId>", tenant, kind, hour, n, rows: Binary}

`rows` is one BSON document packed as binary (the embedded database decodes every field of a
document it reads; a binary is one field): columns of equal length, in the order of COLUMNS.
Content never goes into rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions

from collector.domain import MODEL_KEY, Kind

# What a row holds, in the packed document's column order. `ts` is the event's timestamp in
# epoch milliseconds; `id` its event_id; `error` 1 when it has a non-empty error.
COLUMNS = (
    "ts",
    "id",
    "model",
    "user",
    "session",
    "trace",
    "span",
    "parent",
    "env",
    "release",
    "tags",
    "error",
    "cost",
    "tokens",
    "latency",
)
_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def epoch_ms(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Row:
    ts: int
    id: str
    model: str
    user: str | None
    session: str | None
    trace: str | None
    span: str | None
    parent: str | None
    env: str | None
    release: str | None
    tags: list[str] | None
    error: int
    cost: float | None
    tokens: int | None
    latency: float | None

    @property
    def key(self) -> tuple[int, str]:
        """Lists are ordered by this, newest first."""
        return (self.ts, self.id)


def row_values(kind: Kind, doc: dict[str, Any]) -> list[Any]:
    """A stored event's row, in COLUMNS order."""
    return [
        epoch_ms(doc["timestamp"]),
        doc["event_id"],
        doc[MODEL_KEY[kind]],
        doc.get("user_id"),
        doc.get("session_id"),
        doc.get("trace_id"),
        doc.get("span_id"),
        doc.get("parent_span_id"),
        doc.get("environment"),
        doc.get("release"),
        doc.get("tags"),
        1 if doc.get("error") else 0,
        doc.get("cost"),
        doc.get("tokens_used"),
        doc.get("latency_ms"),
    ]


def span_row_values(record: dict[str, Any]) -> list[Any]:
    """A stored span record's row (collector.ingest.span_records): its name in `model`, its
    span id in `id` and `span`, its duration in `latency`."""
    start: dt.datetime = record["start"]
    return [
        epoch_ms(start),
        record["span_id"],
        record["name"],
        None,
        None,
        record["trace_id"],
        record["span_id"],
        record.get("parent_span_id"),
        None,
        None,
        None,
        1 if record["status"] == "ERROR" else 0,
        None,
        None,
        (record["end"] - start) / dt.timedelta(milliseconds=1),
    ]


RowsByHour = dict[tuple[str, dt.datetime], list[list[Any]]]  # (row kind, hour) → rows


def rows_by_hour(
    kind: Kind, docs: Sequence[dict[str, Any]], spans: Sequence[dict[str, Any]] = ()
) -> RowsByHour:
    """A batch's newly stored events and spans as rows, per row kind ("ml" or "llm", and
    "span") and hour."""
    per_hour: RowsByHour = {}
    for doc in docs:
        per_hour.setdefault((kind, hour_of(doc["timestamp"])), []).append(row_values(kind, doc))
    for record in spans:
        key = ("span", hour_of(record["start"]))
        per_hour.setdefault(key, []).append(span_row_values(record))
    return per_hour


def pieces_of(tenant: str, per_hour: RowsByHour) -> list[dict[str, Any]]:
    """The row documents: one per row kind and hour."""
    pieces = []
    for (row_kind, hour), rows in per_hour.items():
        columns = {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}
        pieces.append(
            {
                "_id": f"{tenant}|{row_kind}|{hour:%Y%m%d%H}|{ObjectId()}",
                "tenant": tenant,
                "kind": row_kind,
                "hour": hour,
                "n": len(rows),
                "rows": bson.Binary(bson.encode(columns)),
            }
        )
    return pieces


def rows_of(piece: dict[str, Any]) -> Iterator[Row]:
    columns = bson.decode(piece["rows"], _UNPACK)
    return (Row(*values) for values in zip(*(columns[name] for name in COLUMNS), strict=True))
