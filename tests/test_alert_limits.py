"""Alerts under hostile or heavy use: a drip-feeding webhook receiver, the delivery deadline,
the rule-write rate limit, and bounded host name look-ups.

The stack here runs the alerts job on its schedule (every INTERVAL_S), as a deployment does:
the receivers are local servers of the test process (a true process boundary), and the tests
watch what reaches them and what the collector recorded.
"""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest

from collector.alerts.ssrf import Resolver, UnsafeTarget, check_url
from collector.store.storage import Storage, open_storage
from tests.conftest import ApiClient, assert_error, create_client, issue_token
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Database,
    collector_env,
    start_collector,
    start_gateway,
)
from tests.receiver import DripReceiver, WebhookReceiver

pytestmark = pytest.mark.timeout(180)

INTERVAL_S = 3.0  # ALERTS_INTERVAL_S
DEADLINE_S = 10.0  # WEBHOOK_TIMEOUT_S: longer than 2 * INTERVAL_S, so A still drips meanwhile
WRITES_PER_MIN = 60  # ALERT_RULE_WRITES_PER_MIN, the default
SECRET = "a-webhook-secret-of-some-length"
URL_TOKEN = "url-token-0b1c2d"  # in a webhook URL's query: never in the collector's log


class Stack:
    def __init__(self, db: Database, http_url: str) -> None:
        self.db = db
        self.http_url = http_url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data: pathlib.Path = tmp_path_factory.mktemp("alert-limits")
    db = Database(data).start()
    env = collector_env(
        db.url,
        data,
        ALLOW_PRIVATE_WEBHOOKS="true",
        ALERTS_INTERVAL_S=str(INTERVAL_S),
        WEBHOOK_TIMEOUT_S=str(DEADLINE_S),
        ALERT_RULE_WRITES_PER_MIN=str(WRITES_PER_MIN),
        RETENTION_INTERVAL_S="0",
    )
    collector, grpc_port = start_collector(env, data / "collector.log")
    gateway, http_port = start_gateway(f"127.0.0.1:{grpc_port}", data / "gateway.log")
    yield Stack(db, f"http://127.0.0.1:{http_port}")
    gateway.stop()
    # Deliveries still dripping are cut within the shutdown grace: a clean exit.
    assert collector.stop() == 0, "the collector did not exit cleanly"
    db.stop()
    assert URL_TOKEN not in (data / "collector.log").read_text(), "a webhook URL was logged"


@pytest.fixture(scope="module")
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def storage(stack: Stack) -> AsyncIterator[Storage]:
    async with open_storage(stack.db.url, "aegisai", 5000) as opened:
        yield opened


async def new_tenant(api: httpx.AsyncClient) -> ApiClient:
    root = ApiClient(
        ADMIN_ID, ADMIN_SECRET, "default", await issue_token(api, ADMIN_ID, ADMIN_SECRET)
    )
    return await create_client(api, root, f"t-{uuid.uuid4().hex[:12]}", ["read", "alerts"])


def firing_rule(url: str) -> dict[str, Any]:
    """No events have arrived in the window, so it fires at its first evaluation."""
    return {
        "name": "no traffic",
        "metric": "no_data",
        "comparison": "lt",
        "threshold": 1,
        "window_minutes": 5,
        "webhook_url": url,
        "webhook_secret": SECRET,
    }


async def create_rule(api: httpx.AsyncClient, client: ApiClient, body: dict[str, Any]) -> str:
    reply = await api.post("/alerts/rules", json=body, headers=client.headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def delete_rule(api: httpx.AsyncClient, client: ApiClient, rule_id: str) -> None:
    reply = await api.delete(f"/alerts/rules/{rule_id}", headers=client.headers)
    assert reply.status_code == 200, reply.text


async def until(what: str, within_s: float, check: Any) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        await asyncio.sleep(0.05)


async def wait_for_thread_event(event: threading.Event, within_s: float, what: str) -> None:
    assert await asyncio.to_thread(event.wait, within_s), f"not within {within_s} s: {what}"


# --- One tenant's hostile receiver ----------------------------------------------------------


async def test_a_dripping_receiver_delays_neither_evaluation_nor_delivery_of_another_tenant(
    api: httpx.AsyncClient,
) -> None:
    a, b = await new_tenant(api), await new_tenant(api)
    with DripReceiver() as drip, WebhookReceiver() as normal:
        a_rule = await create_rule(api, a, firing_rule(drip.url))
        await wait_for_thread_event(drip.accepted, 4 * INTERVAL_S, "A's webhook under way")
        created = time.monotonic()
        b_rule = await create_rule(api, b, firing_rule(f"{normal.url}?token={URL_TOKEN}"))

        async def b_delivered() -> bool:
            return bool(normal.delivered)

        await until("B's webhook delivered", 10 * INTERVAL_S, b_delivered)
        took = normal.delivered[0].at - created
        print(f"tenant B's webhook arrived {took:.2f} s after its rule was created")
        assert took <= 2 * INTERVAL_S, f"B waited {took:.2f} s"
        # Meanwhile A's first attempt was still dripping: B did not wait for it.
        assert not drip.closed or drip.closed[0] > normal.delivered[0].at
        assert normal.delivered[0].signed_by(SECRET)
        assert normal.delivered[0].json["state"] == "firing"
        await delete_rule(api, a, a_rule)
        await delete_rule(api, b, b_rule)


async def test_a_delivery_is_cut_at_its_deadline_recorded_as_failed_and_retried(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    a = await new_tenant(api)
    with DripReceiver() as drip:
        rule = await create_rule(api, a, firing_rule(drip.url))

        async def retried() -> bool:
            return len(drip.opened) >= 2

        async def hung_up() -> bool:
            return bool(drip.closed)

        # The attempt is cut DEADLINE_S after it started; the retry follows 1 s later.
        await until("the first attempt cut", DEADLINE_S + 4 * INTERVAL_S, hung_up)
        await until("a second attempt", 4 * INTERVAL_S, retried)
        first = await storage.alert_deliveries.find_one({"rule_id": rule, "attempt": 1})
        assert first is not None
        assert (first["ok"], first["status_code"]) == (False, None)
        assert first["error"] == f"no reply within {DEADLINE_S:g} s (the whole request)"
        assert first["duration_ms"] >= DEADLINE_S * 1000
        reply = await api.get("/alerts/events", params={"rule_id": rule}, headers=a.headers)
        (event,) = reply.json()["events"]
        assert event["delivery_status"] == "pending" and event["delivery_attempts"] >= 1
        await delete_rule(api, a, rule)


# --- Rule writes: rate limited per client ---------------------------------------------------


async def until_refused(call: Any, at_most: int) -> tuple[int, httpx.Response]:
    """Make the call until it is refused: (how many passed, the refusal)."""
    for passed in range(at_most):
        reply = await call()
        if reply.status_code not in (200, 201):
            return passed, reply
    raise AssertionError(f"not refused after {at_most} calls")


async def test_rule_writes_past_the_limit_get_429_with_retry_after(
    api: httpx.AsyncClient,
) -> None:
    writer = await new_tenant(api)
    body = firing_rule("http://127.0.0.1:9/hook") | {"metric": "cost", "comparison": "gt"}
    rule = await create_rule(api, writer, body)
    path = f"/alerts/rules/{rule}"

    def put() -> Any:
        return api.put(path, json=body, headers=writer.headers)

    def post() -> Any:
        return api.post("/alerts/rules", json=body, headers=writer.headers)

    passed, refused = await until_refused(put, 3 * WRITES_PER_MIN)
    # A minute's writes at once (the create was one), plus what refilled meanwhile, one a
    # second; then no more.
    assert passed >= WRITES_PER_MIN - 1
    message = assert_error(refused, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert message.startswith("rate limit: alert rule writes per minute exceeded"), message
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    # Creates count too (at most what refilled since passes).
    _, refused = await until_refused(post, 5)
    assert_error(refused, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    # Per client: another client of the same tenant writes freely.
    root = ApiClient(
        ADMIN_ID, ADMIN_SECRET, "default", await issue_token(api, ADMIN_ID, ADMIN_SECRET)
    )
    colleague = await create_client(api, root, writer.tenant, ["read", "alerts"])
    assert (await api.put(path, json=body, headers=colleague.headers)).status_code == 200
    # After the advertised delay, a write (a delete) passes.
    await asyncio.sleep(int(refused.headers["retry-after"]))
    again = await api.delete(path, headers=writer.headers)
    assert again.status_code == 200, again.text


# --- Host name look-ups -------------------------------------------------------------------


async def test_lookups_do_not_wait_behind_a_busy_default_executor() -> None:
    """argon2 hashing runs on the loop's default executor; look-ups have threads of their own.
    Every default-executor thread is held here while a host name is looked up."""
    release = threading.Event()
    loop = asyncio.get_running_loop()
    held = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # > its max_workers
    try:
        async with asyncio.timeout(30):
            target = await check_url("http://localhost:81/x", allow_private=True)
        assert target.host_header == "localhost:81"
    finally:
        release.set()
        await asyncio.gather(*held)


async def test_a_lookup_that_hangs_is_cut_at_its_bound() -> None:
    """getaddrinfo cannot be made to hang on loopback without a DNS server of our own, so the
    look-up function (the boundary to the system resolver) is replaced by one that blocks."""
    release = threading.Event()

    def hanging(host: str, port: int) -> list[tuple[Any, ...]]:
        release.wait(30)
        return []

    resolver = Resolver(timeout_s=0.2, lookup=hanging)
    try:
        with pytest.raises(UnsafeTarget) as info:
            await check_url("https://hooks.example.com/x", allow_private=False, resolver=resolver)
        assert str(info.value) == "host 'hooks.example.com' could not be resolved within 0.2 s"
    finally:
        release.set()


async def test_unresolvable_hosts_are_400_naming_webhook_url(api: httpx.AsyncClient) -> None:
    writer = await new_tenant(api)
    for host in ("hooks.invalid", "a" * 64 + ".example.com"):
        body = firing_rule(f"https://{host}/x")
        reply = await api.post("/alerts/rules", json=body, headers=writer.headers)
        message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
        assert message.startswith(f"webhook_url: host '{host}' does not resolve"), message
