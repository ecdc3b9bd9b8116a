"""The partial aggregate ingest writes with each batch, in the batch's own transaction.

One insert-only document per batch: {tenant, kind, cells: [{model, start, cell}], recent}.
`cells` holds the batch's new events aggregated per (model, minute); `recent` its newest few
events, so that "recent events" never needs an index on raw events. Built from exactly the
documents the transaction inserts, so duplicates and rejected events are never counted.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from typing import Any

import bson

from collector.rollups import cells
from collector.rollups.cells import Cell, Kind

RECENT = 10  # recent events kept per tenant and kind (the overview shows the newest 10)
MAX_RECENT_BYTES = 4096
MODEL_KEY: dict[Kind, str] = {"ml": "model_id", "llm": "model_name"}
HIDDEN = ("_id", "tenant")


def minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def recent_entry(kind: Kind, doc: dict[str, Any]) -> dict[str, Any]:
    """What the overview shows of an event: the stored event without its internal keys, and
    without its metadata when that is large (ten of them must fit one small document)."""
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


def _newest_key(entry: dict[str, Any]) -> tuple[Any, str]:
    return (entry["timestamp"], entry["event_id"])


def newest(entries: Sequence[dict[str, Any]], limit: int = RECENT) -> list[dict[str, Any]]:
    """The `limit` newest entries; ties broken by event id, so any merge order agrees."""
    return heapq.nlargest(limit, entries, key=_newest_key)


def partial_of(tenant: str, kind: Kind, docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    model_key = MODEL_KEY[kind]
    grouped: dict[tuple[str, dt.datetime], Cell] = {}
    for doc in docs:
        key = (doc[model_key], minute_of(doc["timestamp"]))
        cell = grouped.get(key)
        if cell is None:
            cell = grouped[key] = cells.empty()
        cells.add_event(cell, doc)
    top = newest(docs, RECENT)
    return {
        "tenant": tenant,
        "kind": kind,
        "cells": [{"model": m, "start": t, "cell": c} for (m, t), c in grouped.items()],
        "recent": [recent_entry(kind, d) for d in top],
    }
