"""The optional `error` of an event, end to end: REST, the SDK, validation, the dashboards'
error counts and rates, and the series form of the metrics."""

from __future__ import annotations

import uuid

import httpx

from aegis_sdk import AegisClient
from tests.conftest import ApiClient, ingest, llm_event, ml_event, read
from tests.procs import Stack, grpc_client_for

DAY = "2024-06-03"


async def test_errors_are_counted_per_model_and_in_the_series(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [
        llm_event("g", tokens_used=10, error="timeout", timestamp=f"{DAY}T10:00:00Z"),
        llm_event("g", tokens_used=10, error="", timestamp=f"{DAY}T10:30:00Z"),
        llm_event("g", tokens_used=10, timestamp=f"{DAY}T11:05:00Z"),
        llm_event("h", tokens_used=10, error="rate_limited", timestamp=f"{DAY}T11:10:00Z"),
    ]
    assert (await ingest(http, tenant_client, "llm", events))["accepted"] == 4
    ml = [ml_event("m", error="bad_input", timestamp=f"{DAY}T10:00:00Z"), ml_event("m")]
    assert (await ingest(http, tenant_client, "ml", ml))["accepted"] == 2

    llm = await read(
        http, tenant_client, "/dashboard/llm-metrics", start_date=DAY, end_date=DAY, interval="hour"
    )
    assert (llm["total_errors"], llm["error_rate"]) == (2, 0.5)
    by_model = {m["model_name"]: m for m in llm["models"]}
    # Rates are shown to 12 significant digits (collector.query.rounding).
    assert (by_model["g"]["errors"], by_model["g"]["error_rate"]) == (1, 0.333333333333)
    assert (by_model["h"]["errors"], by_model["h"]["error_rate"]) == (1, 1.0)
    # One point per hour that has events, all models together, and per model.
    assert [(p["time"], p["requests"], p["errors"]) for p in llm["series"]] == [
        (f"{DAY}T10:00:00Z", 2, 1),
        (f"{DAY}T11:00:00Z", 2, 1),
    ]
    assert [(p["time"], p["requests"]) for p in by_model["g"]["series"]] == [
        (f"{DAY}T10:00:00Z", 2),
        (f"{DAY}T11:00:00Z", 1),
    ]
    stored = await read(http, tenant_client, "/dashboard/overview")
    assert stored["total_errors"] == 3
    shown = {e["event_id"]: e["data"] for e in stored["recent_events"]}
    assert sorted(d.get("error", "") for d in shown.values()) == [
        "",
        "",
        "",
        "bad_input",
        "rate_limited",
        "timeout",
    ], "an empty error is not stored"


async def test_an_over_long_error_rejects_that_event_only(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [llm_event("g", error="x" * 513), llm_event("g", error="y" * 512)]
    reply = await ingest(http, tenant_client, "llm", events)
    assert (reply["accepted"], reply["rejected"]) == (1, 1)
    assert reply["errors"][0]["index"] == 0 and reply["errors"][0]["field"] == "error"


async def test_the_sdk_sends_errors_and_token_splits(http: httpx.AsyncClient, stack: Stack) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    client_id, secret = grpc_client_for(stack.grpc_target, tenant)
    with AegisClient(stack.grpc_target, client_id, secret) as client:
        client.log_llm(model_name="g", tokens_used=30, input_tokens=10, output_tokens=20)
        client.log_llm(model_name="g", tokens_used=5, error="context_length_exceeded")
        client.log_ml(model_type="t", model_id="m", error="nan_in_features")
        client.flush(timeout=30)
    reader = ApiClient(client_id, secret, tenant, await _token(http, client_id, secret))
    llm = await read(http, reader, "/dashboard/llm-metrics")
    (model,) = llm["models"]
    assert (model["errors"], model["input_tokens"], model["output_tokens"]) == (1, 10, 20)
    ml = await read(http, reader, "/dashboard/ml-metrics")
    assert ml["total_errors"] == 1 and ml["error_rate"] == 1.0


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> str:
    reply = await http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})
    return str(reply.json()["access_token"])


async def test_counts_past_2_to_the_40_are_rejected_not_overflowed(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    # Rollups add counts up as 64-bit integers; one event must not be able to overflow them.
    limit = 2**40
    ml = [ml_event("m", prediction_count=limit + 1), ml_event("m", prediction_count=limit)]
    reply = await ingest(http, tenant_client, "ml", ml)
    assert (reply["accepted"], reply["rejected"]) == (1, 1)
    assert reply["errors"][0]["field"] == "prediction_count"
    llm = [llm_event("g", tokens_used=limit + 1), llm_event("g", output_tokens=limit + 1)]
    reply = await ingest(http, tenant_client, "llm", llm)
    assert reply["rejected"] == 2
    assert [e["field"] for e in reply["errors"]] == ["tokens_used", "output_tokens"]
    totals = await read(http, tenant_client, "/dashboard/ml-metrics")
    assert totals["total_predictions"] == limit
