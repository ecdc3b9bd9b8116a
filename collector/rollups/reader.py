"""Read rollups for a time range: the coarsest tier that covers it, finer tiers at its edges,
the partials not yet folded, and raw events for edges that fall inside a minute.

Dashboards answer any range exactly, so an edge inside a minute, or inside an old hour whose
minute buckets retention may have deleted, is read from raw events (which have no time
index: that read scans the tenant's events). Alerts, evaluated every ALERTS_INTERVAL_S, must
cost the same however many events are stored: `read_window` widens such edges to whole
minutes, and old ones to whole hours, and never reads raw events.

Everything is read in one snapshot transaction, so a fold committing meanwhile is seen either
entirely or not at all: nothing is counted twice or missed. The result is a list of pieces
(model, start, cell); callers add them up per model, or per model and interval for series.
A piece never spans more than one bucket of the tier it came from, and the tiers used are no
coarser than the series interval, so every piece lies within one series point.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from collector.domain import MODEL_KEY, Kind, Tier, prefix_range
from collector.rollups import cells, partials
from collector.rollups.cells import Cell
from collector.rollups.fold import bucket_id
from collector.rollups.partials import CELLS_FIELDS, RECENT_FIELDS, TOTALS_FIELDS
from collector.rollups.tiers import EPOCH, BucketTier, Segment, ceil, floor, segments
from collector.store.storage import Storage

KINDS: tuple[Kind, ...] = ("ml", "llm")


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


Span = tuple[dt.datetime | None, dt.datetime | None]


def _within(moment: dt.datetime, span: Span) -> bool:
    start, end = span
    return (start is None or moment >= start) and (end is None or moment < end)


def _plan(
    start: dt.datetime | None,
    end: dt.datetime | None,
    coarsest: BucketTier,
    minutes_since: dt.datetime | None,
) -> tuple[Span, list[Segment], list[Span]]:
    """How to answer [start, end): the minute-aligned core (buckets and partials), its
    segments by tier, and the spans read from raw events instead -- an edge inside a minute,
    or minutes whose buckets retention may have deleted."""
    core_start = None if start is None else ceil(start, "minute")
    core_end = None if end is None else floor(end, "minute")
    raw: list[Span] = []
    if core_start is not None and core_end is not None and core_start > core_end:
        return (start, start), [], [(start, end)]  # within one minute
    if start is not None and start != core_start:
        raw.append((start, core_start))
    if end is not None and end != core_end:
        raw.append((core_end, end))
    buckets: list[Segment] = []
    for tier, a, b in segments(core_start, core_end, coarsest):
        if tier == "minute" and minutes_since is not None and (a is None or a < minutes_since):
            raw.append((a, b))
        else:
            buckets.append((tier, a, b))
    return (core_start, core_end), buckets, raw


async def _pieces(
    storage: Storage,
    session: AsyncClientSession,
    tenant: str,
    kind: Kind,
    start: dt.datetime | None,
    end: dt.datetime | None,
    coarsest: BucketTier,
    minutes_since: dt.datetime | None,
) -> list[Piece]:
    core, buckets, raw = _plan(start, end, coarsest, minutes_since)
    return await _read(storage, session, tenant, kind, core, buckets, raw)


BucketRead = tuple[BucketTier, dt.datetime | None, dt.datetime | None, list[Span] | None]


def _bucket_reads(buckets: list[Segment], coarse_in_one: bool) -> list[BucketRead]:
    """A query per segment; with `coarse_in_one`, the hour and day segments of a tier as one
    query over their envelope, with the spans whose buckets to keep."""
    if not coarse_in_one:
        return [(tier, a, b, None) for tier, a, b in buckets]
    reads: list[BucketRead] = [(t, a, b, None) for t, a, b in buckets if t not in ("hour", "day")]
    for tier in ("hour", "day"):
        spans: list[Span] = [(a, b) for t, a, b in buckets if t == tier]
        if spans:
            reads.append((tier, spans[0][0], spans[-1][1], spans))
    return reads


async def _read(
    storage: Storage,
    session: AsyncClientSession,
    tenant: str,
    kind: Kind,
    core: Span,
    buckets: list[Segment],
    raw: list[Span],
    coarse_in_one: bool = False,
) -> list[Piece]:
    """The pieces of a plan (`_plan`): its buckets, the partials' cells within its core and
    outside its raw spans, and the raw events of those spans. `coarse_in_one`: the hour and
    day segments of each tier are read by one query over their envelope, keeping the buckets
    within a segment (few per hour or day; a query each costs more than they do)."""
    found: list[Piece] = []
    for tier, a, b, within in _bucket_reads(buckets, coarse_in_one):
        query = {"tenant": tenant, "kind": kind, **_between("start", a, b)}
        async for doc in storage.buckets[tier].find(query, session=session):
            if within is None or any(_within(doc["start"], span) for span in within):
                found.append(Piece(doc["model"], doc["start"], cells.of_bucket(doc)))
    mine = {"tenant": tenant, "kind": kind}
    if buckets == [("total", None, None)]:
        # All time, per model: each partial's totals will do (a backfill's partial has a
        # cell per event; its totals one per model).
        async for partial in storage.partials.find(mine, TOTALS_FIELDS, session=session):
            for entry in partials.totals_of(partial):
                found.append(Piece(entry["model"], EPOCH, entry["cell"]))
    elif core[0] is None or core[1] is None or core[0] < core[1]:
        async for partial in storage.partials.find(mine, CELLS_FIELDS, session=session):
            for entry in partials.cells_of(partial):
                t = entry["start"]
                # What raw events answer, partials must not answer again.
                if _within(t, core) and not any(_within(t, span) for span in raw):
                    found.append(Piece(entry["model"], t, entry["cell"]))
    model_key = MODEL_KEY[kind]
    # Raw events have no time index; their _id ("<tenant>:<event_id>") at least confines the
    # scan to this tenant's events.
    own = prefix_range(f"{tenant}:")
    for a, b in raw:
        query = {"_id": own, "tenant": tenant, **_between("timestamp", a, b)}
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
    coarsest: BucketTier = "total",
    minutes_since: dt.datetime | None = None,
) -> list[Piece]:
    """The pieces of [start, end); `minutes_since`: minute buckets older than this may have
    been deleted by retention, so those minutes are read from raw events (None: all kept)."""
    return await storage.snapshot(
        lambda session: _pieces(storage, session, tenant, kind, start, end, coarsest, minutes_since)
    )


@dataclass(frozen=True)
class AllTime:
    """A tenant's totals over all time per kind and model, and its newest events."""

    totals: dict[str, dict[str, Cell]]  # kind: {model: cell}
    recent: list[dict[str, Any]]


async def read_all_time(storage: Storage, tenant: str) -> AllTime:
    """What the overview shows, in one snapshot and one pass over the partials: their totals
    and recent events, the total buckets and the folded recent lists. (Read kind by kind and
    then for the recent events, the partials were read three times; while a backfill waits
    to be folded they are many, and each read of them is work the database does for nobody
    else.)"""

    async def read(session: AsyncClientSession) -> AllTime:
        totals: dict[str, dict[str, Cell]] = {"ml": {}, "llm": {}}

        def add(kind: str, model: str, cell: Cell) -> None:
            cells.merge(totals[kind].setdefault(model, cells.empty()), cell)

        async for doc in storage.buckets["total"].find({"tenant": tenant}, session=session):
            add(doc["kind"], doc["model"], cells.of_bucket(doc))
        recent: list[dict[str, Any]] = []
        async for doc in storage.recent.find({"tenant": tenant}, session=session):
            recent.extend(doc["entries"])
        fields = {"kind": 1, **TOTALS_FIELDS, **RECENT_FIELDS}
        async for partial in storage.partials.find({"tenant": tenant}, fields, session=session):
            for entry in partials.totals_of(partial):
                add(partial["kind"], entry["model"], entry["cell"])
            recent.extend(partials.recent_of(partial))
        return AllTime(totals, partials.newest(recent))

    return await storage.snapshot(read)


def widened(
    start: dt.datetime, end: dt.datetime, minutes_since: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) widened to whole minutes, and an edge whose minute buckets may be gone
    (before `minutes_since`) to its whole hour: what buckets and partials alone answer."""
    start, end = floor(start, "minute"), ceil(end, "minute")
    if minutes_since is not None:
        if start < minutes_since:
            start = floor(start, "hour")
        if floor(end, "hour") < minutes_since:
            end = ceil(end, "hour")
    return start, end


async def read_window(
    storage: Storage,
    tenant: str,
    kind: Kind,
    start: dt.datetime,
    end: dt.datetime,
    minutes_since: dt.datetime | None = None,
) -> list[Piece]:
    """The pieces of `widened(start, end)`, from buckets and partials only: never raw events,
    so the cost grows with the number of buckets in the window, not with the events stored."""
    start, end = widened(start, end, minutes_since)
    if _plan(start, end, "total", minutes_since)[2]:
        raise AssertionError(f"[{start}, {end}) would read raw events")  # widened() prevents it
    return await read_pieces(storage, tenant, kind, start, end, "total", minutes_since)


def _cut(bounds: Sequence[dt.datetime]) -> list[Segment]:
    """The segments of [bounds[0], bounds[-1]) cut at every bound, so that no bucket spans
    two windows; neighbouring segments of one tier are joined (one query for both)."""
    joined: list[Segment] = []
    for a, b in itertools.pairwise(bounds):
        for tier, s, e in segments(a, b, "day"):
            if joined and joined[-1][0] == tier and joined[-1][2] == s:
                joined[-1] = (tier, joined[-1][1], e)
            else:
                joined.append((tier, s, e))
    return joined


async def read_windows(
    storage: Storage,
    tenant: str,
    kind: Kind,
    bounds: Sequence[dt.datetime],
    minutes_since: dt.datetime | None = None,
) -> list[list[Piece]]:
    """The pieces of the back-to-back windows [bounds[i], bounds[i+1]) (whole minutes, in
    time order), per window: one snapshot and one pass over the buckets and partials of the
    whole span, each read once, never raw events (minute buckets are read only at or after
    `minutes_since`; a caller passes no window older than that, save an hour-aligned one).
    Each run of minute buckets (the windows' edges) is one query, the hour buckets of all
    windows another: a query costs more than the few hour buckets read in vain between
    edges."""
    if any(b != floor(b, "minute") for b in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError("bounds: whole minutes, increasing")
    buckets = _cut(bounds)
    for tier, a, _ in buckets:
        if tier == "minute" and minutes_since is not None and a is not None and a < minutes_since:
            raise AssertionError(f"minutes from {a} may have been deleted")
    core: Span = (bounds[0], bounds[-1])
    pieces = await storage.snapshot(
        lambda session: _read(storage, session, tenant, kind, core, buckets, [], True)
    )
    windows: list[list[Piece]] = [[] for _ in bounds[1:]]
    for piece in pieces:
        index = bisect.bisect_right(bounds, piece.start) - 1
        if 0 <= index < len(windows):
            windows[index].append(piece)
    return windows


async def kinds_with_events(
    storage: Storage, tenant: str, models: Iterable[str]
) -> dict[str, set[Kind]]:
    """For each model, the kinds of event it has any of, folded or not: its all-time buckets
    (looked up by `_id`, one query for all) and the tenant's partials not folded yet."""
    found: dict[str, set[Kind]] = {model: set() for model in models}
    ids = {
        bucket_id((tenant, kind, model, EPOCH)): (model, kind) for model in found for kind in KINDS
    }
    if ids:
        async for doc in storage.buckets["total"].find({"_id": {"$in": list(ids)}}, {"_id": 1}):
            model, kind = ids[doc["_id"]]
            found[model].add(kind)
    unknown = [model for model, kinds in found.items() if len(kinds) < len(KINDS)]
    if unknown:
        # Cells may be packed (partials.pack), so the models are read, not queried for.
        fields = {"kind": 1, **TOTALS_FIELDS}
        async for partial in storage.partials.find({"tenant": tenant}, fields):
            for entry in partials.totals_of(partial):
                if entry["model"] in found:
                    found[entry["model"]].add(partial["kind"])
    return found


def minutes_kept_since(retention_days: float) -> dt.datetime | None:
    """Minute buckets before this may have been deleted (ROLLUP_RETENTION_DAYS), with an
    hour's margin for replicas whose clocks differ; None: they are kept forever."""
    if not retention_days:
        return None
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days, hours=-1)


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
