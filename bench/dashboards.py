"""Dashboard read times as one tenant's history grows from a small size to a large one.

A tenant of its own gets `small` events, then more up to `large`: half ML, half LLM, spread
over 30 days and 20 models (10 of each kind). They go straight into the database, which is
faster than through the collector, but as the collector writes them: each batch's documents
(bench.events.to_document) and its partial (collector.rollups.partials.partial_of) in one
transaction (Storage.insert_new), batches of the ingest rounds' size, several in flight. The
collector's own rollup job folds them; the bench only waits until it has, so the figures
include whatever the job leaves behind. Then each endpoint is called over REST with a bearer
token of a client of that tenant: one warm-up call, then `calls` timed ones; the median counts.

When the job falls behind the bench still times the dashboards, as a user would meet them:
the wait gives up once the job has folded nothing for `fold_stall_s`, a call that has not
answered within CALL_TIMEOUT_S counts as that long and as failed, and an endpoint that slow
gets fewer calls (CALLS_BUDGET_S), so that `make bench` ends in time either way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo.errors import NetworkTimeout, PyMongoError

from bench.events import Event, in_batches, llm_event, seed_ml_event, to_document
from bench.stack import DATABASE_NAME, Credentials, Stack, create_tenant_client, issue_token
from collector.rollups.cells import Kind
from collector.rollups.partials import partial_of
from collector.storage import Storage, open_storage

DAYS = 30
MODELS_PER_KIND = 10
METRICS_RANGE_DAYS = 365
POLL_S = 0.5
CALL_TIMEOUT_S = 10.0
SEED_TIMEOUT_MS = 120_000
CALLS_BUDGET_S = 20.0  # per endpoint and size, once at least one call has been timed
# A fraction in (0, 1) whose multiples modulo 1 spread evenly: any prefix of the events
# covers the 30 days about uniformly, so the small and the large history look alike.
GOLDEN = (math.sqrt(5) - 1) / 2
ENDPOINTS = ("overview", "llm_metrics", "ml_metrics")
SIZE_NAMES = ("small", "large")


class DashboardWrong(RuntimeError):
    """A dashboard answered with other totals than the events stored: its times mean nothing."""


@dataclass
class Totals:
    """What the stored events add up to, for checking the dashboards' answers."""

    ml_events: int = 0
    ml_predictions: int = 0
    llm_events: int = 0

    def add(self, kind: Kind, event: Event) -> None:
        if kind == "ml":
            self.ml_events += 1
            self.ml_predictions += event["prediction_count"]
        else:
            self.llm_events += 1


@dataclass
class SizeResult:
    events: int  # in the tenant's history
    added: int  # of them, stored for this size
    seed_s: float  # writing the added events and their partials
    fold_wait_s: float  # from the last write until the rollup job had folded them all
    partials_left: int  # not folded when the wait gave up (0: all folded)
    call_ms: dict[str, list[float]] = field(default_factory=dict)  # endpoint: timed calls
    failed: dict[str, int] = field(default_factory=dict)  # endpoint: calls not answered 200

    def median_ms(self, endpoint: str) -> float:
        return statistics.median(self.call_ms[endpoint])

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seed_s": round(self.seed_s, 1),
            "seed_events_per_s": round(self.added / self.seed_s) if self.seed_s else None,
            "fold_wait_s": round(self.fold_wait_s, 1),
            "partials_left": self.partials_left,
            "median_ms": {e: round(self.median_ms(e), 1) for e in self.call_ms},
            "call_ms": {e: [round(ms, 1) for ms in calls] for e, calls in self.call_ms.items()},
            "failed_calls": self.failed,
        }


def history_event(run: str, index: int, now: dt.datetime) -> tuple[Kind, Event]:
    """Event `index` of the tenant's history: even ML, odd LLM, 10 models of each kind."""
    model = (index // 2) % MODELS_PER_KIND
    timestamp = now - dt.timedelta(seconds=(index * GOLDEN) % 1.0 * DAYS * 86_400)
    if index % 2 == 0:
        ml = seed_ml_event(run, index, now)
        ml.update(model_id=f"ml-model-{model:02d}", timestamp=timestamp)
        if index % 100 == 0:
            ml["error"] = "ValueError"
        return "ml", ml
    llm = llm_event(run, index, now)
    llm.update(model_name=f"llm-model-{model:02d}", timestamp=timestamp)
    return "llm", llm


def history_batches(
    run: str, first: int, end: int, now: dt.datetime, batch_size: int, totals: Totals
) -> list[tuple[Kind, Sequence[Event]]]:
    """Events [first, end) in batches of one kind each, in time order within a kind as an
    application's stream sends them, ML and LLM batches alternating."""
    by_kind: dict[Kind, list[Event]] = {"ml": [], "llm": []}
    for index in range(first, end):
        kind, event = history_event(run, index, now)
        by_kind[kind].append(event)
        totals.add(kind, event)
    lanes = [
        [(kind, batch) for batch in in_batches(sorted(events, key=_time), batch_size)]
        for kind, events in by_kind.items()
    ]
    return [pair for row in itertools.zip_longest(*lanes) for pair in row if pair is not None]


def _time(event: Event) -> dt.datetime:
    moment: dt.datetime = event["timestamp"]
    return moment


async def seed(
    storage: Storage,
    who: Credentials,
    batches: Sequence[tuple[Kind, Sequence[Event]]],
    in_flight: int,
    now: dt.datetime,
) -> None:
    """Write each batch as the collector does: new documents plus their partial, one
    transaction per batch. Documents are made in the writers, overlapping the database."""
    pending = list(reversed(batches))

    async def writer() -> None:
        while pending:
            kind, events = pending.pop()
            docs = [to_document(e, who.tenant, who.client_id, now, kind) for e in events]
            summary: Callable[[list[Event]], Event] = functools.partial(
                partial_of, who.tenant, kind
            )
            outcome = await storage.insert_new(storage.events(kind), docs, summary)
            if outcome.inserted != len(docs):
                raise DashboardWrong(f"seeding stored {outcome.inserted} of {len(docs)} events")

    await asyncio.gather(*(writer() for _ in range(in_flight)))


async def until_folded(storage: Storage, stall_s: float) -> int:
    """Wait until the rollup job has folded every partial; give up once it has folded none
    for `stall_s` (it folds up to 200 at a time, so progress comes in steps). Returns the
    number left: 0 when all were folded. Nothing else writes while this phase runs, so the
    collection's count is the tenant's; counting by tenant would read every partial (the
    embedded database has no covered count) and slow the job it waits for."""
    left = await storage.partials.estimated_document_count()
    progress = time.perf_counter()
    while left and time.perf_counter() - progress < stall_s:
        await asyncio.sleep(POLL_S)
        try:
            now_left = await storage.partials.estimated_document_count()
        except NetworkTimeout:
            continue  # a database too busy to count is no progress either
        if now_left < left:
            progress = time.perf_counter()
        left = now_left
    return left


def _check(endpoint: str, body: dict[str, Any], totals: Totals) -> None:
    expected: dict[str, Any] = {
        "overview": {
            "total_ml_predictions": totals.ml_predictions,
            "total_llm_requests": totals.llm_events,
            "active_models": 2 * MODELS_PER_KIND,
        },
        "llm_metrics": {"total_requests": totals.llm_events},
        "ml_metrics": {"total_events": totals.ml_events},
    }[endpoint]
    got = {key: body.get(key) for key in expected}
    if got != expected:
        raise DashboardWrong(f"{endpoint}: expected {expected}, got {got}")


async def _call(
    http: httpx.AsyncClient, path: str, params: dict[str, str]
) -> httpx.Response | None:
    """The reply, or None when there was none within CALL_TIMEOUT_S."""
    try:
        return await http.get(path, params=params, timeout=CALL_TIMEOUT_S)
    except httpx.TimeoutException:
        return None


async def time_calls(
    http: httpx.AsyncClient,
    endpoint: str,
    params: dict[str, str],
    calls: int,
    totals: Totals,
) -> tuple[list[float], int]:
    """One warm-up call (its answer checked against the stored totals), then up to `calls`
    timed ones; returns their times in ms and how many of all failed."""
    path = "/dashboard/" + endpoint.replace("_", "-")
    failed = 0
    reply = await _call(http, path, params)
    if reply is not None and reply.status_code == 200:
        _check(endpoint, reply.json(), totals)
    else:
        failed += 1
    times: list[float] = []
    budget_end = time.perf_counter() + CALLS_BUDGET_S
    while len(times) < calls and (not times or time.perf_counter() < budget_end):
        started = time.perf_counter()
        reply = await _call(http, path, params)
        times.append((time.perf_counter() - started) * 1000)
        if reply is None or reply.status_code != 200:
            failed += 1
    return times, failed


@dataclass
class DashboardRun:
    sizes: list[SizeResult] = field(default_factory=list)  # those measured, ascending
    error: str | None = None  # why it stopped before the last size, if it did
    doing: str = "creating the tenant's client"  # the step under way, for `error`

    def named(self) -> dict[str, SizeResult]:
        """The sizes measured, by name: "small", "large"."""
        return dict(zip(SIZE_NAMES, self.sizes, strict=False))


async def measure(
    stack: Stack,
    run_id: str,
    sizes: Sequence[int],
    *,
    batch_size: int,
    in_flight: int,
    calls: int,
    fold_stall_s: float,
    budget_s: float,
    say: Callable[[str], None],
) -> DashboardRun:
    """Grow one tenant's history through `sizes` (ascending); time the dashboards at each.

    A database that stops answering, a wrong answer or the end of `budget_s` ends the run
    early: what was measured is kept and the reason recorded, for the report to show."""
    run = DashboardRun()
    try:
        async with asyncio.timeout(budget_s):
            await _grow(stack, run_id, sizes, run, batch_size, in_flight, calls, fold_stall_s, say)
    except TimeoutError:
        run.error = (
            f"{run.doing}: stopped after {budget_s:.0f} s, the time left of the bench's --timeout"
        )
    except (PyMongoError, httpx.HTTPError, DashboardWrong) as exc:
        run.error = f"{run.doing}: {type(exc).__name__}: {exc}"
    if run.error:
        say(f"dashboards: measured {len(run.sizes)} of {len(sizes)} sizes; {run.error}")
    return run


async def _grow(
    stack: Stack,
    run_id: str,
    sizes: Sequence[int],
    run: DashboardRun,
    batch_size: int,
    in_flight: int,
    calls: int,
    fold_stall_s: float,
    say: Callable[[str], None],
) -> None:
    who = await create_tenant_client(stack, f"bench-dash-{run_id}")
    now = dt.datetime.now(dt.UTC)
    dates = {
        "start_date": (now - dt.timedelta(days=METRICS_RANGE_DAYS)).date().isoformat(),
        "end_date": now.date().isoformat(),
    }
    params = {"overview": {}, "llm_metrics": dates, "ml_metrics": dates}
    totals = Totals()
    async with (
        # A bulk loader, not the collector's request path: no 1.5 s limit per operation.
        open_storage(stack.mongodb_url, DATABASE_NAME, 5000, SEED_TIMEOUT_MS) as storage,
        httpx.AsyncClient(base_url=stack.http_url, timeout=60) as http,
    ):
        http.headers["Authorization"] = f"Bearer {await issue_token(http, who)}"
        stored = 0
        for size in sizes:
            run.doing = f"storing events {stored}..{size}"
            batches = history_batches(f"dash-{run_id}", stored, size, now, batch_size, totals)
            started = time.perf_counter()
            await seed(storage, who, batches, in_flight, now)
            seeded = time.perf_counter()
            say(
                f"dashboards: {size - stored} events stored, {size} in all "
                f"({(size - stored) / (seeded - started):.0f} events/s); "
                "waiting for the rollup job to fold them"
            )
            run.doing = f"waiting for the rollup job to fold {size} events"
            left = await until_folded(storage, fold_stall_s)
            result = SizeResult(
                size, size - stored, seeded - started, time.perf_counter() - seeded, left
            )
            if left:
                say(
                    f"dashboards: WARNING the rollup job folded none of the {left} partials "
                    f"left for {fold_stall_s:.0f} s; timing the dashboards anyway"
                )
            for endpoint in ENDPOINTS:
                run.doing = f"timing {endpoint} at {size} events"
                result.call_ms[endpoint], result.failed[endpoint] = await time_calls(
                    http, endpoint, params[endpoint], calls, totals
                )
            failures = sum(result.failed.values())
            say(
                f"dashboards at {size} events: waited {result.fold_wait_s:.1f} s for the fold; "
                + ", ".join(f"{e} {result.median_ms(e):.1f} ms" for e in ENDPOINTS)
                + (f"; {failures} calls failed or timed out" if failures else "")
            )
            run.sizes.append(result)
            stored = size
