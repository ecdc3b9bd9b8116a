"""Prometheus metrics of the collector (METRICS_PORT) and the gateway (GET /metrics)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import ApiClient, ingest, llm_event, ml_event
from tests.metrics_text import scrape, value
from tests.procs import Stack, count_events


async def test_event_counters_match_what_was_stored(
    stack: Stack, http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    _, before = await scrape(stack.metrics_url)
    ids = [f"m-{i}" for i in range(3)]
    # 3 new ML events and 1 invalid one; then the same 3 again (2 in one batch, 1 new): 2
    # duplicates; then 2 LLM events.
    first = [ml_event(event_id=i) for i in ids] + [ml_event(model_id="")]
    assert (await ingest(http, tenant_client, "ml", first))["accepted"] == 3
    again = [ml_event(event_id=ids[0]), ml_event(event_id=ids[1]), ml_event(event_id="m-new")]
    assert (await ingest(http, tenant_client, "ml", again))["duplicates"] == 2
    await ingest(http, tenant_client, "llm", [llm_event(), llm_event()])

    text, after = await scrape(stack.metrics_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("aegis_events_total", kind="ml", outcome="accepted") == 4
    assert delta("aegis_events_total", kind="ml", outcome="duplicate") == 2
    assert delta("aegis_events_total", kind="ml", outcome="rejected") == 1
    assert delta("aegis_events_total", kind="llm", outcome="accepted") == 2
    assert delta("aegis_events_total", kind="llm", outcome="duplicate") == 0
    # What the counters say was stored is what the database holds.
    url = (stack.data_dir / "embedded-db.url").read_text().strip()
    assert count_events(url, "ml", tenant_client.tenant) == 4
    assert count_events(url, "llm", tenant_client.tenant) == 2
    assert delta("aegis_ingest_batch_seconds_count") == 3
    assert value(after, "aegis_inflight_batches") == 0
    assert value(after, "aegis_database_up") == 1
    for outcome in ("ok", "failed"):
        assert ("aegis_job_runs_total", frozenset({("job", "rollups"), ("outcome", outcome)})) in (
            after
        )
    assert ("aegis_webhook_deliveries_total", frozenset({("outcome", "delivered")})) in after
    # No label takes a caller's value: neither the tenant nor the model appears.
    assert tenant_client.tenant not in text
    assert "model-a" not in text and "llm-a" not in text


async def test_gateway_counts_requests_by_route_template(
    stack: Stack, http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    rule_id = f"r{uuid.uuid4().hex}"
    missing_path = f"/no-such-{uuid.uuid4().hex}"
    _, before = await scrape(f"{stack.http}/metrics")
    for _ in range(2):
        reply = await http.get(f"/alerts/rules/{rule_id}", headers=tenant_client.headers)
        assert reply.status_code in (400, 404), reply.text
    status = str(reply.status_code)
    assert (await http.get("/dashboard/overview", headers=tenant_client.headers)).status_code == 200
    assert (await http.get(missing_path)).status_code == 404

    text, after = await scrape(f"{stack.http}/metrics")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "aegis_gateway_requests_total"
    assert delta(requests, method="GET", route="/alerts/rules/{id}", status=status) == 2
    assert delta(requests, method="GET", route="/dashboard/overview", status="200") == 1
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    seconds = "aegis_gateway_request_seconds_count"
    assert delta(seconds, method="GET", route="/dashboard/overview", status="200") == 1
    # Paths, ids and tenants never become label values.
    assert rule_id not in text and missing_path not in text
    assert tenant_client.tenant not in text


async def test_unknown_http_methods_add_no_series(stack: Stack, http: httpx.AsyncClient) -> None:
    """A method is any token a client likes; the label takes a fixed set of values, so 50
    made-up methods on an open endpoint count under one series (method="other")."""
    url = f"{stack.http}/metrics"
    await http.request("X9999", "/health")  # the "other" series exists from here on
    _, before = await scrape(url)
    for i in range(50):
        reply = await http.request(f"X{i:04d}", "/health")
        assert reply.status_code == 405, reply.text
    text, after = await scrape(url)
    gateway = ("aegis_gateway_requests", "aegis_gateway_request_seconds")
    new = {key for key in after if key not in before and key[0].startswith(gateway)}
    assert new == set()
    assert "X0000" not in text and "X0049" not in text
    requests = "aegis_gateway_requests_total"
    labels = {"method": "other", "route": "/health", "status": "405"}
    assert value(after, requests, **labels) - value(before, requests, **labels) == 50
    methods = {dict(labels)["method"] for (name, labels) in after if name == requests}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS", "other"}
