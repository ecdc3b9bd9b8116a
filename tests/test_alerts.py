"""Alert rules end to end: REST and gRPC, evaluation, signed webhooks, retries, the SSRF guard.

A private database, collector and gateway serve the rules (webhooks to 127.0.0.1 allowed, the
scheduled alerts job off); each test runs the job itself — the plain function, on a Storage
of its own against that database — with its clock, and a local receiver takes the webhooks.
SSRF refusals are checked on the shared stack, which keeps the default (private refused).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pymongo
import pytest

from aegis.v1 import alerts_pb2, alerts_pb2_grpc
from collector.alerts.delivery import deliver_pending
from collector.alerts.job import evaluate_alerts, run_alerts
from collector.alerts.ssrf import UnsafeTarget, check_url
from collector.alerts.webhooks import DeliveryPolicy
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

SECRET = "a-webhook-secret-of-some-length"
# Retries a few hundredths of a second apart, waited for within the run.
FAST = DeliveryPolicy(timeout_s=5, backoff_base_s=0.05, horizon_s=20)
WEBHOOK_KEYS = {"id", "name", "state", "value", "threshold", "window_minutes", "time"}


@dataclass
class Backend:
    db: Database
    grpc_target: str
    http_url: str


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data: pathlib.Path = tmp_path_factory.mktemp("alerts")
    db = Database(data).start()
    env = collector_env(
        db.url, data, ALLOW_PRIVATE_WEBHOOKS="true", ALERTS_INTERVAL_S="0", RETENTION_INTERVAL_S="0"
    )
    collector, grpc_port = start_collector(env, data / "collector.log")
    gateway, http_port = start_gateway(f"127.0.0.1:{grpc_port}", data / "gateway.log")
    yield Backend(db, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}")
    gateway.stop()  # uvicorn re-raises SIGTERM after its clean shutdown: -15
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


@pytest.fixture(scope="module")
async def root(api: httpx.AsyncClient) -> ApiClient:
    return ApiClient(
        ADMIN_ID, ADMIN_SECRET, "default", await issue_token(api, ADMIN_ID, ADMIN_SECRET)
    )


@pytest.fixture
async def manager(
    api: httpx.AsyncClient, root: ApiClient, storage: Storage
) -> AsyncIterator[ApiClient]:
    """A client of a fresh tenant that may ingest, read and manage alert rules.

    Afterwards every rule is deleted, so the next test's job runs judge only its own."""
    yield await create_client(api, root, f"t-{uuid.uuid4().hex[:12]}", ["ingest", "read", "alerts"])
    await storage.alert_rules.delete_many({})
    await storage.alert_events.update_many(
        {"delivery_status": "pending"}, {"$set": {"delivery_status": "cancelled"}}
    )


def rule_body(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "LLM spend",
        "metric": "cost",
        "comparison": "gt",
        "threshold": 1.0,
        "window_minutes": 5,
        "webhook_url": url,
        "webhook_secret": SECRET,
        **overrides,
    }


async def create_rule(
    api: httpx.AsyncClient, client: ApiClient, body: dict[str, Any]
) -> dict[str, Any]:
    reply = await api.post("/alerts/rules", json=body, headers=client.headers)
    assert reply.status_code == 201, reply.text
    assert "webhook_secret" not in reply.json() and SECRET not in reply.text
    return dict(reply.json())


async def get(api: httpx.AsyncClient, client: ApiClient, path: str, **params: Any) -> Any:
    reply = await api.get(path, params=params, headers=client.headers)
    assert reply.status_code == 200, reply.text
    assert SECRET not in reply.text
    return reply.json()


async def ingest_cost(
    api: httpx.AsyncClient, client: ApiClient, cost: float, at: dt.datetime
) -> None:
    event = {"model_name": "llm-a", "tokens_used": 10, "cost": cost, "timestamp": at.isoformat()}
    reply = await api.post("/ingest/llm", json={"events": [event]}, headers=client.headers)
    assert reply.status_code == 200 and reply.json()["accepted"] == 1, reply.text


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_a_cost_rule_fires_once_stays_quiet_while_firing_and_resolves_once(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, rule_body(receiver.url))
        assert rule["state"] == "ok" and rule["last_evaluated_at"] is None
        t0 = now()
        await ingest_cost(api, manager, 0.6, t0 - dt.timedelta(minutes=2))

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        assert receiver.received == [], "0.6 is not over 1.0: nothing to say"

        await ingest_cost(api, manager, 0.6, t0 - dt.timedelta(minutes=1))
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        assert len(receiver.received) == 1
        fired = receiver.received[0]
        assert fired.signed_by(SECRET)
        assert abs(int(fired.headers["x-aegis-timestamp"]) - time.time()) < 60
        assert fired.headers["content-type"] == "application/json"
        assert set(fired.json) == WEBHOOK_KEYS
        assert fired.json["id"] == rule["id"] and fired.json["name"] == "LLM spend"
        assert fired.json["state"] == "firing"
        assert fired.json["value"] == pytest.approx(1.2)
        assert (fired.json["threshold"], fired.json["window_minutes"]) == (1.0, 5)
        assert dt.datetime.fromisoformat(fired.json["time"]) == t0.replace(
            microsecond=t0.microsecond // 1000 * 1000
        )

        # Still over the threshold a minute later: firing, and quiet.
        await run_alerts(
            storage, allow_private_webhooks=True, policy=FAST, now=t0 + dt.timedelta(minutes=1)
        )
        assert len(receiver.received) == 1
        current = await get(api, manager, f"/alerts/rules/{rule['id']}")
        assert current["state"] == "firing" and current["last_value"] == pytest.approx(1.2)

        # Ten minutes on, the window is empty: resolved, once.
        for minutes in (10, 11, 12):
            later = t0 + dt.timedelta(minutes=minutes)
            await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=later)
        assert len(receiver.received) == 2
        resolved = receiver.received[1]
        assert resolved.signed_by(SECRET)
        assert resolved.json["state"] == "resolved" and resolved.json["value"] == 0.0

    events = (await get(api, manager, "/alerts/events"))["events"]
    assert [(e["previous_state"], e["state"]) for e in events] == [
        ("firing", "resolved"),
        ("ok", "firing"),
    ], "newest first"
    assert all(e["delivery_status"] == "delivered" and e["delivery_attempts"] == 1 for e in events)
    assert {e["rule_id"] for e in events} == {rule["id"]}
    current = await get(api, manager, f"/alerts/rules/{rule['id']}")
    assert current["state"] == "resolved" and current["last_value"] == 0.0


async def test_a_resolved_rule_fires_again_when_the_condition_returns(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    with WebhookReceiver() as receiver:
        await create_rule(api, manager, rule_body(receiver.url, threshold=0.5))
        t0 = now()
        await ingest_cost(api, manager, 1.0, t0 - dt.timedelta(minutes=1))
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        await run_alerts(
            storage, allow_private_webhooks=True, policy=FAST, now=t0 + dt.timedelta(minutes=30)
        )
        await ingest_cost(api, manager, 1.0, t0 + dt.timedelta(minutes=59))
        await run_alerts(
            storage, allow_private_webhooks=True, policy=FAST, now=t0 + dt.timedelta(minutes=60)
        )
        assert [r.json["state"] for r in receiver.delivered] == ["firing", "resolved", "firing"]


async def test_a_receiver_failing_twice_gets_exactly_one_delivery_after_three_attempts(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        # Nothing has arrived in the window, so a no_data rule fires at once.
        rule = await create_rule(
            api, manager, rule_body(receiver.url, metric="no_data", comparison="lt", threshold=1)
        )
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST)
        assert [r.answered for r in receiver.received] == [500, 500, 200]
        assert len(receiver.delivered) == 1
        assert all(r.signed_by(SECRET) for r in receiver.received)
        assert len({r.body for r in receiver.received}) == 1, "every attempt sends the same event"
        assert len({r.headers["x-aegis-event-id"] for r in receiver.received}) == 1

        # Later runs have nothing more to send.
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST)
        assert len(receiver.received) == 3

    attempts = [
        d async for d in storage.alert_deliveries.find({"rule_id": rule["id"]}).sort("attempt", 1)
    ]
    assert [(a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert attempts[1]["time"] > attempts[0]["time"]
    (event,) = (await get(api, manager, "/alerts/events", rule_id=rule["id"]))["events"]
    assert (event["delivery_status"], event["delivery_attempts"]) == ("delivered", 3)


async def test_retries_survive_a_restart_of_the_job(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """No retry waits within a run (horizon 0): each run is a fresh start of the job."""
    one_at_a_time = DeliveryPolicy(timeout_s=5, backoff_base_s=0.05, horizon_s=0)
    with WebhookReceiver(statuses=[503, 503]) as receiver:
        await create_rule(
            api, manager, rule_body(receiver.url, metric="no_data", comparison="lt", threshold=1)
        )
        deadline = time.monotonic() + 30
        while not receiver.delivered:
            assert time.monotonic() < deadline, "never delivered"
            await run_alerts(storage, allow_private_webhooks=True, policy=one_at_a_time)
            await asyncio.sleep(0.05)  # the backoff: the next attempt falls due after it
        for _ in range(3):
            await run_alerts(storage, allow_private_webhooks=True, policy=one_at_a_time)
        assert [r.answered for r in receiver.received] == [503, 503, 200]


async def test_concurrent_evaluations_record_and_deliver_a_change_once(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """Two job runs at once (as two replicas whose leases overlapped would do)."""
    with WebhookReceiver() as receiver:
        rule = await create_rule(
            api, manager, rule_body(receiver.url, metric="no_data", comparison="lt", threshold=1)
        )
        at = now()
        await asyncio.gather(
            *(
                run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=at)
                for _ in range(4)
            )
        )
        assert len(receiver.received) == 1
    assert await storage.alert_events.count_documents({"rule_id": rule["id"]}) == 1
    assert await storage.alert_deliveries.count_documents({"rule_id": rule["id"]}) == 1


async def test_a_change_whose_event_was_not_written_is_recorded_and_sent_once(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """The database as a crash between the rule's state change and its event leaves it."""
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, rule_body(receiver.url, threshold=1e9))
        crashed_at = now()
        await storage.alert_rules.update_one(
            {"_id": rule["id"]},
            {
                "$set": {
                    "state": "firing",
                    "previous_state": "ok",
                    "seq": 1,
                    "state_since": crashed_at,
                    "state_value": 5e9,
                }
            },
        )
        for _ in range(2):
            await run_alerts(storage, allow_private_webhooks=True, policy=FAST)
        # The recovered firing event, then the resolution (the cost is 0, not over 1e9).
        assert [r.json["state"] for r in receiver.delivered] == ["firing", "resolved"]
        assert receiver.delivered[0].json["value"] == 5e9
    states = [
        e["state"] async for e in storage.alert_events.find({"rule_id": rule["id"]}).sort("seq", 1)
    ]
    assert states == ["firing", "resolved"]


async def test_the_webhook_address_is_checked_again_at_delivery(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """Saved while private targets were allowed; delivered by a job that refuses them."""
    with WebhookReceiver() as receiver:
        rule = await create_rule(
            api, manager, rule_body(receiver.url, metric="no_data", comparison="lt", threshold=1)
        )
        once = DeliveryPolicy(timeout_s=5, max_attempts=1, horizon_s=0)
        await run_alerts(storage, allow_private_webhooks=False, policy=once)
        assert receiver.received == []
    (attempt,) = [d async for d in storage.alert_deliveries.find({"rule_id": rule["id"]})]
    assert attempt["status_code"] is None and "refused" in attempt["error"]
    (event,) = (await get(api, manager, "/alerts/events"))["events"]
    assert event["delivery_status"] == "failed"


async def test_a_reply_is_recorded_however_long_the_delivery_phase_has_lasted(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """The caller's database deadline (a job run's) has passed when the receiver answers 200:
    the attempt's writes have deadlines of their own, so the 200 is recorded, once."""
    with WebhookReceiver(hold_s=1.5) as receiver:
        rule = await create_rule(
            api, manager, rule_body(receiver.url, metric="no_data", comparison="lt", threshold=1)
        )
        await evaluate_alerts(storage)
        with pymongo.timeout(1.0):
            counts = await deliver_pending(storage, allow_private=True, policy=FAST)
        assert counts.delivered == 1 and counts.failed_attempts == 0
        await deliver_pending(storage, allow_private=True, policy=FAST)
        assert len(receiver.received) == 1, "sent again"
    (attempt,) = [d async for d in storage.alert_deliveries.find({"rule_id": rule["id"]})]
    assert (attempt["status_code"], attempt["ok"]) == (200, True)
    (event,) = (await get(api, manager, "/alerts/events"))["events"]
    assert (event["delivery_status"], event["delivery_attempts"]) == ("delivered", 1)


async def test_one_tenant_has_at_most_per_tenant_attempts_in_flight(
    api: httpx.AsyncClient, root: ApiClient, storage: Storage, manager: ApiClient
) -> None:
    """Three events of one tenant to a receiver that never answers, two slots per tenant:
    the third attempt starts only when one of the first two is cut at its deadline. Another
    tenant's event goes at once."""
    policy = DeliveryPolicy(timeout_s=2, max_attempts=1, per_tenant=2, horizon_s=0)
    other = await create_client(api, root, f"t-{uuid.uuid4().hex[:12]}", ["read", "alerts"])
    with DripReceiver() as drip, WebhookReceiver() as receiver:
        for n in range(3):
            body = rule_body(drip.url, metric="no_data", comparison="lt", threshold=1)
            await create_rule(api, manager, body | {"name": f"dripping {n}"})
        await create_rule(
            api, other, rule_body(receiver.url, metric="no_data", comparison="lt", threshold=1)
        )
        started = time.monotonic()
        await run_alerts(storage, allow_private_webhooks=True, policy=policy)
        assert len(drip.opened) == 3 and len(receiver.delivered) == 1
        first, second, third = sorted(drip.opened)
        assert second - first < policy.timeout_s / 2, "the first two went together"
        assert third - first >= policy.timeout_s / 2, "the third did not wait for a slot"
        assert receiver.delivered[0].at - started < policy.timeout_s, "B waited for A"
    failed = storage.alert_deliveries.find({"tenant": manager.tenant})
    assert [d["error"] async for d in failed] == ["no reply within 2 s (the whole request)"] * 3


async def test_scopes_read_may_list_alerts_or_admin_may_manage(
    api: httpx.AsyncClient, root: ApiClient, manager: ApiClient
) -> None:
    reader = await create_client(api, root, manager.tenant, ["read"])
    tenant_admin = await create_client(api, root, manager.tenant, ["admin"])
    body = rule_body("http://127.0.0.1:9/hook")
    reply = await api.post("/alerts/rules", json=body, headers=reader.headers)
    assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)
    created = await create_rule(api, tenant_admin, body)
    assert (await create_rule(api, manager, body))["id"] != created["id"]
    listed = (await get(api, reader, "/alerts/rules"))["rules"]
    assert [r["id"] for r in listed] == [created["id"], listed[1]["id"]], "oldest first"
    for verb in ("put", "delete"):
        kwargs: dict[str, Any] = {"json": body} if verb == "put" else {}
        reply = await api.request(
            verb.upper(), f"/alerts/rules/{created['id']}", headers=reader.headers, **kwargs
        )
        assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)
    no_token = await api.get("/alerts/rules")
    assert_error(no_token, 401, grpc.StatusCode.UNAUTHENTICATED)


async def test_get_update_delete_and_tenancy(
    api: httpx.AsyncClient, root: ApiClient, manager: ApiClient, storage: Storage
) -> None:
    rule = await create_rule(api, manager, rule_body("http://127.0.0.1:9/hook", model="llm-a"))
    path = f"/alerts/rules/{rule['id']}"
    assert await get(api, manager, path) == rule

    other = await create_client(api, root, f"t-{uuid.uuid4().hex[:12]}", ["read", "alerts"])
    assert (await get(api, other, "/alerts/rules"))["rules"] == []
    assert (await get(api, other, "/alerts/events"))["events"] == []
    for verb in ("GET", "PUT", "DELETE"):
        kwargs: dict[str, Any] = (
            {"json": rule_body("http://127.0.0.1:9/x")} if verb == "PUT" else {}
        )
        reply = await api.request(verb, path, headers=other.headers, **kwargs)
        assert_error(reply, 404, grpc.StatusCode.NOT_FOUND)

    # PUT replaces the definition; an empty secret keeps the stored one.
    changed = rule_body("http://127.0.0.1:9/other", threshold=2.5, webhook_secret="", model=None)
    reply = await api.put(path, json=changed, headers=manager.headers)
    assert reply.status_code == 200, reply.text
    updated = reply.json()
    assert (updated["threshold"], updated["model"], updated["webhook_url"]) == (
        2.5,
        None,
        "http://127.0.0.1:9/other",
    )
    assert updated["id"] == rule["id"] and updated["created_at"] == rule["created_at"]
    stored = await storage.alert_rules.find_one({"_id": rule["id"]})
    assert stored is not None and stored["webhook_secret"] == SECRET

    reply = await api.delete(path, headers=manager.headers)
    assert reply.status_code == 200 and reply.json() == {}
    assert_error(await api.get(path, headers=manager.headers), 404, grpc.StatusCode.NOT_FOUND)
    assert_error(await api.delete(path, headers=manager.headers), 404, grpc.StatusCode.NOT_FOUND)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": " "}, "name"),
        ({"metric": "cpu"}, "metric"),
        ({"comparison": "ge"}, "comparison"),
        ({"threshold": None}, "threshold"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"window_minutes": 30 * 24 * 60 + 1}, "window_minutes"),
        ({"model": ""}, "model"),
        ({"webhook_secret": "short"}, "webhook_secret"),
        ({"webhook_url": "not a url"}, "webhook_url"),
    ],
)
async def test_invalid_rules_are_400_naming_the_field(
    api: httpx.AsyncClient, manager: ApiClient, overrides: dict[str, Any], field: str
) -> None:
    reply = await api.post(
        "/alerts/rules",
        json=rule_body("http://127.0.0.1:9/hook", **overrides),
        headers=manager.headers,
    )
    assert assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT).startswith(f"{field}:")


async def test_rules_over_grpc(backend: Backend, manager: ApiClient) -> None:
    async with grpc.aio.insecure_channel(backend.grpc_target) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        created = await stub.CreateRule(
            alerts_pb2.CreateRuleRequest(**rule_body("http://127.0.0.1:9/hook")),
            metadata=manager.metadata,
        )
        assert created.id.startswith("ar_") and created.state == "ok"
        got = await stub.GetRule(
            alerts_pb2.GetRuleRequest(id=created.id), metadata=manager.metadata
        )
        assert got == created
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateRule(
                alerts_pb2.CreateRuleRequest(**rule_body("gopher://127.0.0.1/")),
                metadata=manager.metadata,
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith("webhook_url:")


# --- The SSRF guard, on the shared stack (ALLOW_PRIVATE_WEBHOOKS unset) -------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.1.2.3/",
        "http://10.0.0.5/hook",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://localhost:8080/hook",
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://user:pass@127.0.0.1/",
    ],
)
async def test_ssrf_targets_are_refused_naming_webhook_url(
    http: httpx.AsyncClient, admin: ApiClient, url: str
) -> None:
    reply = await http.post("/alerts/rules", json=rule_body(url), headers=admin.headers)
    message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith("webhook_url:"), message


async def test_public_addresses_pass_the_guard_and_are_pinned() -> None:
    """No request is made: an IP literal needs no lookup, and check_url only decides."""
    target = await check_url("https://93.184.215.14/hooks/a?b=1", allow_private=False)
    assert target.url == "https://93.184.215.14:443/hooks/a?b=1"
    assert target.host_header == "93.184.215.14" and target.sni_hostname is None
    with pytest.raises(UnsafeTarget, match="resolves to"):
        await check_url("http://localhost/", allow_private=False)
    pinned = await check_url("http://localhost:81/x", allow_private=True)
    assert pinned.url in ("http://127.0.0.1:81/x", "http://[::1]:81/x")
    assert pinned.host_header == "localhost:81"


async def test_openapi_documents_path_parameters_and_the_201(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    one = spec["paths"]["/alerts/rules/{id}"]
    assert set(one) == {"get", "put", "delete"}
    for operation in one.values():
        assert {"name": "id", "in": "path"}.items() <= operation["parameters"][0].items()
    assert "201" in spec["paths"]["/alerts/rules"]["post"]["responses"]
    events = {p["name"]: p["in"] for p in spec["paths"]["/alerts/events"]["get"]["parameters"]}
    assert events == {"rule_id": "query", "limit": "query"}


# --- Grouped rules: a state per user, session or model -----------------------------------

MONTH = 43_200  # minutes


async def spend(
    api: httpx.AsyncClient, client: ApiClient, events: list[tuple[str, float, dt.datetime]]
) -> None:
    body = {
        "events": [
            {
                "model_name": "gpt-4o",
                "tokens_used": 10,
                "cost": cost,
                "timestamp": at.isoformat(),
                "user_id": user,
                "session_id": f"s-{user}",
            }
            for user, cost, at in events
        ]
    }
    reply = await api.post("/ingest/llm", json=body, headers=client.headers)
    assert reply.status_code == 200 and reply.json()["accepted"] == len(events), reply.text


async def test_a_budget_per_user_fires_for_the_one_user_over_it_and_resolves(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with WebhookReceiver() as receiver:
        rule = await create_rule(
            api,
            manager,
            rule_body(receiver.url, threshold=20.0, window_minutes=MONTH, group_by="user_id"),
        )
        assert (rule["group_by"], rule["firing_groups"]) == ("user_id", [])
        # 29 days of spend: alice $24 in all, bob $19.50, carol $5; one of alice's old.
        await spend(
            api,
            manager,
            [
                ("alice", 15.0, t0 - dt.timedelta(days=29)),
                ("alice", 9.0, t0 - dt.timedelta(days=2)),
                ("bob", 19.5, t0 - dt.timedelta(days=10)),
                ("carol", 5.0, t0 - dt.timedelta(hours=1)),
            ],
        )
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        assert [r.json["group"] for r in receiver.received] == [{"user_id": "alice"}]
        fired = receiver.received[0]
        assert fired.signed_by(SECRET)
        assert (fired.json["state"], fired.json["value"]) == ("firing", pytest.approx(24.0))
        current = await get(api, manager, f"/alerts/rules/{rule['id']}")
        assert current["state"] == "firing" and current["firing_groups"] == ["alice"]

        # Still over: quiet. Bob crosses: one event for bob alone.
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        await spend(api, manager, [("bob", 1.0, t0 - dt.timedelta(minutes=5))])
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        assert [r.json["group"] for r in receiver.received] == [
            {"user_id": "alice"},
            {"user_id": "bob"},
        ]

        # Two days on, alice's $15 left the window ($9 remain): alice resolves, bob fires on.
        later = t0 + dt.timedelta(days=2)
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=later)
        assert len(receiver.received) == 3
        resolved = receiver.received[2].json
        assert (resolved["group"], resolved["state"]) == ({"user_id": "alice"}, "resolved")
        assert resolved["value"] == pytest.approx(9.0)
        current = await get(api, manager, f"/alerts/rules/{rule['id']}")
        assert current["state"] == "firing" and current["firing_groups"] == ["bob"]

    events = (await get(api, manager, "/alerts/events", rule_id=rule["id"]))["events"]
    assert [(e["group"], e["previous_state"], e["state"]) for e in events] == [
        ({"user_id": "alice"}, "firing", "resolved"),
        ({"user_id": "bob"}, "ok", "firing"),
        ({"user_id": "alice"}, "ok", "firing"),
    ]
    assert all(e["delivery_status"] == "delivered" for e in events)


async def test_a_rule_per_model_and_per_session(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with WebhookReceiver() as receiver:
        await create_rule(api, manager, rule_body(receiver.url, threshold=2.0, group_by="model"))
        await create_rule(
            api,
            manager,
            rule_body(receiver.url, metric="requests", threshold=2, group_by="session_id"),
        )
        await spend(
            api,
            manager,
            [
                ("dan", 1.0, t0 - dt.timedelta(minutes=1)),
                ("dan", 1.5, t0 - dt.timedelta(minutes=2)),
                ("dan", 0.1, t0 - dt.timedelta(minutes=3)),
                ("eve", 0.1, t0 - dt.timedelta(minutes=1)),
            ],
        )
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=t0)
        groups = {next(iter(r.json["group"].items())): r.json["value"] for r in receiver.received}
    assert len(receiver.received) == 2
    assert groups == {("model", "gpt-4o"): pytest.approx(2.7), ("session_id", "s-dan"): 3.0}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"group_by": "tenant"}, "group_by"),
        ({"group_by": "user_id", "metric": "latency_p95"}, "group_by"),
        ({"group_by": "user_id", "model": "gpt-4o"}, "model"),
        ({"window_minutes": MONTH + 1}, "window_minutes"),
    ],
)
async def test_what_a_grouped_rule_may_not_say_is_a_400(
    api: httpx.AsyncClient, manager: ApiClient, overrides: dict[str, Any], named: str
) -> None:
    body = rule_body("http://127.0.0.1:9/hook", **overrides)
    reply = await api.post("/alerts/rules", json=body, headers=manager.headers)
    assert named in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
