"""GET /dashboard/ml-drift end to end (issue 20 §2): ML events with features and predictions sent
through REST (plain arrays, REST's shorthand), twice (a resend adds nothing), then the drift of
each column checked against NumPy over the raw values sent, within 0.02 absolute or 5 %
relative; and the answer's windows, tenancy and errors."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import ApiClient, create_client, ingest, ml_event, read, when_not_busy
from tests.test_drift_compare import numpy_categorical, numpy_psi, within

ROWS_PER_EVENT = 100
EVENTS = 20  # per window: 2,000 rows
REFERENCE_DAY = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
CURRENT_DAY = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)
PLANS = ["free", "pro", "team", "enterprise"]


def _window(seed: int, age_mean: float, plan_weights: list[float]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = EVENTS * ROWS_PER_EVENT
    weights = np.array(plan_weights) / sum(plan_weights)
    return {
        "age": np.round(rng.normal(age_mean, 10.0, rows), 3),
        "tenure": np.round(rng.exponential(12.0, rows), 3),
        "plan": rng.choice(PLANS, size=rows, p=weights),
        "score": np.round(rng.beta(2, 5, rows), 4),
    }


REFERENCE = _window(1, 40.0, [5, 3, 1, 1])
CURRENT = _window(2, 46.0, [1, 1, 3, 5])


def _events(prefix: str, day: dt.datetime, values: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    events = []
    for i in range(EVENTS):
        rows = slice(i * ROWS_PER_EVENT, (i + 1) * ROWS_PER_EVENT)
        at = day + dt.timedelta(hours=i, minutes=7)
        events.append(
            ml_event(
                "churn",
                event_id=f"{prefix}-{i}",
                timestamp=at.isoformat().replace("+00:00", "Z"),
                features={
                    "age": values["age"][rows].tolist(),
                    "tenure": values["tenure"][rows].tolist(),
                    "plan": values["plan"][rows].tolist(),
                },
                predictions=values["score"][rows].tolist(),
            )
        )
    return events


@pytest.fixture(scope="module")
async def sent(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    client = await create_client(http, admin, "drift-api")
    batches = [_events("ref", REFERENCE_DAY, REFERENCE), _events("cur", CURRENT_DAY, CURRENT)]
    # A feature with few rows in the current window only.
    few = ml_event(
        "churn",
        event_id="few",
        timestamp="2026-03-08T23:30:00Z",
        features={"rare": [1.0] * 50},
        predictions=[0.5] * 50,
    )
    for _ in range(2):  # the second time, every event is a duplicate and changes nothing
        for batch in batches:
            result = await ingest(http, client, "ml", batch)
            assert result["rejected"] == 0, result
        await ingest(http, client, "ml", [few])
    return client


async def _drift(http: httpx.AsyncClient, client: ApiClient, **params: str) -> dict[str, Any]:
    return await read(http, client, "/dashboard/ml-drift", model_id="churn", **params)


WINDOWS = {
    "start_date": "2026-03-08",
    "end_date": "2026-03-08",
    "reference_start": "2026-03-01",
    "reference_end": "2026-03-01",
}


async def test_each_feature_and_the_predictions_drift_as_numpy_says(
    http: httpx.AsyncClient, sent: ApiClient
) -> None:
    body = await _drift(http, sent, **WINDOWS)
    assert body["model_id"] == "churn"
    assert body["reference"] == {
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-03-02T00:00:00Z",
        "rows": 2000,
    }
    assert body["current"] == {
        "start": "2026-03-08T00:00:00Z",
        "end": "2026-03-09T00:00:00Z",
        "rows": 2050,  # 2,000 rows, and the 50 of "rare"'s event (its predictions)
    }
    features = {f["name"]: f for f in body["features"]}
    assert list(features) == ["age", "plan", "rare", "tenure"]

    age = features["age"]
    assert age["type"] == "numeric" and age["status"] == "drift"
    assert within(age["psi"], numpy_psi(REFERENCE["age"], CURRENT["age"]))
    raw = np.quantile(CURRENT["age"], np.arange(1, 10) / 10)
    assert np.allclose(age["current_quantiles"], raw, atol=1.0), (age["current_quantiles"], raw)
    assert len(age["reference_quantiles"]) == 9
    assert age["js_distance"] is None and age["reference_top"] == []

    tenure = features["tenure"]
    assert within(tenure["psi"], numpy_psi(REFERENCE["tenure"], CURRENT["tenure"]))
    assert tenure["status"] == "ok"

    plan = features["plan"]
    want_psi, want_js = numpy_categorical(list(REFERENCE["plan"]), list(CURRENT["plan"]))
    assert plan["type"] == "categorical" and plan["status"] == "drift"
    assert within(plan["psi"], want_psi) and within(plan["js_distance"], want_js)
    counts = Counter(CURRENT["plan"].tolist())
    assert {t["value"]: t["share"] for t in plan["current_top"]} == pytest.approx(
        {value: n / 2000 for value, n in counts.items()}
    )
    assert not any(t["other"] for t in plan["current_top"])  # 4 values: nothing left over
    assert plan["reference_quantiles"] == []

    rare = features["rare"]
    assert (rare["psi"], rare["status"]) == (None, "insufficient_data")

    predictions = body["predictions"]
    assert predictions["name"] == "prediction" and predictions["type"] == "numeric"
    scores = np.concatenate([CURRENT["score"], np.full(50, 0.5)])
    assert within(predictions["psi"], numpy_psi(REFERENCE["score"], scores))


async def test_the_reference_defaults_to_the_seven_days_before_and_windows_widen_to_hours(
    http: httpx.AsyncClient, sent: ApiClient
) -> None:
    body = await _drift(
        http, sent, start_date="2026-03-08T00:30:00Z", end_date="2026-03-08T23:59:59Z"
    )
    assert (body["current"]["start"], body["current"]["end"]) == (
        "2026-03-08T00:00:00Z",
        "2026-03-09T00:00:00Z",
    )
    assert body["reference"] == {
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-03-08T00:00:00Z",
        "rows": 2000,
    }
    assert {f["name"]: f["status"] for f in body["features"]}["age"] == "drift"

    # Hour sketches older than ROLLUP_RETENTION_DAYS (7) are deleted, so an hour of March is
    # read, and reported, as its whole day.
    old_hour = await _drift(
        http, sent, start_date="2026-03-08T10:00:00Z", end_date="2026-03-08T10:59:59.999Z"
    )
    assert (old_hour["current"]["start"], old_hour["current"]["end"]) == (
        "2026-03-08T00:00:00Z",
        "2026-03-09T00:00:00Z",
    )
    assert old_hour["current"]["rows"] == 2050


async def test_a_recent_hour_is_read_as_that_hour(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    hour = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(
        minute=0, second=0, microsecond=0
    )
    events = [
        ml_event(
            "recent",
            event_id=f"r{i}",
            timestamp=(hour + dt.timedelta(minutes=m)).isoformat().replace("+00:00", "Z"),
            features={"x": [float(i)] * 100},
        )
        for i, m in enumerate((-1, 0, 59, 60))  # one before, two inside, one after the hour
    ]
    assert (await ingest(http, tenant_client, "ml", events))["accepted"] == 4
    start = (hour + dt.timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    end = (hour + dt.timedelta(minutes=20)).isoformat().replace("+00:00", "Z")
    body = await read(
        http,
        tenant_client,
        "/dashboard/ml-drift",
        model_id="recent",
        start_date=start,
        end_date=end,
    )
    stamp = hour.isoformat().replace("+00:00", "Z")
    after = (hour + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert body["current"] == {"start": stamp, "end": after, "rows": 200}
    assert body["reference"]["end"] == stamp and body["reference"]["rows"] == 100
    assert body["predictions"] is None


async def test_another_tenant_and_an_unknown_model_are_404_and_bad_requests_400(
    http: httpx.AsyncClient, sent: ApiClient, tenant_client: ApiClient
) -> None:
    async def status(client: ApiClient, **params: str) -> tuple[int, str]:
        reply = await when_not_busy(
            http, "GET", "/dashboard/ml-drift", params=params, headers=client.headers
        )
        return reply.status_code, reply.json().get("message", "")

    assert (await status(tenant_client, model_id="churn", **WINDOWS))[0] == 404
    assert (await status(sent, model_id="no-such-model", **WINDOWS))[0] == 404
    code, message = await status(sent, **WINDOWS)
    assert code == 400 and message.startswith("model_id"), message
    code, message = await status(sent, model_id="churn", reference_start="2026-03-01")
    assert code == 400 and message.startswith("reference_end"), message
    code, message = await status(
        sent, model_id="churn", reference_start="last week", reference_end="2026-03-01"
    )
    assert code == 400 and message.startswith("reference_start"), message


async def test_a_feature_mixing_numbers_and_strings_is_rejected_naming_it(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    result = await ingest(
        http,
        tenant_client,
        "ml",
        [
            ml_event("m", event_id="mixed", features={"age": [31, "forty"]}),
            ml_event("m", event_id="fine", features={"age": [31, 40]}, predictions=["a", "b"]),
        ],
    )
    assert (result["accepted"], result["rejected"]) == (1, 1), result
    error = result["errors"][0]
    assert error["field"] == 'features["age"]' and "all numbers or all strings" in error["reason"]
