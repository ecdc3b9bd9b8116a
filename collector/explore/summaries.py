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

import operator
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions

from collector.explore.rows import Row, epoch_ms, from_ms
from collector.store.storage import Document

DIMENSIONS = ("user", "session", "trace")
PERIODS = {"hour": 3_600_000, "day": 86_400_000}  # ms
_NEVER = -1  # no time yet (times are epoch ms, never negative for stored events)


@dataclass(slots=True)
class Summary:
    # The order matters: each dimension keeps a prefix of these (DIMENSION_FIELDS).
    n: int = 0  # events (and spans, for a trace)
    tokens: int = 0
    cost: float = 0.0
    errors: int = 0
    first: int = _NEVER  # ms: the earliest timestamp (a trace: its first span's start)
    last: int = _NEVER  # ms: the latest timestamp
    llm: int = 0  # trace: its LLM calls
    user: str | None = None  # session, trace: the user of the newest event naming one
    user_ts: int = _NEVER
    session: str | None = None  # trace: the session of its first event naming one
    session_ts: int = _NEVER
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

    def packed(self, dim: str) -> tuple[Any, ...]:
        """The values a summary of this dimension keeps (DIMENSION_FIELDS), in order."""
        return _PACK[dim](self)

    def copy(self) -> Summary:
        return Summary(*_PACK["trace"](self))


_FIELDS = tuple(f.name for f in fields(Summary))
# What each dimension's summaries keep, a prefix of the fields: a day's users are many (~10k
# at 1M events a month), and every value kept is decoded again by every list over that day.
DIMENSION_FIELDS: dict[str, tuple[str, ...]] = {
    "user": _FIELDS[: _FIELDS.index("llm") + 1],
    "session": _FIELDS[: _FIELDS.index("user_ts") + 1],
    "trace": _FIELDS,
}
_PACK = {dim: operator.attrgetter(*names) for dim, names in DIMENSION_FIELDS.items()}

# dimension → (key, hour ms) → summary
Contributions = dict[str, dict[tuple[str, int], Summary]]


def contributions() -> Contributions:
    return {dim: {} for dim in DIMENSIONS}


def add_columns(found: Contributions, kind: str, hour_ms: int, c: dict[str, list[Any]]) -> None:
    """What one hour's rows (collector.explore.rows, as columns) add to each user's, session's
    and trace's summary of the hour: Summary.add for every row and dimension, written out
    column by column and only for the fields each dimension keeps (the job's main cost per
    event: measured 32 µs an event through Row objects and Summary.add). Spans have a trace
    only (their user and session are on the trace's events)."""
    llm = 1 if kind == "llm" else 0
    users, sessions, traces = found["user"], found["session"], found["trace"]
    columns = (c[name] for name in ("ts", "user", "session", "trace", "parent", "model"))
    numbers = (c[name] for name in ("error", "cost", "tokens", "latency"))
    for ts, user, session, trace, parent, name, error, cost, tokens, latency in zip(
        *columns, *numbers, strict=True
    ):
        tokens = tokens or 0
        cost = cost or 0.0
        if user:
            s = users.get((user, hour_ms))
            if s is None:
                users[user, hour_ms] = Summary(1, tokens, cost, error, ts, ts, llm)
            else:
                s.n += 1
                s.tokens += tokens
                s.cost += cost
                s.errors += error
                s.llm += llm
                if ts < s.first:
                    s.first = ts
                if ts > s.last:
                    s.last = ts
        if session:
            s = sessions.get((session, hour_ms))
            if s is None:
                sessions[session, hour_ms] = Summary(
                    1, tokens, cost, error, ts, ts, llm, user or None, ts if user else _NEVER
                )
            else:
                s.n += 1
                s.tokens += tokens
                s.cost += cost
                s.errors += error
                s.llm += llm
                if ts < s.first:
                    s.first = ts
                if ts > s.last:
                    s.last = ts
                if user and ts >= s.user_ts:
                    s.user, s.user_ts = user, ts
        if trace:
            end = ts + int(latency or 0)
            s = traces.get((trace, hour_ms))
            if s is None:
                root = parent is None
                traces[trace, hour_ms] = Summary(
                    1,
                    tokens,
                    cost,
                    error,
                    ts,
                    ts,
                    llm,
                    user or None,
                    ts if user else _NEVER,
                    session or None,
                    ts if session else _NEVER,
                    end,
                    ts if root else _NEVER,
                    name if root else None,
                )
            else:
                s.n += 1
                s.tokens += tokens
                s.cost += cost
                s.errors += error
                s.llm += llm
                if ts < s.first:
                    s.first = ts
                if ts > s.last:
                    s.last = ts
                if end > s.end:
                    s.end = end
                if user and ts >= s.user_ts:
                    s.user, s.user_ts = user, ts
                if session and (s.session is None or ts < s.session_ts):
                    s.session, s.session_ts = session, ts
                if parent is None and (s.root_start == _NEVER or ts < s.root_start):
                    s.root_start, s.root_name = ts, name


def merged(into: dict[str, Summary], key: str, summary: Summary) -> None:
    """Add the summary into `into`'s of its key; `into` may keep the object itself, so the
    caller must not use it afterwards."""
    current = into.get(key)
    if current is None:
        into[key] = summary
    else:
        current.merge(summary)


def dirty_id(tenant: str, dim: str, day_ms: int) -> str:
    """The marker of a day whose day summary is to be built again (collector.explore.fold)."""
    return f"{tenant}|{dim}|{from_ms(day_ms):%Y%m%d}"


def group_of(tenant: str, dim: str, period: str, start_ms: int) -> str:
    """What an hour's or a day's summary documents share: an hour has parts, one per fold
    round that touched it until the job merges them (collector.explore.parts)."""
    return f"{tenant}|{dim}|{period}|{from_ms(start_ms):%Y%m%d%H}"


# Entries a summary or directory document holds at most (~150 bytes each: ~3 MB, far below
# the 16 MB a document may hold); more are split into several documents of one group.
MAX_ENTRIES = 20_000


def chunked(packed: list[Any]) -> list[list[Any]]:
    return [packed[i : i + MAX_ENTRIES] for i in range(0, len(packed), MAX_ENTRIES)]


def summary_documents(
    tenant: str, dim: str, period: str, start_ms: int, found: dict[str, Summary]
) -> list[Document]:
    """{_id: "<group>|<ObjectId>", group, tenant, dim, period, start, n,
    s: Binary(BSON {"k": [[key, summary...], ...]})}: parts of the group."""
    packed = [[key, *summary.packed(dim)] for key, summary in found.items()]
    return packed_documents(tenant, dim, period, start_ms, packed)


def packed_documents(
    tenant: str, dim: str, period: str, start_ms: int, packed: list[Any]
) -> list[Document]:
    """Documents of packed summaries ([key, *values] each), MAX_ENTRIES at most in each."""
    group = group_of(tenant, dim, period, start_ms)
    return [
        {
            "_id": f"{group}|{ObjectId()}",
            "group": group,
            "tenant": tenant,
            "dim": dim,
            "period": period,
            "start": from_ms(start_ms),
            "n": len(chunk),
            "s": bson.Binary(bson.encode({"k": chunk})),
        }
        for chunk in chunked(packed)
    ]


_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()


def where(doc: Document) -> Document:
    """How to find the documents of a part's group (by the index)."""
    return {name: doc[name] for name in ("tenant", "dim", "period", "start")}


def add_packed(found: dict[str, list[Any]], dim: str, packed_rows: Iterable[list[Any]]) -> None:
    """Add packed summaries ([key, *values], as documents keep them) into `found`, keyed the
    same, without making a Summary of each: Summary.merge written out for the fields users and
    sessions keep (a 30-day list of users merges ~50k of them). `found` may keep the lists
    given."""
    if dim == "trace":
        for packed in packed_rows:
            current = found.get(packed[0])
            if current is None:
                found[packed[0]] = packed
            else:
                summary = Summary(*current[1:])
                summary.merge(Summary(*packed[1:]))
                found[packed[0]] = [packed[0], *summary.packed(dim)]
        return
    session = dim == "session"
    for packed in packed_rows:
        current = found.get(packed[0])
        if current is None:
            found[packed[0]] = packed
            continue
        current[1] += packed[1]  # n
        current[2] += packed[2]  # tokens
        current[3] += packed[3]  # cost
        current[4] += packed[4]  # errors
        if packed[5] != _NEVER and (current[5] == _NEVER or packed[5] < current[5]):
            current[5] = packed[5]  # first
        if packed[6] > current[6]:
            current[6] = packed[6]  # last
        current[7] += packed[7]  # llm
        if session and packed[8] is not None and packed[9] >= current[9]:
            current[8], current[9] = packed[8], packed[9]  # user, user_ts


def packed_of(doc: Document) -> list[list[Any]]:
    """A summary document's packed summaries."""
    data: list[list[Any]] = bson.decode(doc["s"], _UNPACK)["k"]
    return data


def merged_documents(parts: list[Document]) -> list[Document]:
    """The documents of these parts of a group, merged. A key found in one part only (most of
    a busy hour's traces) keeps its packed values as they are."""
    first = parts[0]
    dim = first["dim"]
    found: dict[str, list[Any]] = {}
    for part in parts:
        add_packed(found, dim, packed_of(part))
    start = epoch_ms(first["start"])
    return packed_documents(first["tenant"], dim, first["period"], start, list(found.values()))
