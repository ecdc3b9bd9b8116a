"""What drift reads: per feature (and the predictions) of one model, one sketch of a range.

Whole days come from `drift_day`, the hours at the range's edges from `drift_hour`, and what
the job has not folded yet from `drift_partials`, all in one snapshot, so that a fold running
meanwhile (which moves partials into hours and days in one transaction) is seen before or
after, never half. A range is taken in whole hours: an hour is summarised as one sketch, so
a range's start is rounded down to its hour and its end up. Hour sketches are deleted after
ROLLUP_RETENTION_DAYS (collector.jobs.retention); day sketches are kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pymongo.asynchronous.client_session import AsyncClientSession

from collector.drift import sketches
from collector.drift.sketches import SketchKind
from collector.store.storage import Document, Storage

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Distribution:
    """One sketch of a feature's (role "feature") or the predictions' (role and name
    "prediction") values of one kind over a range: `blob` in the pinned format
    (collector.drift.sketches), `rows` the values it summarises."""

    role: str
    name: str
    kind: SketchKind
    rows: int
    blob: bytes


def _hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(moment: dt.datetime) -> dt.datetime:
    floor = _hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def _day_ceil(moment: dt.datetime) -> dt.datetime:
    floor = moment.replace(hour=0)
    return floor if floor == moment else floor + DAY


Span = tuple[dt.datetime, dt.datetime]


def split(
    start: dt.datetime, end: dt.datetime, hours_from: dt.datetime | None = None
) -> tuple[list[Span], Span | None]:
    """The hour ranges (at the edges) and the day range (whole days) that cover
    [start, end) in whole hours. An edge before `hours_from` (hour sketches that old are
    deleted: ROLLUP_RETENTION_DAYS) is widened to its whole day."""
    first, last = _hour_floor(start), _hour_ceil(end)
    if hours_from is not None and first < hours_from:
        first = first.replace(hour=0)
    if hours_from is not None and last.replace(hour=0) < hours_from:
        last = _day_ceil(last)
    days_from, days_to = _day_ceil(first), last.replace(hour=0)
    if days_from >= days_to:
        return [(first, last)], None
    hours = [(first, days_from), (days_to, last)]
    return [(a, b) for a, b in hours if a < b], (days_from, days_to)


def covered(start: dt.datetime, end: dt.datetime, hours_from: dt.datetime | None = None) -> Span:
    """The range read_distributions reads for [start, end): whole hours, and whole days at an
    edge older than `hours_from`."""
    hours, days = split(start, end, hours_from)
    spans = [*hours, *([days] if days else [])]
    return min(a for a, _ in spans), max(b for _, b in spans)


async def read_distributions(
    storage: Storage,
    tenant: str,
    model_id: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    hours_from: dt.datetime | None = None,
) -> list[Distribution]:
    """Per feature and the predictions (and sketch kind) of `model_id` in `tenant`, the
    merged sketch of [start, end), in (role, name, kind) order. `hours_from`: the oldest
    hour sketches kept (see split)."""
    hours, days = split(start, end, hours_from)
    first, last = covered(start, end, hours_from)

    async def read(session: AsyncClientSession) -> list[Document]:
        found: list[Document] = []
        owner = {"tenant": tenant, "model_id": model_id}
        if days is not None:
            query = {**owner, "day": {"$gte": days[0], "$lt": days[1]}}
            found += [doc async for doc in storage.drift_day.find(query, session=session)]
        for a, b in hours:
            query = {**owner, "hour": {"$gte": a, "$lt": b}}
            found += [doc async for doc in storage.drift_hour.find(query, session=session)]
        # Not folded yet: few (the job runs every ROLLUP_INTERVAL_S), and not indexed, so
        # that ingest pays for no index.
        query = {**owner, "hour": {"$gte": first, "$lt": last}}
        async for partial in storage.drift_partials.find(query, session=session):
            found += partial["sketches"]
        return found

    groups: dict[tuple[str, str, SketchKind], list[Document]] = {}
    for doc in await storage.snapshot(read):
        groups.setdefault((doc["role"], doc["name"], doc["kind"]), []).append(doc)
    return [
        Distribution(
            role,
            name,
            kind,
            sum(doc["rows"] for doc in docs),
            sketches.merge(kind, [doc["blob"] for doc in docs]),
        )
        for (role, name, kind), docs in sorted(groups.items())
    ]
