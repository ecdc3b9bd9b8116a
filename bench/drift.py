"""The cost of summarising ML features for drift (issue 20 §5): one batch of 1,000 rows by 20
features (16 numeric, 4 categorical) and predictions, timed in-process through the code ingest
runs. Goal: ≤ 20 ms per batch for the summaries.

Steps: read the protobuf event (collector.api.proto_events), check its features
(collector.ingest.features), and build the batch's drift partials (collector.drift.partials:
concatenate per feature and hour, sketch, serialise). The partials are timed for the batch as
one event of 1,000 rows and as 100 events of 10 rows (more, smaller arrays to join).

    python -m bench.drift      # prints the figures as JSON, and PASS / MISS against the goal
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from typing import Any

from aegis.v1 import events_pb2
from collector.api.proto_events import ml_event_from_proto
from collector.drift.partials import drift_partials, take_inputs
from collector.ingest import features

ROWS, NUMERIC, CATEGORICAL = 1000, 16, 4
GOAL_MS = 20.0
REPEATS = 7
AT = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def _events(per_event: int, seed: int = 20) -> list[events_pb2.MLEvent]:
    rng = random.Random(seed)
    fv = events_pb2.FeatureValues
    out = []
    for e in range(ROWS // per_event):
        event = events_pb2.MLEvent(event_id=f"e{e}", model_id="churn", model_type="xgb")
        for i in range(NUMERIC):
            event.features[f"n{i}"].CopyFrom(
                fv(numbers=[rng.gauss(i, 3) for _ in range(per_event)])
            )
        for i in range(CATEGORICAL):
            values = [f"c{rng.randrange(30 * (i + 1))}" for _ in range(per_event)]
            event.features[f"c{i}"].CopyFrom(fv(strings=values))
        event.predictions.CopyFrom(fv(numbers=[rng.random() for _ in range(per_event)]))
        event.timestamp.FromDatetime(AT)
        out.append(event)
    return out


def _checked(messages: list[events_pb2.MLEvent]) -> list[dict[str, Any]]:
    docs = []
    for message in messages:
        doc = ml_event_from_proto(message)
        features.check(doc)
        docs.append(doc)
    return docs


def _partials(docs: list[dict[str, Any]]) -> Callable[[], object]:
    inputs = {}
    stored = []
    for doc in docs:
        taken = take_inputs(dict(doc))
        assert taken is not None
        inputs[doc["event_id"]] = taken
        stored.append({"_id": doc["event_id"], "model_id": "churn", "timestamp": AT})
    return lambda: drift_partials("bench", stored, inputs)


def _best_ms(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def measure() -> dict[str, float]:
    one, many = _events(ROWS), _events(10)
    docs_one, docs_many = _checked(one), _checked(many)
    partials = drift_partials("bench", [], {})
    assert partials == []
    return {
        "read_and_check_ms": _best_ms(lambda: _checked(one)),
        "summarise_ms": _best_ms(_partials(docs_one)),
        "summarise_100_events_ms": _best_ms(_partials(docs_many)),
        "read_and_check_100_events_ms": _best_ms(lambda: _checked(many)),
    }


def main() -> None:
    figures = {k: round(v, 2) for k, v in measure().items()}
    print(json.dumps({"drift_batch_1000x20": figures}, indent=2))
    verdict = "PASS" if figures["summarise_ms"] <= GOAL_MS else "MISS"
    took = figures["summarise_ms"]
    print(f"summarise 1,000 rows x 20 features: {took} ms (goal <= {GOAL_MS}) {verdict}")


if __name__ == "__main__":
    main()
