"""Bucket tiers and how a time range splits over them: whole days, then whole hours, then
minutes at the edges. Times are UTC; None is an open end."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from collector.domain import Tier

TIERS: tuple[Tier, ...] = ("minute", "hour", "day")  # finest first
# Buckets are kept per tier and, for answers over all time, per model: "total" (one bucket
# per tenant, kind and model, whatever its events' times).
BucketTier = Literal["minute", "hour", "day", "total"]
BUCKET_TIERS: tuple[BucketTier, ...] = (*TIERS, "total")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SPAN: dict[Tier, dt.timedelta] = {
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
}
Segment = tuple[BucketTier, dt.datetime | None, dt.datetime | None]


def floor(moment: dt.datetime, tier: BucketTier) -> dt.datetime:
    if tier == "total":
        return EPOCH
    moment = moment.replace(second=0, microsecond=0)
    if tier in ("hour", "day"):
        moment = moment.replace(minute=0)
    if tier == "day":
        moment = moment.replace(hour=0)
    return moment


def ceil(moment: dt.datetime, tier: Tier) -> dt.datetime:
    down = floor(moment, tier)
    return down if down == moment else down + SPAN[tier]


def _nonempty(start: dt.datetime | None, end: dt.datetime | None) -> bool:
    return start is None or end is None or start < end


def segments(
    start: dt.datetime | None, end: dt.datetime | None, coarsest: BucketTier
) -> list[Segment]:
    """Split a minute-aligned [start, end) into segments each served by one tier, using the
    coarsest tier (at most `coarsest`) that fits whole buckets in. With "total" allowed (no
    series to place points in), all time is the "total" buckets, and any other range days."""
    if coarsest == "total":
        if start is None and end is None:
            return [("total", None, None)]
        coarsest = "day"
    if not _nonempty(start, end):
        return []
    tier = coarsest
    if tier == "minute":
        return [("minute", start, end)]
    finer = TIERS[TIERS.index(tier) - 1]
    inner_start = None if start is None else ceil(start, tier)
    inner_end = None if end is None else floor(end, tier)
    if not _nonempty(inner_start, inner_end):
        return segments(start, end, finer)
    left = [] if start is None else segments(start, inner_start, finer)
    right = [] if end is None else segments(inner_end, end, finer)
    return [*left, (tier, inner_start, inner_end), *right]
