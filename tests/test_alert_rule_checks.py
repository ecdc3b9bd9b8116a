"""Alert rules that can never fire are refused (400 naming `threshold`); a rule on a model with
no events yet is accepted with a warning. On the shared stack, each test in its own tenant;
no rule here ever fires (their windows hold nothing that crosses the threshold)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from pymongo import MongoClient

from aegis.v1 import alerts_pb2, alerts_pb2_grpc
from tests.conftest import ApiClient, assert_error, create_client, ingest, llm_event, ml_event
from tests.procs import Stack, stack_mongodb_url, wait_until

# A public address literal: accepted by the SSRF guard without a DNS look-up.
WEBHOOK = "http://93.184.216.34/aegis-test"


@pytest.fixture
async def manager(http: httpx.AsyncClient, admin: ApiClient) -> AsyncIterator[ApiClient]:
    client = await create_client(
        http, admin, f"t-{uuid.uuid4().hex[:12]}", ["ingest", "read", "alerts"]
    )
    yield client
    listed = await http.get("/alerts/rules", headers=client.headers)
    for rule in listed.json()["rules"]:
        await http.delete(f"/alerts/rules/{rule['id']}", headers=client.headers)


def rule(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "a rule",
        "metric": "cost",
        "comparison": "gt",
        "threshold": 1000.0,
        "window_minutes": 5,
        "webhook_url": WEBHOOK,
        "webhook_secret": "a-webhook-secret-of-some-length",
        **overrides,
    }


ERROR_RATE = "error_rate can be (a fraction of ML and LLM events, from 0 to 1)"
NEVER_FIRE = [
    ("error_rate", "gt", 5, f"threshold: 5 is outside what {ERROR_RATE}"),
    ("error_rate", "lt", 5, f"threshold: 5 is outside what {ERROR_RATE}"),
    ("error_rate", "gt", -0.1, f"threshold: -0.1 is outside what {ERROR_RATE}"),
    ("error_rate", "gt", 1, "threshold: error_rate is never above 1, so 'gt 1' can never fire"),
    ("error_rate", "lt", 0, "threshold: error_rate is never below 0, so 'lt 0' can never fire"),
    ("cost", "gt", -1, "threshold: -1 is outside what cost can be (a sum of LLM costs, 0 or more)"),
    ("cost", "lt", 0, "threshold: cost is never below 0, so 'lt 0' can never fire"),
    ("tokens", "gt", -0.5, "threshold: -0.5 is outside what tokens can be"),
    ("requests", "lt", 0, "threshold: requests is never below 0, so 'lt 0' can never fire"),
    ("latency_p95", "lt", -5, "threshold: -5 is outside what latency_p95 can be"),
    ("latency_p95", "gt", -5, "threshold: -5 is outside what latency_p95 can be"),
    ("predictions", "lt", 0, "threshold: predictions is never below 0, so 'lt 0' can never"),
    ("no_data", "lt", 0, "threshold: no_data is never below 0, so 'lt 0' can never fire"),
    ("no_data", "gt", -1, "threshold: -1 is outside what no_data can be"),
]
# At the edges of what may fire: accepted. (None fires here: the tenant has no events, so
# counts are 0 and rates and latencies unknown.)
CAN_FIRE = [
    ("error_rate", "gt", 0),
    ("error_rate", "gt", 0.999),
    ("error_rate", "lt", 1),
    ("error_rate", "lt", 0.001),
    ("latency_p95", "lt", 0.5),
    ("latency_p95", "gt", 0),
    ("cost", "gt", 0),
    ("no_data", "gt", 0),
    ("requests", "gt", 1e9),
]


@pytest.mark.parametrize(("metric", "comparison", "threshold", "message"), NEVER_FIRE)
async def test_a_rule_that_can_never_fire_is_refused_naming_threshold(
    http: httpx.AsyncClient,
    manager: ApiClient,
    metric: str,
    comparison: str,
    threshold: float,
    message: str,
) -> None:
    body = rule(metric=metric, comparison=comparison, threshold=threshold)
    reply = await http.post("/alerts/rules", json=body, headers=manager.headers)
    assert assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT).startswith(message)


@pytest.mark.parametrize(("metric", "comparison", "threshold"), CAN_FIRE)
async def test_a_rule_at_the_edge_of_what_can_fire_is_accepted(
    http: httpx.AsyncClient, manager: ApiClient, metric: str, comparison: str, threshold: float
) -> None:
    body = rule(metric=metric, comparison=comparison, threshold=threshold)
    reply = await http.post("/alerts/rules", json=body, headers=manager.headers)
    assert reply.status_code == 201, reply.text


async def test_an_update_is_held_to_the_same_rule_and_grpc_says_invalid_argument(
    http: httpx.AsyncClient, channel: grpc.aio.Channel, manager: ApiClient
) -> None:
    created = await http.post("/alerts/rules", json=rule(), headers=manager.headers)
    assert created.status_code == 201, created.text
    path = f"/alerts/rules/{created.json()['id']}"
    reply = await http.put(
        path, json=rule(metric="error_rate", threshold=5), headers=manager.headers
    )
    assert assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT).startswith("threshold: 5 ")
    assert (await http.get(path, headers=manager.headers)).json()["metric"] == "cost"

    stub = alerts_pb2_grpc.AlertServiceStub(channel)
    request = alerts_pb2.CreateRuleRequest(**rule(metric="error_rate", threshold=5))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateRule(request, metadata=manager.metadata)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("threshold: 5 is outside")


async def test_a_model_without_events_is_accepted_with_a_warning(
    http: httpx.AsyncClient, stack: Stack, manager: ApiClient
) -> None:
    async def create(**overrides: Any) -> dict[str, Any]:
        reply = await http.post("/alerts/rules", json=rule(**overrides), headers=manager.headers)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    typo = await create(model="gemini-2.0-flsh")
    assert typo["warnings"] == ["model 'gemini-2.0-flsh' has no events yet"]
    stored = await http.get(f"/alerts/rules/{typo['id']}", headers=manager.headers)
    assert stored.json() == typo, "every answer says it"
    assert (await create())["warnings"] == [], "no model: all models, nothing to warn about"

    await ingest(http, manager, "llm", [llm_event("gemini-2.0-flash", cost=0.001)])
    await ingest(http, manager, "ml", [ml_event("fraud")])
    with MongoClient(stack_mongodb_url(stack)) as client:
        partials = client["aegisai"]["rollup_partials"]
        # Folded or not yet (the job runs every 10 s), the model is known: tests/
        # test_alert_windows.py checks the partials alone; here, once folded, the buckets.
        for _ in ("now", "folded"):
            assert (await create(model="gemini-2.0-flash"))["warnings"] == []
            error_rate = await create(metric="error_rate", model="fraud", threshold=0.5)
            assert error_rate["warnings"] == []
            assert (await create(model="fraud"))["warnings"] == [
                "model 'fraud' has no LLM events yet (cost counts LLM events)"
            ]
            wait_until(
                lambda: partials.count_documents({"tenant": manager.tenant}) == 0,
                60,
                "the rollup job folds the tenant's events",
            )
    listed = (await http.get("/alerts/rules", headers=manager.headers)).json()["rules"]
    warned = {r["model"]: r["warnings"] for r in listed}
    assert warned["gemini-2.0-flsh"] == ["model 'gemini-2.0-flsh' has no events yet"]
    assert warned["gemini-2.0-flash"] == [] and warned[None] == []

    replaced = await http.put(
        f"/alerts/rules/{typo['id']}",
        json=rule(model="gpt-4o-mnii", webhook_secret=""),
        headers=manager.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["warnings"] == ["model 'gpt-4o-mnii' has no events yet"]


async def test_the_openapi_document_says_what_error_rate_counts_and_thresholds_take(
    http: httpx.AsyncClient,
) -> None:
    spec = (await http.get("/openapi.json")).json()
    for method, path in (("post", "/alerts/rules"), ("put", "/alerts/rules/{id}")):
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        fields = body["schema"]["properties"]
        assert "error_rate: ML and LLM events with a non-empty error" in str(fields["metric"])
        assert "'minimum': 0" in str(fields["threshold"]) and "error_rate at most 1" in str(
            fields["threshold"]
        )
    created = spec["paths"]["/alerts/rules"]["post"]["responses"]["201"]
    assert "warnings" in str(created)
