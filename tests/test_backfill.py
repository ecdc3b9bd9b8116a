"""One client imports history through REST while the rollup job folds it: the slow test.

200,000 events over the last 30 days (half ML, half LLM, 10 models of each), sent one batch
of 500 at a time as an import sends them, oldest first, on a stack of its own whose rollup job
runs every 5 s (ROLLUP_INTERVAL_S). Meanwhile the overview is read every 2 s. The database
is single-threaded: the job's transactions must stay short enough that neither the ingest nor
the reads ever time out. A busy database may still refuse with 429 and a Retry-After (the
test waits that long and retries, as a client should); it must never answer 503, which means
the database cannot be reached. At the end the dashboards' totals are exact, and again once
the job has folded everything.

It takes minutes (the numbers are printed: `pytest -s`), so it is marked `slow`:
`pytest -m "not slow"` leaves it out.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import pathlib
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.procs import Stack, grpc_client_for, stack_mongodb_url, start_stack

# Measured on 2 cores shared with other test runs (load 7): the import took 314 s, the fold
# of what was left 231 s more, 567 s in all.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
FOLD_WITHIN_S = 600  # after the import, for what the job has not folded yet

EVENTS = 200_000
BATCH = 500
DAYS = 30
MODELS = 10  # of each kind
POLL_S = 2.0
# A fraction whose multiples modulo 1 spread evenly: the events cover the 30 days uniformly.
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass
class Outcomes:
    """Every answer one kind of call got, and how long the calls took."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    retry_after: collections.Counter[str] = field(default_factory=collections.Counter)
    refusals: list[str] = field(default_factory=list)  # what must not happen
    # 500s of a batch sent again after its first try timed out: issue 16 item 1.2, mended on
    # another branch (a transaction abandoned by a timeout holds its event ids, and the retry
    # met a WriteConflict for up to 60 s). Retried and counted, not failed, here.
    conflicts_after_timeout: int = 0
    seconds: list[float] = field(default_factory=list)

    def record(self, reply: httpx.Response, took_s: float, timed_out_before: bool) -> None:
        self.statuses[reply.status_code] += 1
        self.seconds.append(took_s)
        if reply.status_code == 429:
            self.retry_after[reply.headers.get("retry-after", "none")] += 1
        elif reply.status_code == 500 and timed_out_before:
            self.conflicts_after_timeout += 1
        elif reply.status_code != 200:
            self.refusals.append(f"{reply.status_code} {reply.text[:200]}")

    def summary(self) -> str:
        return (
            f"{dict(self.statuses)}, Retry-After {dict(self.retry_after)}, "
            f"500s after a timeout (item 1.2) {self.conflicts_after_timeout}, median "
            f"{statistics.median(self.seconds) * 1000:.0f} ms, max {max(self.seconds):.2f} s"
        )


@dataclass
class Totals:
    ml_predictions: int = 0
    llm_requests: int = 0
    cost: float = 0.0
    errors: int = 0


def history(now: dt.datetime) -> tuple[list[tuple[str, bytes]], Totals]:
    """The request bodies, encoded up front, and what their events add up to."""
    events: dict[str, list[dict[str, Any]]] = {"ml": [], "llm": []}
    totals = Totals()
    for i in range(EVENTS):
        age = dt.timedelta(seconds=(i * GOLDEN) % 1.0 * DAYS * 86_400)
        stamp = (now - age).isoformat().replace("+00:00", "Z")
        error = "ValueError" if i % 97 == 0 else ""
        totals.errors += bool(error)
        if i % 2 == 0:
            events["ml"].append(
                {
                    "event_id": f"ml-{i}",
                    "model_type": "GradientBoosting",
                    "model_id": f"ml-model-{i // 2 % MODELS}",
                    "prediction_count": 1 + i % 50,
                    "latency_ms": 5.0 + i % 40,
                    "timestamp": stamp,
                    "error": error,
                }
            )
            totals.ml_predictions += 1 + i % 50
        else:
            cost = (100 + i % 900) * 1e-7
            events["llm"].append(
                {
                    "event_id": f"llm-{i}",
                    "model_name": f"llm-model-{i // 2 % MODELS}",
                    "input_tokens": 100 + i % 900,
                    "output_tokens": 40 + i % 300,
                    "prompt_length": 400,
                    "response_length": 160,
                    "cost": cost,
                    "latency_ms": 200.0 + i % 2000,
                    "timestamp": stamp,
                    "error": error,
                }
            )
            totals.llm_requests += 1
            totals.cost += cost
    lanes = []
    for kind, found in events.items():
        found.sort(key=lambda e: str(e["timestamp"]))  # an import sends history in order
        lanes.append(
            [
                (kind, json.dumps({"events": found[i : i + BATCH]}).encode())
                for i in range(0, len(found), BATCH)
            ]
        )
    bodies = [pair for row in zip(*lanes, strict=True) for pair in row]
    return bodies, totals


class Poller:
    """GET /dashboard/overview every POLL_S seconds in a thread, recording every answer."""

    def __init__(self, http_url: str, headers: dict[str, str]) -> None:
        self.outcomes = Outcomes()
        self._http = httpx.Client(base_url=http_url, headers=headers, timeout=60)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            reply = self._http.get("/dashboard/overview")
            self.outcomes.record(reply, time.monotonic() - started, timed_out_before=False)
            self._stop.wait(POLL_S)

    def stop(self) -> Outcomes:
        self._stop.set()
        self._thread.join(timeout=120)
        self._http.close()
        return self.outcomes


def send(http: httpx.Client, kind: str, body: bytes, outcomes: Outcomes) -> None:
    """POST one batch until it is stored, waiting Retry-After after a 429."""
    timed_out = False
    while True:
        started = time.monotonic()
        reply = http.post(
            f"/ingest/{kind}", content=body, headers={"Content-Type": "application/json"}
        )
        outcomes.record(reply, time.monotonic() - started, timed_out)
        if reply.status_code == 200:
            assert reply.json()["rejected"] == 0, reply.text
            return
        if reply.status_code == 429:
            timed_out = True
            time.sleep(float(reply.headers["retry-after"]))
        elif reply.status_code == 500 and timed_out:
            time.sleep(1.0)  # item 1.2 (see Outcomes)
        else:
            return  # recorded; the test fails on it


def get(http: httpx.Client, path: str, **params: str) -> httpx.Response:
    """GET as a client must: after a 429 (busy, allowed), again after its Retry-After."""
    for _ in range(60):
        reply = http.get(path, params=params)
        if reply.status_code != 429:
            return reply
        time.sleep(float(reply.headers["retry-after"]))
    return reply


def check_totals(http: httpx.Client, totals: Totals, now: dt.datetime) -> None:
    overview = get(http, "/dashboard/overview")
    assert overview.status_code == 200, overview.text
    got = overview.json()
    assert got["total_ml_predictions"] == totals.ml_predictions
    assert got["total_llm_requests"] == totals.llm_requests
    assert got["active_models"] == 2 * MODELS
    assert got["total_errors"] == totals.errors
    assert got["total_cost"] == pytest.approx(totals.cost, rel=1e-9)
    year = {
        "start_date": (now - dt.timedelta(days=365)).date().isoformat(),
        "end_date": now.date().isoformat(),
    }
    llm = get(http, "/dashboard/llm-metrics", **year)
    assert llm.status_code == 200, llm.text
    assert llm.json()["total_requests"] == totals.llm_requests
    ml = get(http, "/dashboard/ml-metrics", **year)
    assert ml.status_code == 200, ml.text
    assert ml.json()["total_predictions"] == totals.ml_predictions


@pytest.fixture
def stack(tmp_path: pathlib.Path) -> Iterator[Stack]:
    running = start_stack(tmp_path, ROLLUP_INTERVAL_S="5")
    yield running
    running.child.stop()


def test_a_rest_backfill_racing_the_rollup_job_is_never_told_the_database_is_down(
    stack: Stack,
) -> None:
    client_id, secret = grpc_client_for(stack.grpc_target, "importer")
    now = dt.datetime.now(dt.UTC)
    bodies, totals = history(now)
    ingest = Outcomes()
    with (
        MongoClient(stack_mongodb_url(stack), serverSelectionTimeoutMS=10_000) as mongo,
        httpx.Client(base_url=stack.http, timeout=60) as http,
    ):
        token = http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        partials = mongo["aegisai"]["rollup_partials"]
        poller = Poller(stack.http, dict(http.headers))
        try:
            started = time.monotonic()
            for kind, body in bodies:
                send(http, kind, body, ingest)
                assert not ingest.refusals, ingest.refusals
            ingest_s = time.monotonic() - started
            left_at_end = partials.estimated_document_count()
            check_totals(http, totals, now)  # buckets and the partials not folded yet
            fold_deadline = time.monotonic() + FOLD_WITHIN_S
            while partials.estimated_document_count() and not poller.outcomes.refusals:
                assert time.monotonic() < fold_deadline, f"not folded in {FOLD_WITHIN_S} s"
                time.sleep(1)
            fold_s = time.monotonic() - started - ingest_s
        finally:
            reads = poller.stop()
        check_totals(http, totals, now)  # buckets only
    print(
        f"\nbackfill: {EVENTS} events in {ingest_s:.0f} s ({EVENTS / ingest_s:.0f} events/s); "
        f"{left_at_end} partials left to fold then, folded {fold_s:.0f} s later\n"
        f"ingest: {ingest.summary()}\noverview: {reads.summary()}"
    )
    assert not reads.refusals, reads.refusals
    assert reads.statuses[200] >= ingest_s / (POLL_S + 2) / 2, "the overview was read throughout"
