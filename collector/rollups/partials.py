"""The partial aggregate ingest writes with each batch, in the batch's own transaction.

One insert-only document per batch: {tenant, kind, packed_cells, packed_totals,
packed_recent}. Its cells are the batch's new events aggregated per (model, minute),
`[{model, start, cell}]`; its totals the same per model alone, for answers over all time; its
recent entries its newest few events, so that "recent events" never needs an index on raw
events. Built from exactly the documents the transaction inserts, so duplicates and rejected
events are never counted.

All three are stored packed, each one BSON binary that only the collector unpacks, the cells
compressed too. The embedded database decodes every document a query touches, field by field
and whatever the projection, and reads it whole: a backfill's partial has ~500 cells of ~25
fields (156 kB). Listing 200 such partials took 2.7 s with the cells as fields, 0.25 s packed
and 0.09 s packed and compressed (15 kB; zlib level 1 costs 1 ms per partial); reading their
totals, 0.31 s packed against 0.08 s compressed. Partials written before packing (`cells` and
`recent` as lists) are read all the same.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import bson
from bson.codec_options import CodecOptions

from collector.domain import CONTENT_FIELDS, MODEL_KEY, Kind
from collector.rollups import cells
from collector.rollups.cells import Cell
from collector.store.epoch import epoch_ms

RECENT = 10  # recent events kept per tenant and kind (the overview shows the newest 10)
MAX_RECENT_BYTES = 4096
HIDDEN = ("_id", "tenant", *CONTENT_FIELDS)  # content stays on the raw event only
# What a reader needs of a partial, packed or not (see cells_of, totals_of, recent_of).
CELLS_FIELDS = {"cells": 1, "packed_cells": 1}
TOTALS_FIELDS = {"cells": 1, "packed_totals": 1}
RECENT_FIELDS = {"recent": 1, "packed_recent": 1}
_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
Entry = dict[str, Any]  # {model, start, cell}


def minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def recent_entry(kind: Kind, doc: dict[str, Any]) -> dict[str, Any]:
    """What the overview shows of an event: the stored event without its internal keys and
    content, and without its metadata when that is large (ten of them must fit one small
    document)."""
    data = {k: v for k, v in doc.items() if k not in HIDDEN}
    if len(bson.encode(data)) > MAX_RECENT_BYTES:
        data.pop("metadata", None)
    return {
        "kind": kind,
        "event_id": doc["event_id"],
        "model": doc[MODEL_KEY[kind]],
        "timestamp": doc["timestamp"],
        "data": data,
    }


# (timestamp, event id) of an entry or a stored event, by a C getter.
_NEWEST_KEY = itemgetter("timestamp", "event_id")


def newest(entries: Sequence[dict[str, Any]], limit: int = RECENT) -> list[dict[str, Any]]:
    """The `limit` newest entries; ties broken by event id, so any merge order agrees.
    heapq.nlargest's documented equivalent, all in C: nlargest's own loop is Python, ~1,300
    instructions an event of a batch on the ingest path (partial_of), and a batch's events
    come mostly in time order, which sorting takes in one pass."""
    return sorted(entries, key=_NEWEST_KEY, reverse=True)[:limit]


def pack(entries: Sequence[dict[str, Any]], *, compress: bool = False) -> bson.Binary:
    data = bson.encode({"entries": list(entries)})
    return bson.Binary(zlib.compress(data, 1) if compress else data)


def _unpack(packed: bytes, *, compressed: bool = False) -> list[dict[str, Any]]:
    data = zlib.decompress(packed) if compressed else packed
    entries: list[dict[str, Any]] = bson.decode(data, _UNPACK)["entries"]
    return entries


def cells_of(partial: dict[str, Any]) -> list[Entry]:
    """The partial's cells, [{model, start, cell}], packed or not."""
    if "packed_cells" in partial:
        return _unpack(partial["packed_cells"], compressed=True)
    entries: list[Entry] = partial["cells"]
    return entries


def totals_of(partial: dict[str, Any]) -> list[Entry]:
    """The partial's cells added up per model, [{model, cell}]: what an answer over all time
    needs of it, a few cells instead of one per (model, minute)."""
    if "packed_totals" in partial:
        return _unpack(partial["packed_totals"])
    return totals(cells_of(partial))


def recent_of(partial: dict[str, Any]) -> list[dict[str, Any]]:
    """The partial's newest events (recent_entry), packed or not."""
    if "packed_recent" in partial:
        return _unpack(partial["packed_recent"])
    entries: list[dict[str, Any]] = partial["recent"]
    return entries


def totals(entries: Sequence[Entry]) -> list[Entry]:
    per_model: dict[str, Cell] = {}
    for entry in entries:
        cells.merge(per_model.setdefault(entry["model"], cells.empty()), entry["cell"])
    return [{"model": model, "cell": cell} for model, cell in per_model.items()]


def packed(entries: Sequence[Entry]) -> dict[str, Any]:
    """The stored fields of these cells: packed, with their totals."""
    return {"packed_cells": pack(entries, compress=True), "packed_totals": pack(totals(entries))}


def partial_of(tenant: str, kind: Kind, docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    model_key = MODEL_KEY[kind]
    summed = cells.SUMMED_BY_KIND[kind]
    # Grouped by model and the timestamp's minute since the epoch (timestamps are UTC, whole
    # milliseconds): cheaper than a minute_of, or its five fields, per event; the minute is
    # computed once per group, and each group's cell at once (cells.of_events).
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for doc in docs:
        key = (doc[model_key], epoch_ms(doc["timestamp"]) // 60_000)
        group = grouped.get(key)
        if group is None:
            grouped[key] = [doc]
        else:
            group.append(doc)
    top = newest(docs, RECENT)
    return {
        "tenant": tenant,
        "kind": kind,
        **packed(
            [
                {
                    "model": key[0],
                    "start": minute_of(group[0]["timestamp"]),
                    "cell": cells.events_cell(group, summed),
                }
                for key, group in grouped.items()
            ]
        ),
        "packed_recent": pack([recent_entry(kind, d) for d in top]),
    }
