"""Money and rates are shown to 12 significant digits wherever they leave the collector:
dashboards, exports, the live tail (and alert answers and webhook bodies: see
tests/test_alert_windows.py). Costs that add up to float noise (0.1 + 0.2 is
0.30000000000000004) are shown as a person would write them. On the shared stack."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import grpc
import httpx

from aegis.v1 import tail_pb2, tail_pb2_grpc
from collector.query.rounding import significant
from tests.conftest import ApiClient, ingest, llm_event, read

NOISY = 0.00035999999999999997  # as 0.12 * 0.003 computes; the example
TIMESTAMP = "2024-03-01T12:00:00Z"


def test_significant_drops_float_noise_and_keeps_real_digits() -> None:
    assert significant(29.130419300000003) == 29.1304193
    assert significant(NOISY) == 0.00036
    assert significant(0.1 + 0.2) == 0.3
    assert significant(1 / 3) == 0.333333333333
    assert significant(123.456789012) == 123.456789012, "12 real digits stay"
    assert significant(None) is None and significant(0.0) == 0.0


async def test_dashboards_show_sums_and_rates_without_float_noise(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [
        llm_event("gpt", cost=0.1, prompt_length=10, timestamp=TIMESTAMP),
        llm_event("gpt", cost=0.2, prompt_length=10, timestamp=TIMESTAMP, error="timeout"),
        llm_event("gpt", cost=NOISY, prompt_length=11, timestamp=TIMESTAMP),
    ]
    await ingest(http, tenant_client, "llm", events)
    assert 0.1 + 0.2 + NOISY == 0.30036000000000007, "summed in this order, say"

    reply = await http.get(
        "/dashboard/llm-metrics",
        params={"start_date": "2024-03-01", "end_date": "2024-03-01", "interval": "day"},
        headers=tenant_client.headers,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    (model,) = body["models"]
    assert body["total_cost"] == model["cost"] == body["series"][0]["cost"] == 0.30036
    assert body["error_rate"] == model["error_rate"] == 0.333333333333
    assert model["avg_prompt_length"] == 10.3333333333
    assert "0.3003600000000" not in reply.text and "3333333333333" not in reply.text

    overview = await read(http, tenant_client, "/dashboard/overview")
    assert overview["total_cost"] == 0.30036
    costs = sorted(e["data"]["cost"] for e in overview["recent_events"])
    assert costs == [0.00036, 0.1, 0.2]


async def test_exports_and_the_live_tail_show_money_without_float_noise(
    http: httpx.AsyncClient, channel: grpc.aio.Channel, tenant_client: ApiClient
) -> None:
    call = tail_pb2_grpc.TailServiceStub(channel).TailEvents(
        tail_pb2.TailEventsRequest(kind="llm"), metadata=tenant_client.metadata
    )
    first = await asyncio.wait_for(call.read(), 30)
    assert first.started
    await ingest(http, tenant_client, "llm", [llm_event("gpt", cost=NOISY, event_id="noisy")])
    tailed = await asyncio.wait_for(call.read(), 30)
    call.cancel()
    assert tailed.events[0].event["cost"] == 0.00036

    params = {"format": "ndjson"}
    ndjson = await http.get("/export/llm", params=params, headers=tenant_client.headers)
    assert ndjson.status_code == 200, ndjson.text
    assert json.loads(ndjson.text.splitlines()[0])["cost"] == 0.00036
    assert "0.00035999999999999997" not in ndjson.text

    params = {"format": "csv"}
    exported = await http.get("/export/llm", params=params, headers=tenant_client.headers)
    assert exported.status_code == 200, exported.text
    (row,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["cost"] == "0.00036"
