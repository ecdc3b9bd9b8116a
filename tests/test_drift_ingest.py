"""ML events' features and predictions (issue 20 §1), over REST and gRPC:
- each bound is enforced per event, naming the field (features["age"], predictions), its
  siblings stored;
- the values are never stored: the batch's transaction writes drift_partials, one per
  (model, feature or the predictions, kind, hour), whose sketches hold exactly the values of
  the events it stored; a duplicate event writes nothing, even with other values;
- prediction_count absent means the rows sent.
The shared stack's drift job may fold partials into hour and day sketches at any moment, so
sketches are read as the reader reads them (partials, hours and days in one snapshot).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from datasketches import frequent_strings_sketch, kll_doubles_sketch
from pymongo import MongoClient

from aegis.v1 import events_pb2, ingest_pb2
from collector.api.proto_events import ARRAY_FROM
from collector.drift.reader import Distribution, read_distributions
from collector.ingest.features import MAX_CATEGORY, MAX_FEATURE_NAME, MAX_FEATURES, MAX_VALUES
from collector.store.storage import open_storage
from tests.conftest import ApiClient, Stubs, ingest, ml_event
from tests.procs import Stack, stack_mongodb_url

HOUR = "2026-03-02T10:"


async def _sketches(
    stack: Stack, tenant: str, model: str = "churn"
) -> dict[tuple[str, str, str], Distribution]:
    """The tenant's sketches of the model over the test's hour, by (role, name, kind)."""
    start = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    async with open_storage(stack_mongodb_url(stack), "aegisai", 5000) as storage:
        found = await read_distributions(
            storage, tenant, model, start, start + dt.timedelta(hours=1)
        )
    return {(d.role, d.name, d.kind): d for d in found}


def _range(d: Distribution) -> tuple[int, float, float]:
    sketch = kll_doubles_sketch.deserialize(d.blob)
    return (sketch.n, sketch.get_min_value(), sketch.get_max_value())


def _stored(stack: Stack, tenant: str) -> list[dict[str, Any]]:
    with MongoClient(stack_mongodb_url(stack), serverSelectionTimeoutMS=5000) as client:
        return list(client["aegisai"]["ml_events"].find({"tenant": tenant}))


def _event(event_id: str, minute: int, **fields: Any) -> dict[str, Any]:
    return ml_event("churn", event_id=event_id, timestamp=f"{HOUR}{minute:02d}:00Z", **fields)


async def test_features_become_sketches_of_the_stored_events_only(
    http: httpx.AsyncClient, stack: Stack, tenant_client: ApiClient
) -> None:
    first = _event(
        "e1",
        5,
        features={"age": {"numbers": [31, 45.5, 22]}, "country": {"strings": ["DE", "FR", "DE"]}},
        predictions={"numbers": [0.1, 0.9, 0.4]},
    )
    second = _event(
        "e2",
        50,
        features={"age": {"numbers": [60.0]}, "country": {"strings": ["DE"]}},
        predictions={"strings": ["churn"]},
        prediction_count=7,
    )
    result = await ingest(http, tenant_client, "ml", [first, second])
    assert (result["accepted"], result["rejected"]) == (2, 0), result

    stored = {doc["event_id"]: doc for doc in _stored(stack, tenant_client.tenant)}
    assert stored["e1"]["prediction_count"] == 3  # absent: the rows sent
    assert stored["e2"]["prediction_count"] == 7  # given: kept
    for doc in stored.values():
        assert "features" not in doc and "predictions" not in doc  # never stored

    by_key = await _sketches(stack, tenant_client.tenant)
    assert set(by_key) == {
        ("feature", "age", "numeric"),
        ("feature", "country", "categorical"),
        ("prediction", "prediction", "numeric"),
        ("prediction", "prediction", "categorical"),
    }
    age = by_key["feature", "age", "numeric"]
    assert (age.rows, *_range(age)) == (4, 4, 22.0, 60.0)
    country = frequent_strings_sketch.deserialize(by_key["feature", "country", "categorical"].blob)
    assert (country.get_estimate("DE"), country.get_estimate("FR")) == (3, 1)
    assert _range(by_key["prediction", "prediction", "numeric"]) == (3, 0.1, 0.9)
    label = frequent_strings_sketch.deserialize(
        by_key["prediction", "prediction", "categorical"].blob
    )
    assert label.get_estimate("churn") == 1

    # The same events again, one with other values: duplicates, nothing written.
    again = dict(first, features={"age": {"numbers": [999.0, 999.0, 999.0]}})
    result = await ingest(http, tenant_client, "ml", [again, second])
    assert (result["accepted"], result["duplicates"]) == (0, 2), result
    after = await _sketches(stack, tenant_client.tenant)
    assert {key: d.rows for key, d in after.items()} == {key: d.rows for key, d in by_key.items()}
    assert _range(after["feature", "age", "numeric"]) == (4, 22.0, 60.0)

    # One new event next to a duplicate: only the new one's values are summarised.
    third = _event("e3", 59, features={"age": {"numbers": [1.0, 2.0]}})
    result = await ingest(http, tenant_client, "ml", [again, third])
    assert (result["accepted"], result["duplicates"]) == (1, 1), result
    age = (await _sketches(stack, tenant_client.tenant))["feature", "age", "numeric"]
    assert (age.rows, *_range(age)) == (6, 6, 1.0, 60.0)


def _bad_cases() -> list[tuple[dict[str, Any], str, str]]:
    """(event fields, the field named, a word of the reason)."""
    long_name = "x" * (MAX_FEATURE_NAME + 1)
    return [
        ({"features": {"": {"numbers": [1.0]}}}, 'features[""]', "name"),
        ({"features": {long_name: {"numbers": [1.0]}}}, f'features["{long_name}"]', "name"),
        (
            {"features": {f"f{i}": {"numbers": [1.0]} for i in range(MAX_FEATURES + 1)}},
            "features",
            str(MAX_FEATURES),
        ),
        (
            {"features": {"age": {"numbers": [1.0] * (MAX_VALUES + 1)}}},
            'features["age"]',
            str(MAX_VALUES),
        ),
        (
            {"features": {"age": {"numbers": [1.0], "strings": ["a"]}}},
            'features["age"]',
            "both",
        ),
        (
            {"features": {"city": {"strings": ["y" * (MAX_CATEGORY + 1)]}}},
            'features["city"]',
            "256",
        ),
        (
            {"features": {"age": {"numbers": [1.0, 2.0]}, "b": {"numbers": [3.0]}}},
            'features["b"]',
            "row",
        ),
        (
            {"features": {"age": {"numbers": [1.0, 2.0]}}, "predictions": {"numbers": [1.0]}},
            "predictions",
            "row",
        ),
        ({"predictions": {"numbers": []}}, "predictions", "1 to"),
    ]


async def test_bad_features_reject_their_event_naming_the_field_over_rest(
    http: httpx.AsyncClient, stack: Stack, tenant_client: ApiClient
) -> None:
    cases = _bad_cases()
    events = [_event(f"bad-{i}", 1, **fields) for i, (fields, _, _) in enumerate(cases)]
    events.append(_event("good", 1, features={"age": {"numbers": [MAX_VALUES] * 2}}))
    # Values of the wrong type (read by proto3's JSON mapping), and a non-finite number
    # (which proto3 JSON spells "NaN").
    shapes = [
        ({"age": {"numbers": [1.0, "a"]}}, 'features["age"]', "numbers[1]: expected a number"),
        ({"age": {"numbers": [True]}}, 'features["age"]', "expected a number, got true"),
        ({"age": {"strings": ["a", 2]}}, 'features["age"]', "expected a string"),
        ({"a.b": 1.0}, 'features["a.b"]', "expected a JSON object"),
        # REST's shorthand, a plain array, must be all numbers or all strings.
        ({"age": [1.0, "x"]}, 'features["age"]', "all numbers or all strings"),
        ({"age": [True]}, 'features["age"]', "all numbers or all strings"),
        (
            {"age": {"numbers": [1.0, "NaN"]}},
            'features["age"]',
            "value 1 is not a finite number (nan)",
        ),
    ]
    for i, (features, _, _) in enumerate(shapes):
        events.append(_event(f"shape-{i}", 1, features=features))
    result = await ingest(http, tenant_client, "ml", events)
    assert result["accepted"] == 1, result
    errors = {e["index"]: e for e in result["errors"]}
    for index, (_, field, word) in enumerate(cases):
        assert errors[index]["field"] == field, (index, errors[index])
        assert word in errors[index]["reason"], (index, errors[index])
    for index, (_, field, words) in enumerate(shapes, start=len(cases) + 1):
        assert errors[index]["field"] == field, (index, errors[index])
        assert words in errors[index]["reason"], (index, errors[index])
    assert [d["event_id"] for d in _stored(stack, tenant_client.tenant)] == ["good"]
    [(key, sketch)] = (await _sketches(stack, tenant_client.tenant)).items()
    assert (key, sketch.rows) == (("feature", "age", "numeric"), 2)


async def test_bad_features_reject_their_event_naming_the_field_over_grpc(
    stubs: Stubs, stack: Stack, tenant_client: ApiClient
) -> None:
    def event(event_id: str, **fields: Any) -> events_pb2.MLEvent:
        message = events_pb2.MLEvent(event_id=event_id, model_id="m", model_type="t", **fields)
        message.timestamp.FromJsonString(f"{HOUR}30:00Z")
        return message

    fv = events_pb2.FeatureValues
    nan = float("nan")
    request = ingest_pb2.IngestMLRequest(
        events=[
            event("inf", features={"age": fv(numbers=[1.0, float("inf")])}),
            event("both", features={"age": fv(numbers=[1.0], strings=["a"])}),
            event("rows", features={"a": fv(numbers=[1.0])}, predictions=fv(numbers=[1, 2])),
            event("empty", predictions=fv()),
            event("ok", features={"plan": fv(strings=["pro", "free"])}),
            # From ARRAY_FROM values, numbers are checked as one NumPy array: the same reason.
            event("nan", features={"age": fv(numbers=[1.0] * 5 + [nan] + [2.0] * ARRAY_FROM)}),
        ]
    )
    result = await stubs.ingest.IngestML(request, metadata=tenant_client.metadata)
    assert (result.accepted, result.rejected) == (1, 5)
    assert [(e.index, e.field) for e in result.errors] == [
        (0, 'features["age"]'),
        (1, 'features["age"]'),
        (2, "predictions"),
        (3, "predictions"),
        (5, 'features["age"]'),
    ]
    assert all(e.reason for e in result.errors)
    assert result.errors[0].reason == "value 1 is not a finite number (inf)"  # as over REST
    assert result.errors[4].reason == "value 5 is not a finite number (nan)"
    [stored] = _stored(stack, tenant_client.tenant)
    assert (stored["event_id"], stored["prediction_count"]) == ("ok", 2)
    [(key, sketch)] = (await _sketches(stack, tenant_client.tenant, "m")).items()
    assert key == ("feature", "plan", "categorical")
    plan = frequent_strings_sketch.deserialize(sketch.blob)
    assert (sketch.rows, plan.get_estimate("pro"), plan.get_estimate("free")) == (2, 1, 1)


async def test_rest_and_grpc_give_the_same_sketches_of_the_same_values(
    http: httpx.AsyncClient, stubs: Stubs, stack: Stack, tenant_client: ApiClient
) -> None:
    # A batch of several events per transport, so each column joins arrays: JSON lists of
    # ints and floats; over gRPC, lists below ARRAY_FROM rows and float64 arrays from it.
    # Fewer values than the KLL's k, so both sketches hold every value and must agree exactly.
    sizes = (ARRAY_FROM - 8, ARRAY_FROM, ARRAY_FROM + 52)
    columns = [
        {
            "age": [r if r % 2 else r + 0.123456789012345 for r in range(e, e + rows)],
            "score": [(e * rows + r) / 7 for r in range(rows)],
            "plan": [("free", "pro", "team")[(e + r) % 3] for r in range(rows)],
            "prediction": [1 / (1 + e + r) for r in range(rows)],
        }
        for e, rows in enumerate(sizes)
    ]
    events = len(sizes)
    rest = [
        ml_event(
            "same-rest",
            event_id=f"same-rest-{e}",
            timestamp=f"{HOUR}{10 + e:02d}:00Z",
            features={
                "age": {"numbers": c["age"]},
                "score": {"numbers": c["score"]},
                "plan": {"strings": c["plan"]},
            },
            predictions={"numbers": c["prediction"]},
        )
        for e, c in enumerate(columns)
    ]
    result = await ingest(http, tenant_client, "ml", rest)
    assert result["accepted"] == events, result
    fv = events_pb2.FeatureValues
    messages = []
    for e, c in enumerate(columns):
        message = events_pb2.MLEvent(
            event_id=f"same-grpc-{e}", model_id="same-grpc", model_type="t"
        )
        message.timestamp.FromJsonString(f"{HOUR}{10 + e:02d}:00Z")
        message.features["age"].CopyFrom(fv(numbers=c["age"]))
        message.features["score"].CopyFrom(fv(numbers=c["score"]))
        message.features["plan"].CopyFrom(fv(strings=c["plan"]))
        message.predictions.CopyFrom(fv(numbers=c["prediction"]))
        messages.append(message)
    reply = await stubs.ingest.IngestML(
        ingest_pb2.IngestMLRequest(events=messages), metadata=tenant_client.metadata
    )
    assert reply.accepted == events, reply

    def content(d: Distribution) -> tuple[int, Any]:
        if d.kind == "categorical":
            plan = frequent_strings_sketch.deserialize(d.blob)
            return d.rows, sorted((v, plan.get_estimate(v)) for v in ("free", "pro", "team"))
        kll = kll_doubles_sketch.deserialize(d.blob)
        return d.rows, [kll.get_quantile(r / 200) for r in range(201)]

    by_rest = await _sketches(stack, tenant_client.tenant, "same-rest")
    by_grpc = await _sketches(stack, tenant_client.tenant, "same-grpc")
    assert set(by_rest) == {
        ("feature", "age", "numeric"),
        ("feature", "score", "numeric"),
        ("feature", "plan", "categorical"),
        ("prediction", "prediction", "numeric"),
    }
    assert {k: content(d) for k, d in by_grpc.items()} == {
        k: content(d) for k, d in by_rest.items()
    }
    age = sorted(v for c in columns for v in c["age"])
    assert _range(by_grpc["feature", "age", "numeric"]) == (sum(sizes), age[0], age[-1])
    plans = Counter(v for c in columns for v in c["plan"])
    assert content(by_grpc["feature", "plan", "categorical"])[1] == sorted(plans.items())


@pytest.mark.parametrize("transport", ["rest", "grpc"])
async def test_a_thousand_rows_of_twenty_features_are_one_partial_each(
    transport: str, http: httpx.AsyncClient, stubs: Stubs, stack: Stack, tenant_client: ApiClient
) -> None:
    rows = 1000
    features = {f"f{i:02d}": [float(i * rows + r) for r in range(rows)] for i in range(19)}
    cities = [f"city-{r % 37}" for r in range(rows)]
    event_id = uuid.uuid4().hex
    if transport == "rest":
        body = {name: {"numbers": values} for name, values in features.items()}
        body["city"] = {"strings": cities}
        result = await ingest(http, tenant_client, "ml", [_event(event_id, 3, features=body)])
        assert result["accepted"] == 1, result
    else:
        fv = events_pb2.FeatureValues
        message = events_pb2.MLEvent(event_id=event_id, model_id="churn", model_type="t")
        message.timestamp.FromJsonString(f"{HOUR}03:00Z")
        for name, values in features.items():
            message.features[name].CopyFrom(fv(numbers=values))
        message.features["city"].CopyFrom(fv(strings=cities))
        reply = await stubs.ingest.IngestML(
            ingest_pb2.IngestMLRequest(events=[message]), metadata=tenant_client.metadata
        )
        assert reply.accepted == 1, reply
    found = {name: d for (_, name, _), d in (await _sketches(stack, tenant_client.tenant)).items()}
    assert len(found) == 20 and {d.rows for d in found.values()} == {rows}
    assert _range(found["f07"]) == (rows, 7000.0, 7999.0)
    city = frequent_strings_sketch.deserialize(found["city"].blob)
    assert city.get_estimate("city-0") == cities.count("city-0")
    [stored] = _stored(stack, tenant_client.tenant)
    assert stored["prediction_count"] == rows
