"""Read rollups for a time range: the coarsest tier that covers it, finer tiers at its edges,
the partials not yet folded, and raw events for edges that fall inside a minute.

Everything is read in one snapshot transaction, so a fold committing meanwhile is seen either
entirely or not at all: nothing is counted twice or missed. The result is a list of pieces
(model, start, cell); callers add them up per model, or per model and interval for series.
A piece never spans more than one bucket of the tier it came from, and the tiers used are no
coarser than the series interval, so every piece lies within one series point.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern

from collector.rollups import cells, partials
from collector.rollups.cells import Cell, Kind
from collector.rollups.tiers import Tier, ceil, floor, segments
from collector.storage import Storage

SNAPSHOT = ReadConcern("snapshot")


@dataclass(frozen=True)
class Piece:
    model: str
    start: dt.datetime
    cell: Cell


def _between(field: str, start: dt.datetime | None, end: dt.datetime | None) -> dict[str, Any]:
    bounds: dict[str, dt.datetime] = {}
    if start is not None:
        bounds["$gte"] = start
    if end is not None:
        bounds["$lt"] = end
    return {field: bounds} if bounds else {}


async def _pieces(
    storage: Storage,
    session: AsyncClientSession,
    tenant: str,
    kind: Kind,
    start: dt.datetime | None,
    end: dt.datetime | None,
    coarsest: Tier,
) -> list[Piece]:
    # Minute-aligned core; what lies outside it at either end is read from raw events.
    core_start = None if start is None else ceil(start, "minute")
    core_end = None if end is None else floor(end, "minute")
    raw: list[tuple[dt.datetime | None, dt.datetime | None]] = []
    if core_start is not None and core_end is not None and core_start > core_end:
        raw.append((start, end))  # within one minute
        core_start = core_end = start
    else:
        if start is not None and start != core_start:
            raw.append((start, core_start))
        if end is not None and end != core_end:
            raw.append((core_end, end))
    found: list[Piece] = []
    for tier, a, b in segments(core_start, core_end, coarsest):
        query = {"tenant": tenant, "kind": kind, **_between("start", a, b)}
        async for doc in storage.buckets[tier].find(query, session=session):
            found.append(Piece(doc["model"], doc["start"], doc["cell"]))
    if core_start is None or core_end is None or core_start < core_end:
        async for partial in storage.partials.find(
            {"tenant": tenant, "kind": kind}, {"cells": 1}, session=session
        ):
            for entry in partial["cells"]:
                t = entry["start"]
                if (core_start is None or t >= core_start) and (core_end is None or t < core_end):
                    found.append(Piece(entry["model"], t, entry["cell"]))
    model_key = partials.MODEL_KEY[kind]
    for a, b in raw:
        query = {"tenant": tenant, **_between("timestamp", a, b)}
        async for doc in storage.events(kind).find(query, session=session):
            one = cells.empty()
            cells.add_event(one, doc)
            found.append(Piece(doc[model_key], doc["timestamp"], one))
    return found


async def read_pieces(
    storage: Storage,
    tenant: str,
    kind: Kind,
    start: dt.datetime | None,
    end: dt.datetime | None,
    coarsest: Tier = "day",
) -> list[Piece]:
    return await storage.transaction(
        lambda session: _pieces(storage, session, tenant, kind, start, end, coarsest),
        read_concern=SNAPSHOT,
    )


async def read_recent(storage: Storage, tenant: str) -> list[dict[str, Any]]:
    """The newest events of both kinds: the folded lists plus what partials hold."""

    async def read(session: AsyncClientSession) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        async for doc in storage.recent.find({"tenant": tenant}, session=session):
            entries.extend(doc["entries"])
        query = storage.partials.find({"tenant": tenant}, {"recent": 1}, session=session)
        async for partial in query:
            entries.extend(partial["recent"])
        return partials.newest(entries)

    return await storage.transaction(read, read_concern=SNAPSHOT)


def by_model(pieces: list[Piece]) -> dict[str, Cell]:
    totals: dict[str, Cell] = {}
    for piece in pieces:
        cells.merge(totals.setdefault(piece.model, cells.empty()), piece.cell)
    return totals


def by_interval(pieces: list[Piece], interval: Tier) -> dict[dt.datetime, dict[str, Cell]]:
    """{point time: {model: cell}}, points in time order."""
    points: dict[dt.datetime, dict[str, Cell]] = {}
    for piece in sorted(pieces, key=lambda p: p.start):
        point = points.setdefault(floor(piece.start, interval), {})
        cells.merge(point.setdefault(piece.model, cells.empty()), piece.cell)
    return points
