"""GET /dashboard/users, /sessions and /traces compared with brute force over the events sent:
windows with partial hours at both edges, whole hours and whole days; with every note pending,
after the explore job folded them, and with some folded and some not; page walks that meet
every item once."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest

from collector.explore import parts
from collector.explore.fold import fold_notes, rebuild_days
from collector.explore.parts import merge_parts
from collector.store.storage import Storage, open_storage
from tests.conftest import ApiClient, assert_error, ingest, read
from tests.procs import Stack, stack_mongodb_url

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0, second=0, minute=0)
T0 = NOW - dt.timedelta(days=4)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
async def storage(stack: Stack) -> AsyncIterator[Storage]:
    async with open_storage(stack_mongodb_url(stack), "aegisai", 10_000) as opened:
        yield opened


@dataclass
class Truth:
    n: int = 0
    tokens: int = 0
    cost: float = 0.0
    errors: int = 0
    first: int = 0
    last: int = 0
    end: int = 0
    llm: int = 0
    user: tuple[int, str] | None = None  # (ts, user) of the newest event naming one
    session: tuple[int, str] | None = None  # of the earliest naming one
    root: tuple[int, str] | None = None
    seen: list[int] = field(default_factory=list)


def brute(
    events: list[tuple[str, dict[str, Any]]], dim: str, start: int, end: int
) -> dict[str, Truth]:
    found: dict[str, Truth] = {}
    for kind, e in events:
        key = e.get(f"{dim}_id")
        ts = ms(dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")))
        if not key or not start <= ts < end:
            continue
        t = found.setdefault(key, Truth(first=ts))
        t.n += 1
        t.tokens += e.get("tokens_used") or 0
        t.cost += e.get("cost") or 0.0
        t.errors += 1 if e.get("error") else 0
        t.first, t.last = min(t.first, ts), max(t.last, ts)
        t.end = max(t.end, ts + int(e.get("latency_ms") or 0))
        t.llm += kind == "llm"
        if e.get("user_id") and (t.user is None or ts >= t.user[0]):
            t.user = (ts, e["user_id"])
        if e.get("session_id") and (t.session is None or ts < t.session[0]):
            t.session = (ts, e["session_id"])
        name = e.get("model_name") or e.get("model_id")
        if not e.get("parent_span_id") and (t.root is None or ts < t.root[0]):
            t.root = (ts, name)
    return found


def make_events(run: str, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """~300 events over four days: 12 users, 30 sessions, 40 traces; distinct millisecond
    timestamps, so that "newest" and "earliest" have one answer."""
    events = []
    used: set[int] = set()
    for i in range(300):
        while True:
            offset = rng.randrange(0, 4 * 86_400_000 - 1)
            if offset not in used:
                used.add(offset)
                break
        kind = "llm" if i % 5 else "ml"
        session = rng.randrange(30)
        trace = rng.randrange(40)
        e: dict[str, Any] = {
            "event_id": f"{run}-{i}",
            "timestamp": iso(T0 + dt.timedelta(milliseconds=offset)),
            "latency_ms": float(rng.randrange(1, 5000)),
        }
        if rng.random() < 0.9:
            e["user_id"] = f"u-{rng.randrange(12)}"
        if rng.random() < 0.8:
            e["session_id"] = f"s-{run}-{session}"
        if rng.random() < 0.8:
            e["trace_id"] = f"{run}{trace:04d}".ljust(32, "0")
            if rng.random() < 0.7:
                e["parent_span_id"] = f"{rng.randrange(1 << 60):016x}"
        if rng.random() < 0.1:
            e["error"] = "boom"
        if rng.random() < 0.7:
            e["environment"] = rng.choice(["prod", "staging"])
        if rng.random() < 0.7:
            e["release"] = rng.choice(["1.0", "1.1"])
        if kind == "llm":
            e |= {"model_name": f"m-{i % 3}", "tokens_used": rng.randrange(1, 900)}
            e["cost"] = round(rng.random(), 6)
        else:
            e |= {"model_type": "rf", "model_id": f"ml-{i % 2}", "prediction_count": 1}
        events.append((kind, e))
    return events


async def send(
    http: httpx.AsyncClient, client: ApiClient, events: list[tuple[str, dict[str, Any]]]
) -> None:
    for kind in ("llm", "ml"):
        mine = [e for k, e in events if k == kind]
        for i in range(0, len(mine), 37):
            await ingest(http, client, kind, mine[i : i + 37])


WINDOWS = [
    # partial hours at both edges, whole hours, whole days
    (T0 + dt.timedelta(hours=5, minutes=17), NOW - dt.timedelta(minutes=1, seconds=3)),
    (T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=3)),  # two whole days
    (T0 + dt.timedelta(hours=30, minutes=1), T0 + dt.timedelta(hours=31, minutes=59)),  # edges only
]


async def check_all(
    http: httpx.AsyncClient, client: ApiClient, events: list[tuple[str, dict[str, Any]]]
) -> None:
    for start, end in WINDOWS:
        dates = {"start_date": iso(start), "end_date": iso(end - dt.timedelta(milliseconds=1))}
        s, e = ms(start), ms(end)
        users = brute(events, "user", s, e)
        for sort, total in (
            ("cost", lambda t: t.cost),
            ("tokens", lambda t: t.tokens),
            ("requests", lambda t: t.n),
            ("errors", lambda t: t.errors),
        ):
            got = (await read(http, client, "/dashboard/users", sort=sort, limit="100", **dates))[
                "users"
            ]
            assert [u["user_id"] for u in got] == [
                k for k, _ in sorted(users.items(), key=lambda kv: (-total(kv[1]), kv[0]))
            ]
        for u in got:
            t = users[u["user_id"]]
            assert (u["requests"], u["tokens"], u["errors"]) == (t.n, t.tokens, t.errors)
            assert u["cost"] == pytest.approx(t.cost, abs=1e-9)
            assert ms(dt.datetime.fromisoformat(u["last_seen"].replace("Z", "+00:00"))) == t.last

        sessions = brute(events, "session", s, e)
        walked = await walk(http, client, "/sessions", "sessions", dates)
        expected = sorted(sessions, key=lambda k: (sessions[k].last, k), reverse=True)
        assert [x["session_id"] for x in walked] == expected
        for x in walked:
            t = sessions[x["session_id"]]
            assert (x["requests"], x["tokens"], x["errors"]) == (t.n, t.tokens, t.errors)
            assert x["user_id"] == (t.user[1] if t.user else None)
        a_user = next(iter(users), None)
        if a_user:
            only = await walk(http, client, "/sessions", "sessions", {**dates, "user_id": a_user})
            assert [x["session_id"] for x in only] == [
                k for k in expected if sessions[k].user and sessions[k].user[1] == a_user
            ]

        traces = brute(events, "trace", s, e)
        walked = await walk(http, client, "/traces", "traces", dates)
        expected = sorted(traces, key=lambda k: (traces[k].first, k), reverse=True)
        assert [x["trace_id"] for x in walked] == expected
        for x in walked:
            t = traces[x["trace_id"]]
            assert (x["spans"], x["llm_calls"], x["tokens"], x["errors"]) == (
                t.n,
                t.llm,
                t.tokens,
                t.errors,
            )
            assert x["duration_ms"] == max(t.end, t.last) - t.first
            assert x["root_name"] == (t.root[1] if t.root else None)
            assert x["user_id"] == (t.user[1] if t.user else None)
            assert x["session_id"] == (t.session[1] if t.session else None)
        errors = await walk(http, client, "/traces", "traces", {**dates, "errors_only": "true"})
        assert [x["trace_id"] for x in errors] == [k for k in expected if traces[k].errors]


async def walk(
    http: httpx.AsyncClient, client: ApiClient, path: str, field_: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await read(
            http, client, path, limit="7", **params, **({"cursor": cursor} if cursor else {})
        )
        assert len(page[field_]) <= 7
        items += page[field_]
        if page["next_cursor"] is None:
            return items
        cursor = page["next_cursor"]


async def groups_with_parts(storage: Storage, tenant: str) -> int:
    """How many of the tenant's summary and directory groups have more than one document."""
    found = 0
    for collection in (storage.explore_summaries, storage.explore_directory):
        groups = Counter([doc["group"] async for doc in collection.find({"tenant": tenant})])
        found += sum(1 for n in groups.values() if n > 1)
    return found


async def test_lists_equal_brute_force_pending_folded_and_mixed(
    http: httpx.AsyncClient, tenant_client: ApiClient, storage: Storage
) -> None:
    run = uuid.uuid4().hex[:8]
    events = make_events(run, random.Random(18))
    first, second = events[:200], events[200:]
    mine = {"tenant": tenant_client.tenant}
    await send(http, tenant_client, first)
    await check_all(http, tenant_client, first)  # notes pending (unless the job ran)
    await fold_notes(storage)
    await check_all(http, tenant_client, first)  # folded: days marked, read from their hours
    await rebuild_days(storage)  # the days were touched just now: not built yet
    await check_all(http, tenant_client, first)
    await rebuild_days(storage, quiet_s=0, budget_s=None)
    assert await storage.explore_dirty.count_documents(mine) == 0
    assert await storage.explore_summaries.count_documents({**mine, "period": "day"}) > 0
    await check_all(http, tenant_client, first)  # whole days from day summaries
    await send(http, tenant_client, second)
    await send(http, tenant_client, second[:50])  # retried: stored once
    await check_all(http, tenant_client, events)  # folded and pending together
    await fold_notes(storage)
    await check_all(http, tenant_client, events)  # hours in two parts each
    assert await groups_with_parts(storage, tenant_client.tenant) > 0
    assert await merge_parts(storage, quiet_s=0, budget_s=None) > 0
    assert await groups_with_parts(storage, tenant_client.tenant) == 0
    await check_all(http, tenant_client, events)  # the parts merged
    await rebuild_days(storage, quiet_s=0, budget_s=None)
    await check_all(http, tenant_client, events)


@pytest.mark.parametrize(("groups", "entries"), [(3, parts.BATCH_ENTRIES), (50, 1)])
async def test_parts_merged_a_few_groups_a_transaction_read_the_same(
    http: httpx.AsyncClient,
    tenant_client: ApiClient,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    groups: int,
    entries: int,
) -> None:
    """merge_parts merges groups in batches (one transaction each), cut at so many groups
    or, one group at least, so many entries: cut small, so that the groups take several
    transactions, every group is merged and the lists still equal the brute force."""
    events = make_events(uuid.uuid4().hex[:8], random.Random(23))
    for half in (events[:150], events[150:]):
        await send(http, tenant_client, half)
        await fold_notes(storage)
    split = await groups_with_parts(storage, tenant_client.tenant)
    assert split > 3
    monkeypatch.setattr(parts, "BATCH_GROUPS", groups)
    monkeypatch.setattr(parts, "BATCH_ENTRIES", entries)
    transactions = 0
    transaction = storage.transaction

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await transaction(*args, **kwargs)

    monkeypatch.setattr(storage, "transaction", counted)
    # The stack's own job may merge a group meanwhile: what counts is that none is left.
    assert await merge_parts(storage, quiet_s=0, budget_s=None) > 0
    assert transactions > 1
    assert await groups_with_parts(storage, tenant_client.tenant) == 0
    markers = {"what": "parts", "where.tenant": tenant_client.tenant}
    assert await storage.explore_dirty.count_documents(markers) == 0
    await check_all(http, tenant_client, events)


async def test_list_errors_are_named(http: httpx.AsyncClient, tenant_client: ApiClient) -> None:
    for path, params, named in (
        ("/dashboard/users", {"sort": "latency"}, "sort"),
        ("/dashboard/users", {"limit": "101"}, "limit"),
        ("/sessions", {"limit": "201"}, "limit"),
        ("/traces", {"cursor": "garbage"}, "cursor"),
        ("/traces", {"start_date": "2026-13-01"}, "start_date"),
    ):
        reply = await http.get(path, params=params, headers=tenant_client.headers)
        assert named in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    first = await read(http, tenant_client, "/traces", limit="1")
    assert first["traces"] == [] and first["next_cursor"] is None


async def test_dashboards_filtered_by_user_environment_and_release(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    run = uuid.uuid4().hex[:8]
    events = make_events(run, random.Random(7))
    await send(http, tenant_client, events)
    start, end = WINDOWS[0]
    dates = {"start_date": iso(start), "end_date": iso(end - dt.timedelta(milliseconds=1))}
    s, e = ms(start), ms(end)

    def within(event: dict[str, Any]) -> bool:
        ts = ms(dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")))
        return s <= ts < e

    for params in (
        {"user_id": "u-3"},
        {"environment": "prod"},
        {"release": "1.1", "user_id": "u-1"},
    ):
        field_of = {"user_id": "user_id", "environment": "environment", "release": "release"}
        chosen = [
            (k, ev)
            for k, ev in events
            if within(ev) and all(ev.get(field_of[p]) == v for p, v in params.items())
        ]
        llm = await read(http, tenant_client, "/dashboard/llm-metrics", **dates, **params)
        mine = [ev for k, ev in chosen if k == "llm"]
        assert llm["total_requests"] == len(mine)
        assert llm["total_tokens"] == sum(ev["tokens_used"] for ev in mine)
        assert llm["total_cost"] == pytest.approx(sum(ev["cost"] for ev in mine), abs=1e-9)
        assert llm["total_errors"] == sum(1 for ev in mine if ev.get("error"))
        per_model = {m["model_name"]: m["requests"] for m in llm["models"]}
        assert per_model == {
            name: sum(1 for ev in mine if ev["model_name"] == name)
            for name in {ev["model_name"] for ev in mine}
        }
        ml = await read(
            http, tenant_client, "/dashboard/ml-metrics", interval="day", **dates, **params
        )
        theirs = [ev for k, ev in chosen if k == "ml"]
        assert ml["total_events"] == len(theirs)
        assert sum(p["events"] for p in ml["series"]) == len(theirs)
    unfiltered = await read(http, tenant_client, "/dashboard/llm-metrics", **dates)
    assert unfiltered["total_requests"] == sum(1 for k, ev in events if k == "llm" and within(ev))
