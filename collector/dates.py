"""Dashboard date ranges: `YYYY-MM-DD` or RFC 3339; a bare end date includes that whole day."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from aegis_shared import json_schema
from collector.domain import Tier
from collector.errors import InvalidArgument

STEP = dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class DateRange:
    start: dt.datetime | None  # inclusive
    end: dt.datetime | None  # exclusive

    def mongo_filter(self) -> dict[str, dt.datetime]:
        bounds: dict[str, dt.datetime] = {}
        if self.start is not None:
            bounds["$gte"] = self.start
        if self.end is not None:
            bounds["$lt"] = self.end
        return bounds


def _parse(field: str, text: str, *, is_end: bool) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return start + dt.timedelta(days=1) if is_end else start
        if "T" not in text.upper():
            raise ValueError
        moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidArgument(
            f"{field}: {json.dumps(text[:40])} is not a date (YYYY-MM-DD) or an RFC 3339 "
            'date-time (e.g. "2024-01-02T10:00:00Z")'
        ) from None
    if moment.tzinfo is None:
        raise InvalidArgument(
            f"{field}: {json.dumps(text[:40])} has no offset; an RFC 3339 date-time needs one "
            "such as Z or +02:00"
        )
    # Stored times are whole milliseconds (BSON): an instant's millisecond is the unit.
    moment = moment.astimezone(dt.UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    # An instant end is inclusive; the filter is exclusive, so step just past it.
    return moment + STEP if is_end else moment


def parse_range(
    start_date: str, end_date: str, names: tuple[str, str] = ("start_date", "end_date")
) -> DateRange:
    """`names`: the fields the errors name (the request's own, e.g. reference_start)."""
    start = _parse(names[0], start_date, is_end=False)
    end = _parse(names[1], end_date, is_end=True)
    if start is not None and end is not None and start >= end:
        raise InvalidArgument(
            f"{names[0]} must not be after {names[1]} ({json.dumps(start_date.strip()[:40])} "
            f"is after {json.dumps(end_date.strip()[:40])})"
        )
    return DateRange(start, end)


# The longest range each series interval may cover (None: any), so a series stays a few
# thousand points at most.
SERIES_SPAN: dict[Tier, dt.timedelta | None] = {
    "minute": dt.timedelta(days=1),
    "hour": dt.timedelta(days=31),
    "day": None,
}
# What dashboard.proto documents as the intervals (aegis_shared.json_schema).
INTERVALS = json_schema.choices("aegis.v1.MetricsRequest", "interval")
json_schema.agree("collector.dates.SERIES_SPAN", SERIES_SPAN, INTERVALS)


def parse_interval(text: str, dates: DateRange) -> Tier | None:
    """The series interval asked for ("" → no series), checked against the range it covers."""
    text = text.strip().lower()
    if not text:
        return None
    if text not in SERIES_SPAN:
        raise InvalidArgument(
            f"interval: {json.dumps(text[:20])} is not one of {', '.join(INTERVALS)}"
        )
    interval: Tier = text
    series = f"{'an' if interval == 'hour' else 'a'} {interval} series"
    longest = SERIES_SPAN[interval]
    if longest is not None:
        if dates.start is None:
            raise InvalidArgument(f"interval: {series} needs a start_date")
        end = dates.end or dt.datetime.now(dt.UTC)
        if end - dates.start > longest + STEP:  # an inclusive end: one whole day is allowed
            days = f"{longest.days} day{'' if longest.days == 1 else 's'}"
            raise InvalidArgument(
                f"interval: {series} covers at most {days}; "
                "narrow the range or use a coarser interval"
            )
    return interval
