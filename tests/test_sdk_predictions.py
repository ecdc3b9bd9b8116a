"""SDK log_predictions (issue 20 §1): features and predictions from lists, NumPy arrays and
pandas DataFrames / Series reach the collector as sketches of exactly those values, over
gRPC and REST; mistakes raise in the caller's code; and the SDK needs neither NumPy nor
pandas to be installed."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from datasketches import frequent_strings_sketch, kll_doubles_sketch
from pymongo import MongoClient

from aegis_sdk import AegisClient, AsyncAegisClient
from aegis_sdk.events import prediction_event
from collector.drift.reader import read_distributions
from collector.store.storage import open_storage
from tests.conftest import ApiClient
from tests.procs import Stack, stack_mongodb_url

AT = dt.datetime(2026, 3, 4, 8, 15, tzinfo=dt.UTC)


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 9_000, rows),
            "plan": pd.Categorical(rng.choice(["free", "pro", "team"], rows)),
            "country": rng.choice(["DE", "FR", "US"], rows).astype(object),
            "active": rng.random(rows) > 0.5,
        }
    )


def test_the_forms_an_application_holds_become_feature_values() -> None:
    frame = _frame(6)
    event = prediction_event(
        features=frame,
        predictions=pd.Series(np.linspace(0, 1, 6)),
        model_id="m",
        model_type="t",
    )
    assert set(event.features) == {"age", "income", "plan", "country", "active"}
    assert list(event.features["age"].numbers) == [float(v) for v in frame["age"]]
    assert list(event.features["plan"].strings) == list(frame["plan"].astype(str))
    assert list(event.features["country"].strings) == list(frame["country"])
    assert list(event.features["active"].numbers) == [float(v) for v in frame["active"]]
    assert list(event.predictions.numbers) == pytest.approx(np.linspace(0, 1, 6).tolist())
    assert list(event.input_shape) == [6, 5]
    assert not event.HasField("prediction_count")  # the collector counts the rows

    # Rows: a 2-D array with names; a list of lists; predictions as a (rows, 1) array.
    rows = prediction_event(
        features=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        feature_names=["x", "y"],
        predictions=np.array([[0], [1], [1]]),
        model_id="m",
        model_type="t",
    )
    assert (list(rows.features["x"].numbers), list(rows.features["y"].numbers)) == (
        [1.0, 3.0, 5.0],
        [2.0, 4.0, 6.0],
    )
    assert list(rows.predictions.numbers) == [0.0, 1.0, 1.0]
    listed = prediction_event(
        features={"a": [1, 2.5], "b": ["x", "y"]},
        predictions=["yes", "no"],
        model_id="m",
        model_type="t",
        input_shape=[2, 7],
    )
    assert list(listed.features["b"].strings) == ["x", "y"]
    assert list(listed.predictions.strings) == ["yes", "no"]
    assert list(listed.input_shape) == [2, 7]  # given: kept
    unnamed = prediction_event(features=[[1, "a"], [2, "b"]], model_id="m", model_type="t")
    assert (list(unnamed.features["0"].numbers), list(unnamed.features["1"].strings)) == (
        [1.0, 2.0],
        ["a", "b"],
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"features": {"a": [1.0, float("nan")]}}, ValueError, "features['a'] holds NaN"),
        ({"features": pd.DataFrame({"a": [1.0, np.inf]})}, ValueError, "NaN or an infinity"),
        ({"features": {"a": [1.0, "x"]}}, TypeError, "all numbers or all strings"),
        ({"features": {"a": [1, 2], "b": [1]}}, ValueError, "lengths differ"),
        ({"features": {"a": [1, 2]}, "predictions": [1]}, ValueError, "lengths differ"),
        ({"predictions": np.zeros((3, 2))}, ValueError, "shape"),
        ({"predictions": pd.DataFrame({"a": [1], "b": [2]})}, ValueError, "one column"),
        ({"features": {"a": "abc"}}, TypeError, "not a single string"),
        ({"features": np.zeros((2, 3)), "feature_names": ["a"]}, ValueError, "1 feature_names"),
    ],
)
def test_mistakes_raise_in_the_callers_code(
    kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        prediction_event(model_id="m", model_type="t", **kwargs)  # type: ignore[arg-type]


def test_the_sdk_needs_neither_numpy_nor_pandas() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["numpy"] = None  # any import of them fails
        sys.modules["pandas"] = None
        from aegis_sdk import AegisClient
        from aegis_sdk.events import prediction_event
        event = prediction_event(
            features={"age": [31, 45.5], "plan": ["pro", "free"]}, predictions=[0.2, 0.9],
            model_id="m", model_type="t",
        )
        print(len(event.features), list(event.predictions.numbers), list(event.input_shape))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "2 [0.2, 0.9] [2, 2]"


async def _sketches(stack: Stack, tenant: str) -> dict[str, object]:
    async with open_storage(stack_mongodb_url(stack), "aegisai", 5000) as storage:
        found = await read_distributions(storage, tenant, "churn", AT, AT + dt.timedelta(minutes=1))
    return {d.name: d for d in found}


@pytest.mark.parametrize("transport", ["grpc", "rest", "async"])
async def test_logged_predictions_arrive_as_sketches_of_exactly_those_values(
    transport: str, stack: Stack, tenant_client: ApiClient
) -> None:
    frames = [_frame(200), _frame(55)]
    scores = [np.random.default_rng(i).random(len(f)) for i, f in enumerate(frames)]
    ids = (tenant_client.client_id, tenant_client.client_secret)
    if transport == "async":
        async with AsyncAegisClient(stack.grpc_target, *ids) as aio:
            for frame, score in zip(frames, scores, strict=True):
                await aio.log_predictions(
                    model_id="churn", model_type="xgb", features=frame, predictions=score,
                    timestamp=AT, latency_ms=3.5,
                )  # fmt: skip
            await aio.flush(timeout=30)
    else:
        options = {"transport": "rest", "rest_url": stack.http} if transport == "rest" else {}
        with AegisClient(stack.grpc_target, *ids, **options) as client:  # type: ignore[arg-type]
            for frame, score in zip(frames, scores, strict=True):
                client.log_predictions(
                    model_id="churn", model_type="xgb", features=frame,
                    predictions=pd.Series(score), timestamp=AT,
                )  # fmt: skip
            client.flush(timeout=30)
            assert client.stats.accepted == 2

    found = await _sketches(stack, tenant_client.tenant)
    assert set(found) == {"age", "income", "plan", "country", "active", "prediction"}
    both = pd.concat(frames)
    income = kll_doubles_sketch.deserialize(found["income"].blob)  # type: ignore[attr-defined]
    assert income.n == len(both)
    assert (income.get_min_value(), income.get_max_value()) == (
        both["income"].min(),
        both["income"].max(),
    )
    plan = frequent_strings_sketch.deserialize(found["plan"].blob)  # type: ignore[attr-defined]
    assert {p: plan.get_estimate(p) for p in ("free", "pro", "team")} == {
        p: int((both["plan"] == p).sum()) for p in ("free", "pro", "team")
    }
    prediction = kll_doubles_sketch.deserialize(found["prediction"].blob)  # type: ignore[attr-defined]
    assert prediction.get_max_value() == max(s.max() for s in scores)


def test_the_documented_example_runs_as_written(stack: Stack, tenant_client: ApiClient) -> None:
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "sdk.md").read_text()
    section = text[text.index("## Features and predictions") :]
    [example] = re.findall(r"```python\n(.*?)```", section[: section.index("\n## ", 1)], re.S)
    env = dict(
        os.environ,
        AEGIS_TARGET=stack.grpc_target,
        AEGIS_CLIENT_ID=tenant_client.client_id,
        AEGIS_CLIENT_SECRET=tenant_client.client_secret,
    )
    done = subprocess.run(
        [sys.executable, "-c", example], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with MongoClient(stack_mongodb_url(stack), serverSelectionTimeoutMS=5000) as client:
        [stored] = client["aegisai"]["ml_events"].find({"tenant": tenant_client.tenant})
    assert (stored["model_id"], stored["prediction_count"], stored["input_shape"]) == (
        "churn-v3",
        4,
        [4, 3],
    )
