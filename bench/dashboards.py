"""Dashboard read times as one tenant's history grows from a small size to a large one.

A tenant of its own gets `small` events, then more up to `large`: half ML, half LLM, spread
over 30 days and 20 models (10 of each kind). They are imported as a user imports history:
through REST (`POST /ingest/ml|llm`), batches of the ingest rounds' size, oldest first,
`in_flight` requests at a time (1: one batch after the other, as issue 16's importer did),
while the collector's own rollup job folds them and the overview is read every 2 s, as a
dashboard left open does. A 429 is retried after its Retry-After, and counted; so is any
other refusal (a 503 says the database could not be reached: it should never happen here).
The bench then waits until the job has folded everything, so the figures include whatever
the job leaves behind, and calls each endpoint over REST with a bearer token of a client of
that tenant: one warm-up call, then `calls` timed ones; the median counts.

When the job falls behind the bench still times the dashboards, as a user would meet them:
the wait gives up once the job has folded nothing for `fold_stall_s`, a call that has not
answered within CALL_TIMEOUT_S counts as that long and as failed, and an endpoint that slow
gets fewer calls (CALLS_BUDGET_S), so that `make bench` ends in time either way.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo.errors import NetworkTimeout, PyMongoError

from bench.events import Event, in_batches, llm_event, seed_ml_event, to_json
from bench.stack import DATABASE_NAME, Stack, create_tenant_client, issue_token
from collector.domain import Kind
from collector.store.storage import Storage, open_storage

DAYS = 30
MODELS_PER_KIND = 10
METRICS_RANGE_DAYS = 365
POLL_S = 0.5
CALL_TIMEOUT_S = 10.0
OBSERVER_TIMEOUT_MS = 30_000  # the bench's own look at the database: counting partials
OVERVIEW_EVERY_S = 2.0  # a dashboard left open while the history is imported
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
class Answers:
    """The HTTP statuses one kind of call got during an import, and the slowest call."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    slowest_s: float = 0.0

    def record(self, status: int, took_s: float) -> None:
        self.statuses[status] += 1
        self.slowest_s = max(self.slowest_s, took_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "slowest_s": round(self.slowest_s, 2),
        }


@dataclass
class SizeResult:
    events: int  # in the tenant's history
    added: int  # of them, imported for this size
    seed_s: float  # importing the added events through REST
    fold_wait_s: float  # from the last batch's answer until the rollup job had folded them all
    partials_left: int  # not folded when the wait gave up (0: all folded)
    ingest: Answers = field(default_factory=Answers)  # every POST of the import, retries too
    overview_polls: Answers = field(default_factory=Answers)  # GET /dashboard/overview meanwhile
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
            "ingest": self.ingest.as_dict(),
            "overview_polls": self.overview_polls.as_dict(),
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


class ImportRefused(RuntimeError):
    """The collector refused a batch with something other than "busy, retry later"."""


def request_bodies(batches: Sequence[tuple[Kind, Sequence[Event]]]) -> list[tuple[Kind, bytes]]:
    """Encoded before the clock starts, as the ingest rounds' bodies are."""
    return [(kind, json.dumps({"events": [to_json(e) for e in b]}).encode()) for kind, b in batches]


async def _post(http: httpx.AsyncClient, kind: Kind, body: bytes, answers: Answers) -> None:
    """One batch until it is stored: a 429 or 503 is retried after its Retry-After. So is a
    500 after one of them: issue 16 item 1.2, mended on another branch (a batch sent again
    after its first try timed out met the WriteConflict of its own abandoned transaction for
    up to 60 s). The answers count every try."""
    refused = False
    while True:
        started = time.perf_counter()
        reply = await http.post(
            f"/ingest/{kind}", content=body, headers={"Content-Type": "application/json"}
        )
        answers.record(reply.status_code, time.perf_counter() - started)
        if reply.status_code == 200:
            if reply.json()["rejected"]:
                raise ImportRefused(f"POST /ingest/{kind}: {reply.text[:300]}")
            return
        if reply.status_code in (429, 503):
            refused = True
        elif not (reply.status_code == 500 and refused):
            raise ImportRefused(f"POST /ingest/{kind}: {reply.status_code} {reply.text[:300]}")
        await asyncio.sleep(float(reply.headers.get("retry-after", 1)))


async def backfill(
    http: httpx.AsyncClient,
    bodies: Sequence[tuple[Kind, bytes]],
    in_flight: int,
    result: SizeResult,
) -> None:
    """Import the batches in order, `in_flight` at a time, reading the overview meanwhile."""
    pending = list(reversed(bodies))

    async def importer() -> None:
        while pending:
            kind, body = pending.pop()
            await _post(http, kind, body, result.ingest)

    async def dashboard_left_open() -> None:
        while True:
            started = time.perf_counter()
            reply = await _call(http, "/dashboard/overview", {})
            took = time.perf_counter() - started
            result.overview_polls.record(0 if reply is None else reply.status_code, took)
            await asyncio.sleep(OVERVIEW_EVERY_S)

    polling = asyncio.ensure_future(dashboard_left_open())
    try:
        await asyncio.gather(*(importer() for _ in range(in_flight)))
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)


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
    except (PyMongoError, httpx.HTTPError, DashboardWrong, ImportRefused) as exc:
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
        # The bench's own look at the database, to see when the job has folded everything.
        open_storage(stack.mongodb_url, DATABASE_NAME, 5000, OBSERVER_TIMEOUT_MS) as storage,
        httpx.AsyncClient(base_url=stack.http_url, timeout=60) as http,
    ):
        http.headers["Authorization"] = f"Bearer {await issue_token(http, who)}"
        stored = 0
        for size in sizes:
            run.doing = f"importing events {stored}..{size}"
            batches = history_batches(f"dash-{run_id}", stored, size, now, batch_size, totals)
            bodies = request_bodies(batches)
            result = SizeResult(size, size - stored, 0.0, 0.0, 0)
            started = time.perf_counter()
            await backfill(http, bodies, in_flight, result)
            seeded = time.perf_counter()
            result.seed_s = seeded - started
            say(
                f"dashboards: {size - stored} events imported through REST, {size} in all "
                f"({(size - stored) / result.seed_s:.0f} events/s; ingest answers "
                f"{dict(result.ingest.statuses)}, overview polls "
                f"{dict(result.overview_polls.statuses)}); waiting for the rollup job to fold them"
            )
            run.doing = f"waiting for the rollup job to fold {size} events"
            result.partials_left = await until_folded(storage, fold_stall_s)
            result.fold_wait_s = time.perf_counter() - seeded
            left = result.partials_left
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
