"""Rollups against brute force: dashboards read buckets, partials and raw edges, and must equal
an aggregation over the raw events themselves, whatever has or has not been folded yet.

Each test owns a database and a collector whose own rollup job is slowed right down, so the
test decides when folding happens (it calls the job function directly, as the scheduler does).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import pathlib
import random
import signal
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from pymongo import MongoClient

from aegis.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    dashboard_pb2,
    dashboard_pb2_grpc,
    events_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
)
from collector.jobs.retention import apply_retention
from collector.rollups import histogram
from collector.rollups import partials as partial_docs
from collector.rollups.fold import Pace, fold_partials
from collector.store.storage import Storage, open_storage
from tests.procs import ADMIN_ID, ADMIN_SECRET, Backend, wait_until

pytestmark = pytest.mark.timeout(240)

UTC = dt.UTC
BASE = dt.datetime(2024, 5, 1, tzinfo=UTC)
LLM_MODELS = ["gpt-a", "gpt-b", "claude-c"]
ML_MODELS = ["fraud", "churn", "rank"]


class Api:
    """The collector over gRPC with the bootstrap admin's token (tenant "default")."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target)
        token = (
            auth_pb2_grpc.AuthServiceStub(self._channel)
            .IssueToken(auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET))
            .access_token
        )
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self.dashboard = dashboard_pb2_grpc.DashboardServiceStub(self._channel)

    def send(self, kind: str, events: list[dict[str, Any]]) -> ingest_pb2.IngestResponse:
        if kind == "llm":
            request: Any = ingest_pb2.IngestLLMRequest(events=[_llm(e) for e in events])
            return self.ingest.IngestLLM(request, metadata=self.metadata, timeout=30)
        request = ingest_pb2.IngestMLRequest(events=[_ml(e) for e in events])
        return self.ingest.IngestML(request, metadata=self.metadata, timeout=30)

    def metrics(self, kind: str, **params: str) -> Any:
        request = dashboard_pb2.MetricsRequest(**params)
        call = self.dashboard.LLMMetrics if kind == "llm" else self.dashboard.MLMetrics
        return call(request, metadata=self.metadata, timeout=30)

    def overview(self) -> dashboard_pb2.OverviewResponse:
        return self.dashboard.Overview(
            dashboard_pb2.OverviewRequest(), metadata=self.metadata, timeout=30
        )

    def close(self) -> None:
        self._channel.close()


def _stamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _llm(e: dict[str, Any]) -> events_pb2.LLMEvent:
    return events_pb2.LLMEvent(
        event_id=e["event_id"],
        model_name=e["model"],
        tokens_used=e["tokens"],
        input_tokens=e["tokens"] // 3,
        output_tokens=e["tokens"] - e["tokens"] // 3,
        prompt_length=e["tokens"] * 4,
        response_length=e["tokens"] * 2,
        cost=e["cost"],
        timestamp=_stamp(e["timestamp"]),
        error=e["error"],
        **({"latency_ms": e["latency"]} if e["latency"] is not None else {}),
    )


def _ml(e: dict[str, Any]) -> events_pb2.MLEvent:
    return events_pb2.MLEvent(
        event_id=e["event_id"],
        model_id=e["model"],
        model_type=f"type-of-{e['model']}",
        prediction_count=e["tokens"],
        timestamp=_stamp(e["timestamp"]),
        error=e["error"],
        **({"latency_ms": e["latency"]} if e["latency"] is not None else {}),
    )


def random_events(rng: random.Random, kind: str, n: int, days: int) -> list[dict[str, Any]]:
    models = LLM_MODELS if kind == "llm" else ML_MODELS
    return [
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "model": rng.choice(models),
            "tokens": rng.randint(1, 500),
            "cost": round(rng.uniform(0, 0.01), 6),
            # Millisecond times (what BSON keeps), spread over `days` days.
            "timestamp": BASE + dt.timedelta(milliseconds=rng.randrange(days * 86_400_000)),
            "error": rng.choice(["", "", "", "", "timeout", "rate_limited"]),
            "latency": None if rng.random() < 0.1 else round(rng.lognormvariate(5, 1), 3),
        }
        for _ in range(n)
    ]


# --- Brute force over the raw events, straight from the database ----------------------------


def raw_events(url: str, kind: str) -> list[dict[str, Any]]:
    with MongoClient(url, tz_aware=True) as client:
        return list(client["aegisai"][f"{kind}_events"].find({"tenant": "default"}))


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_within_one_bucket(reported: float, exact: float) -> None:
    low, high = histogram.bounds(histogram.bucket_of(exact))
    assert low <= reported <= max(high, exact), f"{reported} is not within {exact}'s bucket"


def brute(
    docs: list[dict[str, Any]], kind: str, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, dict[str, Any]]:
    model_key = "model_name" if kind == "llm" else "model_id"
    amount = "tokens_used" if kind == "llm" else "prediction_count"
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "amount": 0, "cost": 0.0, "errors": 0, "latencies": [], "times": []}
    )
    for doc in docs:
        if (start and doc["timestamp"] < start) or (end and doc["timestamp"] >= end):
            continue
        m = out[doc[model_key]]
        m["n"] += 1
        m["amount"] += doc[amount]
        m["cost"] += doc.get("cost", 0.0)
        m["errors"] += bool(doc.get("error"))
        m["times"].append(doc["timestamp"])
        if doc.get("latency_ms") is not None:
            m["latencies"].append(doc["latency_ms"])
    return dict(out)


def check_metrics(
    api: Api,
    url: str,
    kind: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> None:
    params = {}
    if start:
        params["start_date"] = start.isoformat()
    if end:
        # An RFC 3339 end is inclusive: step back a millisecond to ask for [start, end).
        params["end_date"] = (end - dt.timedelta(milliseconds=1)).isoformat()
    got = api.metrics(kind, **params)
    expected = brute(raw_events(url, kind), kind, start, end)
    models = {(m.model_name if kind == "llm" else m.model_id): m for m in got.models}
    assert set(models) == set(expected), params
    for name, want in expected.items():
        m = models[name]
        if kind == "llm":
            assert (m.requests, m.tokens, m.errors) == (want["n"], want["amount"], want["errors"])
            assert m.cost == pytest.approx(want["cost"], rel=1e-9, abs=1e-12)
            assert m.avg_prompt_length == pytest.approx(want["amount"] * 4 / want["n"])
        else:
            expected = (want["n"], want["amount"], want["errors"])
            assert (m.events, m.predictions, m.errors) == expected
            assert m.first_seen.ToDatetime(UTC) == min(want["times"])
            assert m.last_seen.ToDatetime(UTC) == max(want["times"])
        assert m.error_rate == pytest.approx(want["errors"] / want["n"])
        if want["latencies"]:
            for q, reported in ((0.5, m.latency_p50_ms), (0.95, m.latency_p95_ms)):
                assert_within_one_bucket(reported, nearest_rank(want["latencies"], q))
            assert_within_one_bucket(m.latency_p99_ms, nearest_rank(want["latencies"], 0.99))
        else:
            assert not m.HasField("latency_p50_ms")


def check_series(api: Api, url: str, kind: str, start: dt.datetime, end: dt.datetime) -> None:
    for interval, span in (("day", dt.timedelta(days=1)), ("hour", dt.timedelta(hours=1))):
        if interval == "hour" and end - start > dt.timedelta(days=31):
            continue
        got = api.metrics(
            kind,
            start_date=start.isoformat(),
            end_date=(end - dt.timedelta(milliseconds=1)).isoformat(),
            interval=interval,
        )
        docs = [d for d in raw_events(url, kind) if start <= d["timestamp"] < end]
        expected: dict[dt.datetime, int] = defaultdict(int)
        for doc in docs:
            t = doc["timestamp"]
            point = t.replace(minute=0, second=0, microsecond=0)
            if span.days:
                point = point.replace(hour=0)
            expected[point] += 1
        counts = {
            p.time.ToDatetime(UTC): (p.requests if kind == "llm" else p.events) for p in got.series
        }
        assert counts == dict(expected), interval
        per_model = sum(len(m.series) for m in got.models)
        assert per_model >= len(got.series)
        assert sum(p.errors for p in got.series) == sum(bool(d.get("error")) for d in docs)


def check_everything(api: Api, url: str) -> None:
    for kind in ("llm", "ml"):
        check_metrics(api, url, kind)
        # Whole days, and edges that fall inside minutes, hours and days.
        check_metrics(api, url, kind, BASE + dt.timedelta(days=3), BASE + dt.timedelta(days=9))
        odd_start = BASE + dt.timedelta(days=2, hours=5, minutes=7, seconds=13, milliseconds=250)
        odd_end = BASE + dt.timedelta(days=11, hours=17, minutes=43, seconds=2)
        check_metrics(api, url, kind, odd_start, odd_end)
        check_metrics(api, url, kind, odd_start, odd_start + dt.timedelta(seconds=40))
        check_metrics(api, url, kind, None, odd_end)
        # Ends and starts exactly on an event's own (millisecond) instant.
        for doc in raw_events(url, kind)[:1]:
            at = doc["timestamp"]
            check_metrics(api, url, kind, BASE, at + dt.timedelta(milliseconds=1))
            check_metrics(api, url, kind, at, None)
        check_series(api, url, kind, odd_start, odd_end)
        check_series(api, url, kind, odd_start, odd_start + dt.timedelta(days=2, minutes=3))
    overview = api.overview()
    llm = raw_events(url, "llm")
    ml = raw_events(url, "ml")
    assert overview.total_llm_requests == len(llm)
    assert overview.total_ml_predictions == sum(d["prediction_count"] for d in ml)
    assert overview.total_cost == pytest.approx(sum(d["cost"] for d in llm), rel=1e-9)
    assert overview.active_models == len({d["model_name"] for d in llm}) + len(
        {d["model_id"] for d in ml}
    )
    assert overview.total_errors == sum(bool(d.get("error")) for d in llm + ml)
    newest = sorted(llm + ml, key=lambda d: (d["timestamp"], d["event_id"]), reverse=True)[:10]
    assert [r.event_id for r in overview.recent_events] == [d["event_id"] for d in newest]


# --- Fixtures ------------------------------------------------------------------------------


@pytest.fixture(params=["0", "7"], ids=["minute-buckets-kept", "old-minutes-from-raw"])
def backend(tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The collector's own rollup job is slowed right down: the test folds when it says.
    ROLLUP_RETENTION_DAYS=0 answers every minute from minute buckets; with 7, the minutes of
    this test's old (2024) events are read from raw events, as once retention deleted them."""
    running = Backend(
        tmp_path, ROLLUP_INTERVAL_S="3600", ROLLUP_RETENTION_DAYS=request.param
    ).start_collector()
    yield running
    running.stop()


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    async with open_storage(backend.db.url, "aegisai", 5000) as opened:
        yield opened


@pytest.fixture
def api(backend: Backend) -> Iterator[Api]:
    client = Api(backend.target)
    yield client
    client.close()


async def fold(backend: Backend, storage: Storage, **options: Any) -> int:
    """The job's function, called as the scheduler calls it on this collector: with
    ROLLUP_RETENTION_DAYS set, minutes older than that get no minute bucket."""
    days = float(backend.env.get("ROLLUP_RETENTION_DAYS", "7"))
    return await fold_partials(storage, minute_retention_days=days, **options)


async def partials_left(storage: Storage) -> int:
    return await storage.partials.count_documents({})


def roomy() -> Pace:
    """Rounds as large as `limit` makes them, whatever they take."""
    return Pace(most=100_000, target_s=math.inf, pause_share=0)


# --- Tests ---------------------------------------------------------------------------------


async def test_dashboards_equal_brute_force_before_during_and_after_folding(
    backend: Backend, api: Api, storage: Storage
) -> None:
    rng = random.Random(8)
    sent: dict[str, list[dict[str, Any]]] = {"llm": [], "ml": []}
    for kind in ("llm", "ml"):
        for _ in range(4):
            events = random_events(rng, kind, 150, days=20)
            sent[kind] += events
            assert api.send(kind, events).accepted == 150
    check_everything(api, backend.db.url)  # nothing folded: partials only

    # Three whole partials in one round (room for all their buckets); the rest not folded.
    assert await fold(backend, storage, limit=3, max_rounds=1, pace=roomy()) == 3
    for kind in ("llm", "ml"):
        # Late events (old timestamps, into buckets that exist), and retries of stored ones.
        late = random_events(rng, kind, 60, days=3)
        retried = rng.sample(sent[kind], 40)
        reply = api.send(kind, late + retried)
        assert (reply.accepted, reply.duplicates) == (60, 40)
        again = api.send(kind, retried[:5] + retried[:5])  # duplicates within one batch too
        assert (again.accepted, again.duplicates) == (0, 10)
    check_everything(api, backend.db.url)  # buckets + partials mixed

    await fold(backend, storage)
    assert await partials_left(storage) == 0
    check_everything(api, backend.db.url)  # buckets only
    assert await fold(backend, storage) == 0, "a second run finds nothing to fold"
    check_everything(api, backend.db.url)


async def test_a_killed_collector_and_an_interrupted_job_count_everything_once(
    backend: Backend, api: Api, storage: Storage
) -> None:
    rng = random.Random(11)
    for _ in range(30):
        assert api.send("llm", random_events(rng, "llm", 20, days=5)).accepted == 20
    # Killed between the write and the rollup: its partials wait in the database.
    assert backend.collector is not None
    backend.collector.proc.send_signal(signal.SIGKILL)
    backend.collector.proc.wait(timeout=30)
    assert await partials_left(storage) == 30
    backend.start_collector()

    # The job stopped after a few rounds, as a crash between transactions would stop it.
    assert await fold(backend, storage, limit=1, max_rounds=5) == 5
    assert await partials_left(storage) == 25
    check_everything(api, backend.db.url)

    # Cancelled wherever it is, inside a transaction or between two: all or nothing of it.
    folding = asyncio.create_task(fold(backend, storage, limit=2))
    await asyncio.sleep(0.05)
    folding.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await folding
    left = await partials_left(storage)
    check_everything(api, backend.db.url)

    # Two runners at once (as if a lease had been lost): each partial still lands once.
    results = await asyncio.gather(fold(backend, storage, limit=2), fold(backend, storage, limit=2))
    assert sum(results) == left
    assert await partials_left(storage) == 0
    check_everything(api, backend.db.url)

    if backend.env["ROLLUP_RETENTION_DAYS"] != "0":
        # Retention deletes the (old) minute buckets; the collector, which knows they may be
        # gone, answers those minutes from raw events, still exactly.
        await apply_retention(storage, retention_days=0, rollup_retention_days=7)
        assert await storage.buckets["minute"].count_documents({}) == 0
        check_everything(api, backend.db.url)


async def test_a_partial_larger_than_a_round_is_folded_in_parts_each_cell_once(
    backend: Backend, api: Api, storage: Storage
) -> None:
    """A backfill's partial has a cell per event, each in its own hour: more buckets than one
    short round may write. Each round folds some cells and keeps the rest in the partial, in
    one transaction, so every answer between two rounds is still exact."""
    rng = random.Random(21)
    assert api.send("llm", random_events(rng, "llm", 300, days=20)).accepted == 300
    # A partial as collectors before packing wrote it (`cells` a plain list): read and
    # folded all the same.
    old_style = random_events(rng, "ml", 120, days=20)
    docs = [
        {
            "_id": f"default:{e['event_id']}",
            "tenant": "default",
            "event_id": e["event_id"],
            "model_id": e["model"],
            "model_type": f"type-of-{e['model']}",
            "prediction_count": e["tokens"],
            "timestamp": e["timestamp"],
            **({"error": e["error"]} if e["error"] else {}),
            **({"latency_ms": e["latency"]} if e["latency"] is not None else {}),
        }
        for e in old_style
    ]

    def unpacked(new: list[dict[str, Any]]) -> dict[str, Any]:
        partial = partial_docs.partial_of("default", "ml", new)
        cells, recent = partial_docs.cells_of(partial), partial_docs.recent_of(partial)
        for packed in ("packed_cells", "packed_totals", "packed_recent"):
            del partial[packed]
        return {**partial, "cells": cells, "recent": recent}

    await storage.insert_new(storage.ml_events, docs, unpacked)
    check_everything(api, backend.db.url)

    small = Pace(most=100, pause_share=0)
    rounds = 0
    while await partials_left(storage):
        folded = await fold(backend, storage, max_rounds=1, pace=small)
        rounds += 1
        assert folded in (0, 1)
        odd_start = BASE + dt.timedelta(days=2, hours=5, minutes=7, seconds=13)
        for kind in ("llm", "ml"):  # between two rounds: all time, and a range with edges
            check_metrics(api, backend.db.url, kind)
            check_metrics(api, backend.db.url, kind, odd_start, BASE + dt.timedelta(days=11))
    # 300 + 120 cells over 20 days need hundreds of buckets: far more than one round of 100.
    assert rounds >= 4
    check_everything(api, backend.db.url)

    # Two runners at once on partials that take several rounds each: still once.
    for kind in ("llm", "ml"):
        assert api.send(kind, random_events(rng, kind, 200, days=20)).accepted == 200
    results = await asyncio.gather(
        fold(backend, storage, pace=small), fold(backend, storage, pace=small)
    )
    assert sum(results) == 2
    assert await partials_left(storage) == 0
    check_everything(api, backend.db.url)


def test_the_scheduled_job_folds_on_its_own(tmp_path: pathlib.Path) -> None:
    backend = Backend(tmp_path, ROLLUP_INTERVAL_S="0.2").start_collector()
    api = Api(backend.target)
    try:
        rng = random.Random(3)
        for _ in range(5):
            api.send("ml", random_events(rng, "ml", 30, days=2))
        with MongoClient(backend.db.url) as client:
            partials = client["aegisai"]["rollup_partials"]
            wait_until(lambda: partials.count_documents({}) == 0, 60, "the job folds partials")
            assert client["aegisai"]["rollups_day"].count_documents({}) > 0
        check_everything(api, backend.db.url)
    finally:
        api.close()
        backend.stop()


def test_series_needs_a_sensible_interval(backend: Backend, api: Api) -> None:
    for params, words in (
        ({"interval": "week", "start_date": "2024-05-01"}, "minute, hour, day"),
        ({"interval": "minute"}, "needs a start_date"),
        (
            {"interval": "minute", "start_date": "2024-05-01", "end_date": "2024-05-03"},
            "at most 1 day;",
        ),
        ({"interval": "hour", "start_date": "2024-01-01", "end_date": "2024-05-03"}, "31 days"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            api.metrics("llm", **params)
        error: Any = refused.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("interval:") and words in error.details()


async def test_rollups_still_answer_once_retention_deleted_the_raw_events(
    backend: Backend, api: Api, storage: Storage
) -> None:
    rng = random.Random(5)
    for kind in ("llm", "ml"):
        assert api.send(kind, random_events(rng, kind, 200, days=10)).accepted == 200
    await fold(backend, storage)
    whole_days = {"start_date": "2024-05-02", "end_date": "2024-05-08"}
    before = {kind: api.metrics(kind, **whole_days, interval="day") for kind in ("llm", "ml")}
    overview = api.overview()

    result = await apply_retention(storage, retention_days=30, rollup_retention_days=0)
    assert result["deleted"]["llm_events"] == result["deleted"]["ml_events"] == 200
    assert raw_events(backend.db.url, "llm") == raw_events(backend.db.url, "ml") == []
    for kind, answer in before.items():
        assert api.metrics(kind, **whole_days, interval="day") == answer
    after = api.overview()
    assert after.total_llm_requests == overview.total_llm_requests == 200
    assert after.total_ml_predictions == overview.total_ml_predictions
