"""Anomaly rules end to end: events sent through the API at chosen times, the alerts job run
with its clock, signed webhooks to a local receiver carrying the baseline and the z-score.

A private database, collector and gateway (webhooks to 127.0.0.1 allowed; the scheduled
alerts and rollup jobs off: each test evaluates, and folds when it wants buckets, itself).
The windows are judged at a whole minute T, so a 1-minute rule's current window is the
minute before T and its baseline the 24 minutes before that.
"""

from __future__ import annotations

import datetime as dt
import itertools
import pathlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from collector.alerts.anomaly import BASELINE_WINDOWS, MAX_WINDOW_MINUTES
from collector.alerts.job import run_alerts
from collector.alerts.metrics import RollupMetrics, baseline_bounds
from collector.alerts.webhooks import DeliveryPolicy
from collector.rollups.fold import fold_partials
from collector.store.storage import Storage, open_storage
from tests.conftest import ApiClient, assert_error, create_client, ingest, issue_token, llm_event
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Database,
    collector_env,
    start_collector,
    start_gateway,
)
from tests.receiver import Received, WebhookReceiver

pytestmark = pytest.mark.timeout(180)

SECRET = "a-webhook-secret-of-some-length"
FAST = DeliveryPolicy(timeout_s=5, backoff_base_s=0.05, horizon_s=20)
WEBHOOK_KEYS = {"id", "name", "state", "value", "threshold", "window_minutes", "time"}
MINUTE = dt.timedelta(minutes=1)


@dataclass
class Backend:
    db: Database
    http_url: str


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data: pathlib.Path = tmp_path_factory.mktemp("anomaly")
    db = Database(data).start()
    env = collector_env(
        db.url,
        data,
        ALLOW_PRIVATE_WEBHOOKS="true",
        ALERTS_INTERVAL_S="0",
        ROLLUP_INTERVAL_S="0",
        RETENTION_INTERVAL_S="0",
    )
    collector, grpc_port = start_collector(env, data / "collector.log")
    gateway, http_port = start_gateway(f"127.0.0.1:{grpc_port}", data / "gateway.log")
    yield Backend(db, f"http://127.0.0.1:{http_port}")
    gateway.stop()
    assert collector.stop() == 0, "the collector (with its jobs) did not exit cleanly"
    db.stop()


@pytest.fixture(scope="module")
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    async with open_storage(backend.db.url, "aegisai", 5000) as opened:
        yield opened


@pytest.fixture(scope="module")
async def api(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=backend.http_url, timeout=30) as client:
        yield client


@pytest.fixture
async def manager(api: httpx.AsyncClient, storage: Storage) -> AsyncIterator[ApiClient]:
    """A client of a fresh tenant; afterwards every rule is deleted, so that the next test's
    job runs judge only its own."""
    root = ApiClient(
        ADMIN_ID, ADMIN_SECRET, "default", await issue_token(api, ADMIN_ID, ADMIN_SECRET)
    )
    yield await create_client(api, root, f"t-{uuid.uuid4().hex[:12]}", ["ingest", "read", "alerts"])
    await storage.alert_rules.delete_many({})


def anomaly_rule(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "unusual traffic",
        "metric": "requests",
        "comparison": "anomaly",
        "threshold": 3,
        "window_minutes": 1,
        "webhook_url": url,
        "webhook_secret": SECRET,
        **overrides,
    }


async def create_rule(
    api: httpx.AsyncClient, client: ApiClient, body: dict[str, Any]
) -> dict[str, Any]:
    reply = await api.post("/alerts/rules", json=body, headers=client.headers)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


async def get_rule(api: httpx.AsyncClient, client: ApiClient, rule_id: str) -> dict[str, Any]:
    reply = await api.get(f"/alerts/rules/{rule_id}", headers=client.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def whole_minute() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


async def send(
    api: httpx.AsyncClient, client: ApiClient, at: dt.datetime, count: int, **fields: Any
) -> None:
    """`count` LLM events 10 s into the minute starting at `at`."""
    when = (at + dt.timedelta(seconds=10)).isoformat()
    events = [llm_event(timestamp=when, tokens_used=10, **fields) for _ in range(count)]
    assert (await ingest(api, client, "llm", events))["accepted"] == count


def anomaly_body(received: Received, state: str) -> dict[str, Any]:
    assert received.signed_by(SECRET)
    body: dict[str, Any] = received.json
    assert set(body) - {"group"} == WEBHOOK_KEYS | {"baseline", "z"}
    assert body["state"] == state
    return body


async def test_an_anomaly_rule_fires_and_resolves_through_signed_webhooks(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """24 baseline minutes of 4 and 6 requests (mean 5, deviation 1): 5 in the current minute
    is usual, 10 is 5 deviations above (firing); a minute later 5 is usual again against a
    baseline that now holds the 10 (resolved)."""
    t = whole_minute()
    for k in range(2, BASELINE_WINDOWS + 2):  # the minute [t - k, t - k + 1)
        await send(api, manager, t - k * MINUTE, 4 if k % 2 == 0 else 6)
    await send(api, manager, t - MINUTE, 5)
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, anomaly_rule(receiver.url))
        assert (rule["comparison"], rule["threshold"]) == ("anomaly", 3.0)

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t)
        assert receiver.received == [], "5 is the baseline's mean"
        current = await get_rule(api, manager, rule["id"])
        assert (current["state"], current["last_value"]) == ("ok", 5.0)

        await send(api, manager, t - MINUTE, 5)
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t)
        (fired,) = receiver.received
        body = anomaly_body(fired, "firing")
        assert (body["id"], body["value"], body["threshold"]) == (rule["id"], 10.0, 3.0)
        assert body["baseline"] == {"mean": 5.0, "std": 1.0} and body["z"] == 5.0
        current = await get_rule(api, manager, rule["id"])
        assert (current["state"], current["last_value"]) == ("firing", 10.0)

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t)
        assert len(receiver.received) == 1, "still firing: quiet"

        await send(api, manager, t, 5)
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t + MINUTE)
        assert len(receiver.received) == 2
        body = anomaly_body(receiver.received[1], "resolved")
        # The baseline is now minutes t-24 .. t-1: 12 fours, 11 sixes and the 10.
        values = [4.0] * 12 + [6.0] * 11 + [10.0]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        assert body["value"] == 5.0
        assert body["baseline"] == {"mean": pytest.approx(mean), "std": pytest.approx(std)}
        assert body["z"] == pytest.approx((5.0 - mean) / std)

    reply = await api.get("/alerts/events", params={"rule_id": rule["id"]}, headers=manager.headers)
    events = reply.json()["events"]
    assert [(e["previous_state"], e["state"], e["value"]) for e in events] == [
        ("firing", "resolved", 5.0),
        ("ok", "firing", 10.0),
    ]
    assert all(e["delivery_status"] == "delivered" for e in events)


async def test_a_rate_ignores_empty_windows_and_waits_for_12_with_data(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """latency_p95 over 1-minute windows, one event in every other baseline minute (100 and
    120 ms by turns), none in the rest. With 11 windows with data the rule does not hold,
    however far 200 ms is; with a 12th it fires on their mean 110 and deviation 10 (z 9).
    Had the empty windows counted as 0, the mean would be 55 and z about 2.6: no firing."""
    t = whole_minute()
    odd = [t - k * MINUTE for k in range(3, BASELINE_WINDOWS + 2, 2)]  # 12 of the 24 minutes
    latencies = [100.0 if i % 2 == 0 else 120.0 for i in range(len(odd))]
    for at, latency in list(zip(odd, latencies, strict=True))[1:]:
        await send(api, manager, at, 1, latency_ms=latency)
    await send(api, manager, t - MINUTE, 1, latency_ms=200.0)
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, anomaly_rule(receiver.url, metric="latency_p95"))
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t)
        assert receiver.received == [], "11 baseline windows had data: too few"
        current = await get_rule(api, manager, rule["id"])
        assert (current["state"], current["last_value"]) == ("ok", 200.0)

        await send(api, manager, odd[0], 1, latency_ms=latencies[0])
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t)
        (fired,) = receiver.received
        body = anomaly_body(fired, "firing")
        assert body["value"] == 200.0
        assert body["baseline"] == {"mean": 110.0, "std": 10.0} and body["z"] == 9.0

        # No event in the current window: the value is unknown, which never holds.
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t + 2 * MINUTE)
        body = anomaly_body(receiver.received[1], "resolved")
        assert body["value"] is None and body["z"] is None


async def test_the_baseline_read_in_one_pass_equals_each_window_read_alone(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """A 90-minute window judged 17 min 30 s past an hour: its 25 windows (91 minutes once
    widened) cut hour buckets everywhere. Events over the 38 hours before, some folded into
    minute, hour and day buckets and some still in partials: every metric of every window,
    as with_baseline reads them together, equals window_value reading that window alone."""
    now = whole_minute().replace(minute=17, second=30) - dt.timedelta(hours=1)
    rng = random.Random(20)

    def batch(n: int) -> list[dict[str, Any]]:
        return [
            llm_event(
                rng.choice(["llm-a", "llm-b"]),
                timestamp=(now - dt.timedelta(minutes=rng.uniform(0, 38 * 60))).isoformat(),
                tokens_used=rng.randint(1, 500),
                cost=round(rng.uniform(0, 0.01), 6),
                latency_ms=round(rng.uniform(1, 900), 1),
                error=rng.choice(["", "", "timeout"]),
            )
            for _ in range(n)
        ]

    await ingest(api, manager, "llm", batch(300))
    await fold_partials(storage)
    await ingest(api, manager, "llm", batch(200))
    assert await storage.partials.count_documents({"tenant": manager.tenant}) > 0

    metrics = RollupMetrics(storage)
    start = now - dt.timedelta(minutes=90)
    bounds = baseline_bounds(start, now, None)
    assert len(bounds) == BASELINE_WINDOWS + 2 and bounds[-1] == now.replace(second=0) + MINUTE
    assert {b - a for a, b in itertools.pairwise(bounds)} == {91 * MINUTE}
    for metric in ("requests", "cost", "tokens", "error_rate", "latency_p95"):
        for model in (None, "llm-b"):
            value, windows = await metrics.with_baseline(manager.tenant, metric, model, start, now)
            alone = [
                await metrics.window_value(manager.tenant, metric, model, a, b)
                for a, b in itertools.pairwise(bounds)
            ]
            assert [*windows, value] == pytest.approx(alone), (metric, model)
            assert value == pytest.approx(
                await metrics.window_value(manager.tenant, metric, model, start, now)
            )
    _, counts = await metrics.with_baseline(manager.tenant, "requests", None, start, now)
    assert len(counts) == BASELINE_WINDOWS and sum(c or 0 for c in counts) >= 400, "not vacuous"


async def test_grouped_by_model_each_model_is_judged_against_its_own_baseline(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """Three models with the same baseline (4 and 6 requests by turns): in the current minute
    "steady" sends 5, "spiky" 10 (z 5) and "stopped" nothing (z -5, a model seen only in its
    baseline is judged too). Two fire, each naming its model; a minute later "spiky" is back
    to 5 and resolves, "stopped" still fires and stays quiet."""
    t = whole_minute()
    models = ("steady", "spiky", "stopped")
    for k in range(2, BASELINE_WINDOWS + 2):
        for model in models:
            await send(api, manager, t - k * MINUTE, 4 if k % 2 == 0 else 6, model_name=model)
    await send(api, manager, t - MINUTE, 5, model_name="steady")
    await send(api, manager, t - MINUTE, 10, model_name="spiky")
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, anomaly_rule(receiver.url, group_by="model"))
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t)
        fired = sorted(
            (anomaly_body(r, "firing") for r in receiver.received),
            key=lambda b: b["group"]["model"],
        )
        assert [(b["group"], b["value"], b["z"]) for b in fired] == [
            ({"model": "spiky"}, 10.0, 5.0),
            ({"model": "stopped"}, 0.0, -5.0),
        ], "steady's 5 is its mean"
        assert all(b["baseline"] == {"mean": 5.0, "std": 1.0} for b in fired)
        current = await get_rule(api, manager, rule["id"])
        assert current["state"] == "firing"
        assert sorted(current["firing_groups"]) == ["spiky", "stopped"]

        await send(api, manager, t, 5, model_name="steady")
        await send(api, manager, t, 5, model_name="spiky")
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t + MINUTE)
        assert len(receiver.received) == 3
        resolved = anomaly_body(receiver.received[2], "resolved")
        assert (resolved["group"], resolved["value"]) == ({"model": "spiky"}, 5.0)
        assert resolved["z"] == pytest.approx(-0.1187, abs=1e-4)
        current = await get_rule(api, manager, rule["id"])
        assert (current["state"], current["firing_groups"]) == ("firing", ["stopped"])


async def test_a_change_whose_event_was_not_written_is_sent_with_its_baseline(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """The database as a crash between an anomaly rule's state change and its event leaves
    it: the event is written from the rule (its baseline and z with it) and sent once; then
    the rule resolves on a silent tenant (24 windows of 0 requests: a flat baseline of 0,
    and a current 0 that does not differ from it)."""
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, anomaly_rule(receiver.url))
        await storage.alert_rules.update_one(
            {"_id": rule["id"]},
            {
                "$set": {
                    "state": "firing",
                    "previous_state": "ok",
                    "seq": 1,
                    "state_since": whole_minute(),
                    "state_value": 10.0,
                    "state_baseline": {"mean": 5.0, "std": 1.0},
                    "state_z": 5.0,
                }
            },
        )
        for _ in range(2):
            await run_alerts(storage, allow_private_webhooks=True, policy=FAST)
        fired, resolved = receiver.received
        body = anomaly_body(fired, "firing")
        assert (body["value"], body["baseline"], body["z"]) == (
            10.0,
            {"mean": 5.0, "std": 1.0},
            5.0,
        )
        body = anomaly_body(resolved, "resolved")
        assert (body["value"], body["baseline"], body["z"]) == (
            0.0,
            {"mean": 0.0, "std": 0.0},
            None,
        )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": -2}, "threshold"),
        ({"threshold": None}, "threshold"),
        ({"window_minutes": MAX_WINDOW_MINUTES + 1}, "window_minutes"),
        ({"group_by": "user_id", "metric": "cost"}, "group_by"),
        ({"group_by": "session_id"}, "group_by"),
    ],
)
async def test_invalid_anomaly_rules_are_400_naming_the_field(
    api: httpx.AsyncClient, manager: ApiClient, overrides: dict[str, Any], field: str
) -> None:
    body = anomaly_rule("http://127.0.0.1:9/hook", **overrides)
    reply = await api.post("/alerts/rules", json=body, headers=manager.headers)
    message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith(f"{field}:"), message


async def test_a_z_score_is_not_bound_by_the_metrics_range(
    api: httpx.AsyncClient, manager: ApiClient
) -> None:
    """error_rate is at most 1, yet "anomaly 3" is a fine rule; so is the longest window."""
    for body in (
        anomaly_rule("http://127.0.0.1:9/hook", metric="error_rate", threshold=3),
        anomaly_rule("http://127.0.0.1:9/hook", window_minutes=MAX_WINDOW_MINUTES),
        anomaly_rule("http://127.0.0.1:9/hook", threshold=0.5, model="llm-a"),
    ):
        created = await create_rule(api, manager, body)
        assert created["comparison"] == "anomaly" and created["threshold"] == body["threshold"]
