"""Drift rules end to end (issue 20 §3): ML events with features sent through the API at chosen
hours, the alerts job run with its clock, signed webhooks to a local receiver naming the
features at warning or drift.

The backend is test_alert_anomaly's (a private database, collector and gateway; webhooks to
127.0.0.1 allowed; the scheduled jobs off, so unfolded drift partials are what is read).
Hours are counted from H, six hours before the current one, so every sketch is an hour
sketch still kept (ROLLUP_RETENTION_DAYS) and no event is in the future.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from collector.alerts.job import run_alerts
from collector.store.storage import Storage
from tests import test_alert_anomaly as shared
from tests.conftest import ApiClient, assert_error, ingest, ml_event
from tests.receiver import Received, WebhookReceiver
from tests.test_alert_anomaly import FAST, SECRET, WEBHOOK_KEYS, create_rule, get_rule

# The backend's fixtures (a module of their own here: module scope).
backend, storage, api, manager = shared.backend, shared.storage, shared.api, shared.manager

pytestmark = pytest.mark.timeout(180)

HOUR = dt.timedelta(hours=1)
H = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - 6 * HOUR


def stamp(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def send(
    api: httpx.AsyncClient, client: ApiClient, hour: dt.datetime, seed: int, age_mean: float
) -> None:
    """5 events of 100 rows, 10 minutes into `hour`: age ~ N(age_mean, 10), plan steady."""
    rng = np.random.default_rng(seed)
    events = [
        ml_event(
            "churn",
            event_id=f"{seed}-{i}",
            timestamp=stamp(hour + dt.timedelta(minutes=10, seconds=i)),
            features={
                "age": np.round(rng.normal(age_mean, 10.0, 100), 2).tolist(),
                "plan": rng.choice(["free", "pro"], size=100, p=[0.7, 0.3]).tolist(),
            },
            predictions=np.round(rng.normal(age_mean / 100, 0.1, 100), 3).tolist(),
        )
        for i in range(5)
    ]
    assert (await ingest(api, client, "ml", events))["accepted"] == 5


def drift_rule(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "age moved",
        "metric": "feature_drift",
        "model": "churn",
        "comparison": "gt",
        "threshold": 0.25,
        "window_minutes": 60,
        # The reference: the hour H - 2 h only (an instant end is inclusive).
        "reference_start": stamp(H - 2 * HOUR),
        "reference_end": stamp(H - HOUR - dt.timedelta(milliseconds=1)),
        "webhook_url": url,
        "webhook_secret": SECRET,
        **overrides,
    }


def drift_body(received: Received, state: str) -> dict[str, Any]:
    assert received.signed_by(SECRET)
    body: dict[str, Any] = received.json
    assert set(body) == WEBHOOK_KEYS | {"features"}
    assert body["state"] == state
    return body


async def test_a_drift_rule_fires_and_resolves_through_signed_webhooks(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """The reference hour and the hour after H are alike (ok); the next hour's ages are 15
    higher (firing, naming age); the hour after is alike again (resolved)."""
    await send(api, manager, H - 2 * HOUR, 1, 40.0)
    await send(api, manager, H, 2, 40.0)
    await send(api, manager, H + HOUR, 3, 55.0)
    await send(api, manager, H + 2 * HOUR, 4, 40.0)
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, drift_rule(receiver.url))
        assert (rule["metric"], rule["feature"], rule["reference_start"]) == (
            "feature_drift",
            None,
            stamp(H - 2 * HOUR),
        )

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=H + HOUR)
        assert receiver.received == []
        current = await get_rule(api, manager, rule["id"])
        assert current["state"] == "ok" and current["last_value"] < 0.1, current

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=H + 2 * HOUR)
        (fired,) = receiver.received
        body = drift_body(fired, "firing")
        assert body["value"] > 0.25 and body["threshold"] == 0.25
        assert [(f["name"], f["status"]) for f in body["features"]] == [("age", "drift")]
        assert body["features"][0]["psi"] == body["value"]  # the largest PSI is age's

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=H + 2 * HOUR)
        assert len(receiver.received) == 1, "still firing: quiet"

        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=H + 3 * HOUR)
        assert len(receiver.received) == 2
        body = drift_body(receiver.received[1], "resolved")
        assert body["value"] < 0.1 and body["features"] == []

    reply = await api.get("/alerts/events", params={"rule_id": rule["id"]}, headers=manager.headers)
    events = reply.json()["events"]
    assert [(e["previous_state"], e["state"]) for e in events] == [
        ("firing", "resolved"),
        ("ok", "firing"),
    ]
    assert [f["name"] for f in events[1]["features"]] == ["age"] and events[0]["features"] == []
    assert all(e["delivery_status"] == "delivered" for e in events)


async def test_a_rule_on_one_feature_and_one_on_the_predictions(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """Ages and predictions move, plans do not: a rule on `plan` stays quiet, one on the
    predictions fires; both judge against the 7 days before their window by default."""
    await send(api, manager, H - 2 * HOUR, 11, 40.0)
    await send(api, manager, H, 12, 60.0)
    with WebhookReceiver() as receiver:
        unfixed = {"reference_start": "", "reference_end": ""}
        plan = await create_rule(api, manager, drift_rule(receiver.url, feature="plan", **unfixed))
        predictions = await create_rule(
            api, manager, drift_rule(receiver.url, metric="prediction_drift", **unfixed)
        )
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=H + HOUR)
        (fired,) = receiver.received
        body = drift_body(fired, "firing")
        assert body["id"] == predictions["id"] and body["value"] > 0.25
        assert [f["name"] for f in body["features"]] == ["age"]
        quiet = await get_rule(api, manager, plan["id"])
        assert quiet["state"] == "ok" and quiet["last_value"] < 0.1


async def test_a_model_without_features_has_no_value_and_never_fires(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    ml = [ml_event("bare", timestamp=stamp(H + dt.timedelta(minutes=5)))]
    assert (await ingest(api, manager, "ml", ml))["accepted"] == 1
    with WebhookReceiver() as receiver:
        rule = await create_rule(api, manager, drift_rule(receiver.url, model="bare"))
        assert rule["warnings"] == []
        await run_alerts(storage, allow_private_webhooks=True, policy=FAST, now=H + HOUR)
        assert receiver.received == []
        current = await get_rule(api, manager, rule["id"])
        assert (current["state"], current["last_value"]) == ("ok", None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model": None}, "model"),
        ({"comparison": "anomaly", "threshold": 3}, "comparison"),
        ({"group_by": "model"}, "group_by"),
        ({"metric": "prediction_drift", "feature": "age"}, "feature"),
        ({"metric": "cost", "feature": "age"}, "feature"),
        (
            {"metric": "cost", "reference_start": "2026-01-01", "reference_end": ""},
            "reference_start",
        ),
        ({"reference_end": ""}, "reference_end"),
        ({"reference_start": "last week"}, "reference_start"),
        ({"reference_start": "2026-03-02", "reference_end": "2026-03-01"}, "reference_start"),
        ({"feature": ""}, "feature"),
    ],
)
async def test_a_drift_rule_that_cannot_be_judged_is_refused_naming_the_field(
    api: httpx.AsyncClient, manager: ApiClient, overrides: dict[str, Any], field: str
) -> None:
    body = {
        k: v for k, v in drift_rule("https://1.1.1.1/hook", **overrides).items() if v is not None
    }
    reply = await api.post("/alerts/rules", json=body, headers=manager.headers)
    message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith(field), message
