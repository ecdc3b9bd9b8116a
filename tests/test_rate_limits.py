"""Per-client token buckets: RATE_LIMIT_READ_PER_S and RATE_LIMIT_INGEST_PER_S.

Over a limit: REST 429 with Retry-After, gRPC RESOURCE_EXHAUSTED with RetryInfo; a call made
after the advertised delay succeeds. (AUTH_ATTEMPTS_PER_MIN: tests/test_token_endpoint.py.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest
from pymongo import MongoClient

from aegis.v1 import dashboard_pb2, dashboard_pb2_grpc
from aegis_sdk import AegisClient
from tests.conftest import (
    ApiClient,
    assert_error,
    create_client,
    issue_token,
    ml_event,
    retry_delay_s,
)
from tests.metrics_text import scrape, value
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Stack,
    count_events,
    stack_mongodb_url,
    start_stack,
    wait_until,
)

READS_PER_S = 5
EVENTS_PER_S = 50  # small batches write fast, so the bucket has no time to refill between
BURST_CALLS = 4 * READS_PER_S  # sent at once: far more than can pass while they are served


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("limited"),
        RATE_LIMIT_READ_PER_S=str(READS_PER_S),
        RATE_LIMIT_INGEST_PER_S=str(EVENTS_PER_S),
    )
    yield running
    assert running.child.stop() == 0


@pytest.fixture
async def lhttp(limited: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited.http, timeout=30) as client:
        yield client


async def _client(http: httpx.AsyncClient) -> ApiClient:
    token = await issue_token(http, ADMIN_ID, ADMIN_SECRET)
    admin = ApiClient(ADMIN_ID, ADMIN_SECRET, "default", token)
    return await create_client(http, admin, f"rl-{uuid.uuid4().hex[:10]}", ["ingest", "read"])


async def _until_refused(http: httpx.AsyncClient, client: ApiClient) -> tuple[int, httpx.Response]:
    """BURST_CALLS reads at once; (how many were let through, one refusal)."""
    replies = await asyncio.gather(
        *(http.get("/dashboard/overview", headers=client.headers) for _ in range(BURST_CALLS))
    )
    passed = [r for r in replies if r.status_code == 200]
    assert len(passed) < BURST_CALLS, "never rate limited"
    # Calls answered at once may interleave with refills; for a delay to rely on, one call
    # alone, on the emptied bucket, until refused.
    for _ in range(BURST_CALLS):
        reply = await http.get("/dashboard/overview", headers=client.headers)
        if reply.status_code != 200:
            return len(passed), reply
    raise AssertionError("not refused after the burst")


async def test_reads_past_the_limit_get_429_then_succeed_after_retry_after(
    limited: Stack, lhttp: httpx.AsyncClient
) -> None:
    client = await _client(lhttp)
    bystander = await _client(lhttp)
    _, before = await scrape(limited.metrics_url)
    passed, refused = await _until_refused(lhttp, client)
    _, after = await scrape(limited.metrics_url)
    # Every refusal counted: those of the burst, and the one call refused alone.
    refusals = BURST_CALLS - passed + 1
    limited_reads = ("aegis_rate_limited_total", {"limit": "read"})
    assert (
        value(after, limited_reads[0], **limited_reads[1])
        - value(before, limited_reads[0], **limited_reads[1])
        == refusals
    )
    assert passed >= READS_PER_S  # the burst
    message = assert_error(refused, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "rate limit" in message
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 1 + 1 / READS_PER_S
    # Per client: another one is not affected.
    other = await lhttp.get("/dashboard/overview", headers=bystander.headers)
    assert other.status_code == 200
    await asyncio.sleep(retry_after)
    again = await lhttp.get("/dashboard/overview", headers=client.headers)
    assert again.status_code == 200, again.text
    # The refusal is in the audit log (once, not once per refused call).
    with MongoClient(stack_mongodb_url(limited), serverSelectionTimeoutMS=5000) as db:
        logs = db["aegisai"]["audit_logs"]
        query = {"client_id": client.client_id, "action": "read_rate_limited"}
        wait_until(lambda: logs.count_documents(query) == 1, 10, "the refusal audited")
        assert logs.find_one(query)["tenant"] == client.tenant


async def test_reads_past_the_limit_over_grpc_carry_retry_info(
    limited: Stack, lhttp: httpx.AsyncClient
) -> None:
    client = await _client(lhttp)
    async with grpc.aio.insecure_channel(limited.grpc_target) as channel:
        stub = dashboard_pb2_grpc.DashboardServiceStub(channel)
        outcomes = await asyncio.gather(
            *(
                stub.Overview(dashboard_pb2.OverviewRequest(), metadata=client.metadata)
                for _ in range(BURST_CALLS)
            ),
            return_exceptions=True,
        )
        assert any(isinstance(o, grpc.aio.AioRpcError) for o in outcomes), "never limited"
        error = None
        for _ in range(BURST_CALLS):  # alone, on the emptied bucket: see _until_refused
            try:
                await stub.Overview(dashboard_pb2.OverviewRequest(), metadata=client.metadata)
            except grpc.aio.AioRpcError as exc:
                error = exc
                break
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        delay = retry_delay_s(error)
        assert delay is not None and 0 < delay <= 1 / READS_PER_S + 0.01
        await asyncio.sleep(delay)
        await stub.Overview(dashboard_pb2.OverviewRequest(), metadata=client.metadata)


async def test_ingest_limit_counts_events_and_refuses_whole_batches(
    limited: Stack, lhttp: httpx.AsyncClient
) -> None:
    client = await _client(lhttp)
    url = stack_mongodb_url(limited)

    def batch(n: int) -> dict[str, object]:
        return {"events": [ml_event("m", event_id=uuid.uuid4().hex) for _ in range(n)]}

    full = await lhttp.post("/ingest/ml", json=batch(EVENTS_PER_S), headers=client.headers)
    assert full.status_code == 200 and full.json()["accepted"] == EVENTS_PER_S
    refused = await lhttp.post("/ingest/ml", json=batch(EVENTS_PER_S), headers=client.headers)
    assert_error(refused, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert count_events(url, "ml", client.tenant) == EVENTS_PER_S  # nothing of the refused one
    await asyncio.sleep(int(refused.headers["retry-after"]))
    # A batch larger than the burst goes through once the bucket is full, leaving it in debt.
    big = await lhttp.post("/ingest/ml", json=batch(2 * EVENTS_PER_S), headers=client.headers)
    assert big.status_code == 200, big.text
    after = await lhttp.post("/ingest/ml", json=batch(1), headers=client.headers)
    assert_error(after, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert int(after.headers["retry-after"]) >= 1
    assert count_events(url, "ml", client.tenant) == 3 * EVENTS_PER_S


def test_sdk_delivers_everything_under_the_ingest_limit(limited: Stack) -> None:
    """The SDK honours RESOURCE_EXHAUSTED and its RetryInfo: slower, nothing lost."""
    with httpx.Client(base_url=limited.http, timeout=30) as http:
        admin = http.post("/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET})
        tenant = f"rl-sdk-{uuid.uuid4().hex[:8]}"
        created = http.post(
            "/admin/clients",
            json={"name": "sdk", "tenant": tenant},
            headers={"Authorization": f"Bearer {admin.json()['access_token']}"},
        ).json()
    events = 3 * EVENTS_PER_S
    with AegisClient(
        limited.grpc_target,
        created["clientId"],
        created["clientSecret"],
        batch_size=25,
        flush_interval=0.05,
        max_backoff=2.0,
    ) as client:
        for i in range(events):
            client.log_ml(model_type="t", model_id="m", prediction_count=1, metadata={"i": i})
        client.flush(timeout=60)
        stats = client.stats
    assert count_events(stack_mongodb_url(limited), "ml", tenant) == events
    assert stats.server_delays >= 1  # it was limited, and waited as told
