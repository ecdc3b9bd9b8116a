"""The explore read API timed over REST, each answer checked against what was sent.

Every figure is one warm-up call and then `calls` timed ones (median and max reported); every
answer, warm-up included, is checked (`Wrong` when it is not what the data says), so that a
fast wrong answer never counts.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.explore_corpus import AGENT_LLM_CALLS, AGENT_SPANS, LONG_SESSION, Corpus
from bench.explore_tally import epoch_ms

PAGE = 50  # the API's default limit
PAGES_DEEP = 20
USERS_TOP = 20
DAY = dt.timedelta(days=1)
MONTH = dt.timedelta(days=30)

Body = dict[str, Any]


class Wrong(RuntimeError):
    """An answer that is not what the data sent says: its time means nothing."""


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise Wrong(what)


@dataclass(frozen=True)
class Timing:
    calls_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.calls_ms)

    @property
    def max_ms(self) -> float:
        return max(self.calls_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_ms": round(self.median_ms, 1),
            "max_ms": round(self.max_ms, 1),
            "calls_ms": [round(ms, 1) for ms in self.calls_ms],
        }


async def _get(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> tuple[float, Body]:
    started = time.perf_counter()
    reply = await http.get(path, params=params)
    took_ms = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        raise Wrong(f"GET {path} {params}: {reply.status_code} {reply.text[:300]}")
    body: Body = reply.json()
    return took_ms, body


async def timed(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    calls: int,
    check: Callable[[Body], None],
) -> Timing:
    check((await _get(http, path, params))[1])
    times = []
    for _ in range(calls):
        took_ms, body = await _get(http, path, params)
        check(body)
        times.append(took_ms)
    return Timing(times)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def month() -> dict[str, str]:
    """The last 30 days, to the millisecond (a rolling window, as a 30-day rule's)."""
    now = dt.datetime.now(dt.UTC)
    return {"start_date": _rfc3339(now - MONTH), "end_date": _rfc3339(now)}


def _event_ids(body: Body) -> list[str]:
    return [event["event_id"] for event in body["events"]]


class Reads:
    """The timed reads of one tenant's corpus."""

    def __init__(self, http: httpx.AsyncClient, corpus: Corpus, calls: int) -> None:
        self.http = http
        self.corpus = corpus
        self.tally = corpus.tally
        self.calls = calls

    async def first_page(self) -> Timing:
        newest = self.tally.newest_ids(PAGE)

        def check(body: Body) -> None:
            expect(_event_ids(body) == newest, "the first page is not the newest 50 calls sent")

        return await timed(self.http, "/events/llm", {}, self.calls, check)

    async def user_page(self, window: dict[str, str] | None) -> Timing:
        """One user's newest calls: the default window (the last 24 hours) or `window`."""
        user = self.tally.watched_user
        params = {"user_id": user, **(window or {})}

        def check(body: Body) -> None:
            now = dt.datetime.now(dt.UTC)
            start = dt.datetime.fromisoformat(params.get("start_date") or _rfc3339(now - DAY))
            end = dt.datetime.fromisoformat(params.get("end_date") or _rfc3339(now))
            expected = self.tally.watched_newest(epoch_ms(start), epoch_ms(end), PAGE)
            expect(bool(expected), f"{user} has no calls in the window: pick another")
            expect(_event_ids(body) == expected, f"not {user}'s newest {len(expected)} calls")

        return await timed(self.http, "/events/llm", params, self.calls, check)

    async def deep_pages(self) -> Timing:
        """`calls` walks PAGES_DEEP pages deep with the cursor (no filter but the last 30 days,
        so that a small corpus has 20 pages too); every page timed. The pages of a walk are
        the newest 1000 calls sent, each once, newest first."""
        newest = self.tally.newest_ids(PAGE * PAGES_DEEP)
        times: list[float] = []
        for walk in range(self.calls + 1):
            given: list[str] = []
            params = month()
            for _ in range(PAGES_DEEP):
                took_ms, body = await _get(self.http, "/events/llm", params)
                if walk:  # the first walk warms up
                    times.append(took_ms)
                given += _event_ids(body)
                expect(body.get("next_cursor") is not None, "a walk ended before 20 pages")
                params = {"cursor": body["next_cursor"]}
            expect(given == newest, "20 pages are not the newest 1000 calls, each once")
        return Timing(times)

    async def trace(self, trace_id: str) -> Timing:
        def check(body: Body) -> None:
            spans = body["spans"]
            llm = [s for s in spans if s.get("llm")]
            roots = [s for s in spans if not s.get("parent_span_id")]
            starts = [s["start"] for s in spans]
            expect(len(spans) == AGENT_SPANS, f"{len(spans)} spans, not {AGENT_SPANS}")
            expect(len(llm) == AGENT_LLM_CALLS, f"{len(llm)} LLM spans, not {AGENT_LLM_CALLS}")
            expect(len(roots) == 1 and starts == sorted(starts), "not one tree by start")

        return await timed(self.http, f"/traces/{trace_id}", {}, self.calls, check)

    async def session(self) -> Timing:
        corpus = self.corpus

        def check(body: Body) -> None:
            events = body["events"]
            expect(len(events) == LONG_SESSION, f"{len(events)} events, not {LONG_SESSION}")
            expect(body["totals"]["requests"] == LONG_SESSION, f"totals {body['totals']}")
            expect(body.get("user_id") == corpus.long_session_user, "the session's user")
            expect(all(e.get("input") for e in events), "events without their content")

        path = f"/sessions/{corpus.long_session_id}"
        return await timed(self.http, path, {}, self.calls, check)

    async def users_top(self) -> Timing:
        expected = self.tally.top_users(USERS_TOP)
        params = {**month(), "sort": "cost", "limit": str(USERS_TOP)}

        def check(body: Body) -> None:
            users = body["users"]
            got = [(u["user_id"], u["cost"]) for u in users]
            expect(len(got) == len(expected), f"{len(got)} users, not {len(expected)}")
            for (user, cost), (_, top_cost) in zip(got, expected, strict=True):
                expect(math.isclose(cost, self.tally.cost[user], rel_tol=1e-9), f"{user}: {cost}")
                expect(math.isclose(cost, top_cost, rel_tol=1e-9), f"{user} is not in the top")
            for u in users:
                calls = self.tally.calls[u["user_id"]]
                expect(u["requests"] == calls, f"{u['user_id']}: {u['requests']} requests")

        return await timed(self.http, "/dashboard/users", params, self.calls, check)
