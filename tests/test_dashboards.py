"""Dashboard values and date filtering on both metrics endpoints."""

from __future__ import annotations

import random
import uuid

import grpc
import httpx
import pytest

from aegis.v1 import dashboard_pb2
from collector.rollups import histogram
from tests.conftest import (
    ApiClient,
    Stubs,
    assert_error,
    create_client,
    ingest,
    llm_event,
    ml_event,
    read,
    rpc_error,
)

METRICS = ("/dashboard/ml-metrics", "/dashboard/llm-metrics")


def at(hour: int, day: str = "2024-05-01") -> str:
    return f"{day}T{hour:02d}:00:00Z"


@pytest.fixture(scope="module")
async def busy_tenant(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """Three ML and three LLM events, interleaved in time, in a tenant of their own."""
    client = await create_client(http, admin, f"t-values-{uuid.uuid4().hex[:12]}")
    await ingest(
        http,
        client,
        "ml",
        [
            ml_event("m-a", event_id="ml-1", prediction_count=5, timestamp=at(10)),
            ml_event("m-a", event_id="ml-2", prediction_count=7, timestamp=at(12)),
            {"model_type": "LinearSVC", "model_id": "m-b", "event_id": "ml-3", "timestamp": at(14)},
        ],
    )
    await ingest(
        http,
        client,
        "llm",
        [
            llm_event(
                "g-a",
                event_id="llm-1",
                cost=0.5,
                tokens_used=100,
                prompt_length=20,
                response_length=50,
                timestamp=at(11),
            ),
            llm_event(
                "g-a",
                event_id="llm-2",
                cost=0.25,
                tokens_used=50,
                prompt_length=10,
                response_length=30,
                timestamp=at(13),
            ),
            llm_event(
                "g-b",
                event_id="llm-3",
                cost=1.0,
                tokens_used=10,
                prompt_length=4,
                response_length=6,
                latency_ms=120.0,
                timestamp=at(15),
            ),
        ],
    )
    return client


async def test_overview_totals(http: httpx.AsyncClient, busy_tenant: ApiClient) -> None:
    overview = await read(http, busy_tenant, "/dashboard/overview")
    # prediction_count absent means 1.
    assert overview["total_ml_predictions"] == 5 + 7 + 1
    assert overview["total_llm_requests"] == 3
    assert overview["active_models"] == 2 + 2
    assert overview["total_cost"] == pytest.approx(1.75)


async def test_overview_recent_events_newest_first(
    http: httpx.AsyncClient, busy_tenant: ApiClient
) -> None:
    recent = (await read(http, busy_tenant, "/dashboard/overview"))["recent_events"]
    assert [(e["kind"], e["event_id"], e["model"], e["timestamp"]) for e in recent] == [
        ("llm", "llm-3", "g-b", at(15)),
        ("ml", "ml-3", "m-b", at(14)),
        ("llm", "llm-2", "g-a", at(13)),
        ("ml", "ml-2", "m-a", at(12)),
        ("llm", "llm-1", "g-a", at(11)),
        ("ml", "ml-1", "m-a", at(10)),
    ]
    assert recent[0]["data"]["cost"] == pytest.approx(1.0)
    assert recent[1]["data"]["model_type"] == "LinearSVC"


async def test_ml_metrics_per_model(http: httpx.AsyncClient, busy_tenant: ApiClient) -> None:
    metrics = await read(http, busy_tenant, "/dashboard/ml-metrics")
    assert (metrics["total_events"], metrics["total_predictions"]) == (3, 13)
    assert metrics["models"] == [
        {
            "model_id": "m-a",
            "model_type": "RandomForestClassifier",
            "events": 2,
            "predictions": 12,
            "first_seen": at(10),
            "last_seen": at(12),
            "errors": 0,
            "error_rate": 0.0,
            "latency_p50_ms": None,
            "latency_p95_ms": None,
            "latency_p99_ms": None,
            "series": [],
        },
        {
            "model_id": "m-b",
            "model_type": "LinearSVC",
            "events": 1,
            "predictions": 1,
            "first_seen": at(14),
            "last_seen": at(14),
            "errors": 0,
            "error_rate": 0.0,
            "latency_p50_ms": None,
            "latency_p95_ms": None,
            "latency_p99_ms": None,
            "series": [],
        },
    ]


async def test_llm_metrics_per_model(http: httpx.AsyncClient, busy_tenant: ApiClient) -> None:
    metrics = await read(http, busy_tenant, "/dashboard/llm-metrics")
    assert (metrics["total_requests"], metrics["total_tokens"]) == (3, 160)
    assert metrics["total_cost"] == pytest.approx(1.75)
    g_a, g_b = metrics["models"]
    assert (g_a["model_name"], g_a["requests"], g_a["tokens"]) == ("g-a", 2, 150)
    assert g_a["cost"] == pytest.approx(0.75)
    assert (g_a["avg_prompt_length"], g_a["avg_response_length"]) == (15.0, 40.0)
    assert g_a["latency_p50_ms"] is None  # no event of g-a carries latency_ms
    assert (g_b["model_name"], g_b["requests"], g_b["tokens"]) == ("g-b", 1, 10)
    assert [g_b[f"latency_p{p}_ms"] for p in (50, 95, 99)] == [120.0, 120.0, 120.0]


async def test_llm_latency_percentiles_are_each_their_own(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    """p50, p95 and p99 of 1..100 ms, logged in a shuffled order: a swapped or repeated
    percentile, or one computed from the wrong field, cannot pass."""
    client = await create_client(http, admin, f"t-latency-{uuid.uuid4().hex[:12]}")
    latencies = [float(ms) for ms in range(1, 101)]
    random.Random(7).shuffle(latencies)
    events = [llm_event("timed", latency_ms=ms, tokens_used=int(ms)) for ms in latencies]
    events.append(llm_event("untimed", tokens_used=1000))  # no latency: not part of it
    await ingest(http, client, "llm", events)
    timed, untimed = (await read(http, client, "/dashboard/llm-metrics"))["models"]
    assert (timed["model_name"], timed["requests"]) == ("timed", 100)
    # Rollup histograms answer within one bucket (R = 2**(1/16)) of the nearest-rank value.
    for p in (50, 95, 99):
        low, high = histogram.bounds(histogram.bucket_of(p))
        assert low <= timed[f"latency_p{p}_ms"] <= high, p
    assert untimed["latency_p50_ms"] is untimed["latency_p99_ms"] is None


# --- Date filtering ----------------------------------------------------------------------------

# Event n carries 2**n predictions (ML) and 2**n tokens (LLM): a total names the events counted.
DAYS = [
    "2024-03-01T10:00:00Z",
    "2024-03-02T00:00:00Z",
    "2024-03-02T23:59:59Z",
    "2024-03-03T12:00:00Z",
    "2024-03-04T00:00:00Z",
]


def events_counted(*indexes: int) -> int:
    return sum(2**i for i in indexes)


@pytest.fixture(scope="module")
async def dated_tenant(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    client = await create_client(http, admin, f"t-dates-{uuid.uuid4().hex[:12]}")
    ml = [ml_event("m", prediction_count=2**i, timestamp=ts) for i, ts in enumerate(DAYS)]
    llm = [llm_event("g", tokens_used=2**i, timestamp=ts) for i, ts in enumerate(DAYS)]
    await ingest(http, client, "ml", ml)
    await ingest(http, client, "llm", llm)
    return client


RANGES = {
    "no-range": ({}, events_counted(0, 1, 2, 3, 4)),
    "one-bare-day": (
        {"start_date": "2024-03-02", "end_date": "2024-03-02"},
        events_counted(1, 2),
    ),
    "bare-end-includes-its-day": (
        {"start_date": "2024-03-02", "end_date": "2024-03-03"},
        events_counted(1, 2, 3),
    ),
    "start-only": ({"start_date": "2024-03-02"}, events_counted(1, 2, 3, 4)),
    "end-only": ({"end_date": "2024-03-01"}, events_counted(0)),
    "rfc3339-utc": (
        {"start_date": "2024-03-02T00:00:00Z", "end_date": "2024-03-02T12:00:00Z"},
        events_counted(1),
    ),
    "rfc3339-offset": (
        {"start_date": "2024-03-02T01:00:01+01:00", "end_date": "2024-03-03T14:00:00+01:00"},
        events_counted(2, 3),
    ),
    "rfc3339-fraction": (
        {"start_date": "2024-03-01T09:59:59.5Z", "end_date": "2024-03-02T00:00:00.5Z"},
        events_counted(0, 1),
    ),
    "mixed-forms": (
        {"start_date": "2024-03-03", "end_date": "2024-03-04T00:00:00.5Z"},
        events_counted(3, 4),
    ),
    "nothing-in-range": ({"start_date": "2024-04-01", "end_date": "2024-04-30"}, 0),
}


@pytest.mark.parametrize("case", list(RANGES))
async def test_date_range_selects_events(
    http: httpx.AsyncClient, dated_tenant: ApiClient, case: str
) -> None:
    params, expected = RANGES[case]
    ml = await read(http, dated_tenant, "/dashboard/ml-metrics", **params)
    assert ml["total_predictions"] == expected
    assert ml["total_events"] == bin(expected).count("1")
    llm = await read(http, dated_tenant, "/dashboard/llm-metrics", **params)
    assert llm["total_tokens"] == expected
    assert llm["total_requests"] == bin(expected).count("1")


async def test_date_range_over_grpc(stubs: Stubs, dated_tenant: ApiClient) -> None:
    request = dashboard_pb2.MetricsRequest(start_date="2024-03-02", end_date="2024-03-02")
    ml = await stubs.dashboard.MLMetrics(request, metadata=dated_tenant.metadata)
    llm = await stubs.dashboard.LLMMetrics(request, metadata=dated_tenant.metadata)
    assert ml.total_predictions == llm.total_tokens == events_counted(1, 2)


UNPARSABLE = [
    {"start_date": "yesterday"},
    {"end_date": "2024-13-01"},
    {"start_date": "2024-02-30"},
    {"end_date": "01/03/2024"},
    {"start_date": "2024-03-02T25:00:00Z"},
    {"end_date": "2024-03-02T10:00:00+25:00"},
]


@pytest.mark.parametrize("path", METRICS)
@pytest.mark.parametrize("params", UNPARSABLE, ids=lambda p: "=".join(*p.items()))
async def test_unparsable_date_is_400(
    http: httpx.AsyncClient, dated_tenant: ApiClient, path: str, params: dict[str, str]
) -> None:
    reply = await http.get(path, params=params, headers=dated_tenant.headers)
    message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert next(iter(params)) in message


START_AFTER_END = [
    {"start_date": "2024-03-03", "end_date": "2024-03-02"},
    {"start_date": "2024-03-02T12:00:00Z", "end_date": "2024-03-02T11:59:59Z"},
    {"start_date": "2024-03-02T12:00:00+01:00", "end_date": "2024-03-02T10:00:00Z"},
]


@pytest.mark.parametrize("path", METRICS)
@pytest.mark.parametrize("params", START_AFTER_END, ids=lambda p: p["start_date"])
async def test_start_after_end_is_400(
    http: httpx.AsyncClient, dated_tenant: ApiClient, path: str, params: dict[str, str]
) -> None:
    reply = await http.get(path, params=params, headers=dated_tenant.headers)
    assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)


async def test_bad_dates_over_grpc_are_invalid_argument(
    stubs: Stubs, dated_tenant: ApiClient
) -> None:
    for request in (
        dashboard_pb2.MetricsRequest(start_date="yesterday"),
        dashboard_pb2.MetricsRequest(start_date="2024-03-03", end_date="2024-03-02"),
    ):
        for rpc in (stubs.dashboard.MLMetrics, stubs.dashboard.LLMMetrics):
            error = await rpc_error(rpc(request, metadata=dated_tenant.metadata))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
