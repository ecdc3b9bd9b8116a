"""Summaries: per user, session and trace, what its rows add up to within an hour or a day.

A batch's note (collector.explore.directory) carries one summary per (dimension, key, hour) of
its rows; the explore job adds them into one document per (tenant, dimension, hour) and per
(tenant, dimension, day). Lists and totals over a window read the day documents of its whole
days, the hour documents of its other whole hours, the notes not folded yet, and the rows of
its partial hours at either edge: exact, whatever the window, for the cost of ~75 small reads
over 30 days.

A summary is a few numbers that add up (events, tokens, cost, errors), first and last times
that take their min and max, and per dimension what a list shows of it: a session's user (of
its newest event naming one), a trace's LLM calls, end, user, session and root span.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import bson
from bson.codec_options import CodecOptions

from collector.explore.rows import Row, from_ms
from collector.store.storage import Document

DIMENSIONS = ("user", "session", "trace")
PERIODS = {"hour": 3_600_000, "day": 86_400_000}  # ms
_NEVER = -1  # no time yet (times are epoch ms, never negative for stored events)


@dataclass(slots=True)
class Summary:
    n: int = 0  # events (and spans, for a trace)
    tokens: int = 0
    cost: float = 0.0
    errors: int = 0
    first: int = _NEVER  # ms: the earliest timestamp (a trace: its first span's start)
    last: int = _NEVER  # ms: the latest timestamp
    user: str | None = None  # session, trace: the user of the newest event naming one
    user_ts: int = _NEVER
    session: str | None = None  # trace: the session of its first event naming one
    session_ts: int = _NEVER
    llm: int = 0  # trace: its LLM calls
    end: int = _NEVER  # trace: the latest end (timestamp + latency)
    root_start: int = _NEVER  # trace: the earliest span without a parent
    root_name: str | None = None

    def add(self, kind: str, row: Row) -> None:
        self.n += 1
        self.tokens += row.tokens or 0
        self.cost += row.cost or 0.0
        self.errors += row.error
        self.first = row.ts if self.first == _NEVER else min(self.first, row.ts)
        self.last = max(self.last, row.ts)
        end = row.ts + int(row.latency or 0)
        self.end = max(self.end, end)
        if row.user and row.ts >= self.user_ts:
            self.user, self.user_ts = row.user, row.ts
        if row.session and (self.session is None or row.ts < self.session_ts):
            self.session, self.session_ts = row.session, row.ts
        if kind == "llm":
            self.llm += 1
        if row.parent is None and (self.root_start == _NEVER or row.ts < self.root_start):
            self.root_start, self.root_name = row.ts, row.model

    def merge(self, other: Summary) -> None:
        self.n += other.n
        self.tokens += other.tokens
        self.cost += other.cost
        self.errors += other.errors
        self.llm += other.llm
        if other.first != _NEVER:
            self.first = other.first if self.first == _NEVER else min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.end = max(self.end, other.end)
        if other.user is not None and other.user_ts >= self.user_ts:
            self.user, self.user_ts = other.user, other.user_ts
        if other.session is not None and (
            self.session is None or other.session_ts < self.session_ts
        ):
            self.session, self.session_ts = other.session, other.session_ts
        if other.root_name is not None and (
            self.root_start == _NEVER or other.root_start < self.root_start
        ):
            self.root_start, self.root_name = other.root_start, other.root_name

    def packed(self, dim: str) -> list[Any]:
        """The values a summary of this dimension keeps (DIMENSION_FIELDS), in order."""
        return [getattr(self, name) for name in DIMENSION_FIELDS[dim]]

    @classmethod
    def unpacked(cls, dim: str, values: list[Any]) -> Summary:
        return cls(**dict(zip(DIMENSION_FIELDS[dim], values, strict=True)))

    def copy(self) -> Summary:
        return Summary(*(getattr(self, name) for name in _FIELDS))


_FIELDS = tuple(f.name for f in fields(Summary))
# What each dimension's summaries keep: a day's users are many (~10k at 1M events a month),
# and every value kept is decoded again by every list over that day.
_COMMON = ("n", "tokens", "cost", "errors", "first", "last", "llm")
DIMENSION_FIELDS: dict[str, tuple[str, ...]] = {
    "user": _COMMON,
    "session": (*_COMMON, "user", "user_ts"),
    "trace": _FIELDS,
}

# dimension → key → hour ms → summary
Contributions = dict[str, dict[str, dict[int, Summary]]]


def contributions() -> Contributions:
    return {dim: {} for dim in DIMENSIONS}


def add_row(found: Contributions, kind: str, row: Row, hour_ms: int) -> None:
    """The row's part in its user's, session's and trace's summary of its hour. Spans have a
    trace only (their user and session are on the trace's events)."""
    for dim, key in (("user", row.user), ("session", row.session), ("trace", row.trace)):
        if key:
            per_hour = found[dim].setdefault(key, {})
            summary = per_hour.get(hour_ms)
            if summary is None:
                summary = per_hour[hour_ms] = Summary()
            summary.add(kind, row)


def merged(into: dict[str, Summary], key: str, summary: Summary) -> None:
    current = into.get(key)
    if current is None:
        into[key] = summary.copy()
    else:
        current.merge(summary)


def dirty_id(tenant: str, dim: str, day_ms: int) -> str:
    """The marker of a day whose day summary is to be built again (collector.explore.fold)."""
    return f"{tenant}|{dim}|{from_ms(day_ms):%Y%m%d}"


def summary_id(tenant: str, dim: str, period: str, start_ms: int) -> str:
    return f"{tenant}|{dim}|{period}|{from_ms(start_ms):%Y%m%d%H}"


def summary_document(
    tenant: str, dim: str, period: str, start_ms: int, found: dict[str, Summary]
) -> Document:
    """{_id, tenant, dim, period, start, n, s: Binary(BSON {"k": [[key, summary...], ...]})}"""
    packed = [[key, *summary.packed(dim)] for key, summary in found.items()]
    return {
        "_id": summary_id(tenant, dim, period, start_ms),
        "tenant": tenant,
        "dim": dim,
        "period": period,
        "start": from_ms(start_ms),
        "n": len(packed),
        "s": bson.Binary(bson.encode({"k": packed})),
    }


_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()


def summaries_of(doc: Document) -> dict[str, Summary]:
    dim = doc["dim"]
    data = bson.decode(doc["s"], _UNPACK)["k"]
    return {key: Summary.unpacked(dim, packed) for key, *packed in data}
