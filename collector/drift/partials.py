"""What ingest writes for drift with each batch, in the batch's own transaction.

One insert-only `drift_partials` document per (model, hour) of the batch's newly stored
events: {tenant, model_id, hour, sketches}, `sketches` holding one summary per feature and the
predictions (and sketch kind): [{role, name, kind, rows, blob}]. `role` is "feature" (`name` is
the feature's) or "prediction" (`name` is "prediction"), so a feature may be called anything;
`kind` is the sketch's (numeric or categorical: a feature sent as numbers by one event and
strings by another has one of each); `blob` the serialised sketch (collector.drift.sketches).
Built from exactly the events the transaction inserts, so a duplicate event adds nothing,
whatever values it carries. The raw values are never stored.

A document per (model, hour) rather than per feature too: on the embedded database a batch's
cost grows with the documents it inserts, and a backfill's events each in their own hour
would otherwise write (features + 1) documents per event (measured: 500 events in 500 hours,
20 features, 10,500 documents: 0.9 s per batch against 0.3 s without features; 2,000 in
2,000 hours refused as busy).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import bson
import numpy as np

from collector.drift import sketches
from collector.drift.sketches import SketchKind

PREDICTION = "prediction"  # the role and name of the predictions' summaries
# As collector.ingest.features leaves them: non-empty, all numbers (a float64 NumPy array
# from protobuf, a list from JSON) or all strings.
Values = list[float] | list[str] | np.ndarray
GroupKey = tuple[str, str, str, SketchKind, dt.datetime]  # model, role, name, kind, hour


@dataclass
class DriftInputs:
    """An event's checked features and predictions, taken off it before it is stored."""

    features: dict[str, Values] = field(default_factory=dict)
    predictions: Values | None = None


def take_inputs(event: dict[str, Any]) -> DriftInputs | None:
    """Remove the event's features and predictions (never stored) and return them."""
    features = event.pop("features", None)
    predictions = event.pop("predictions", None)
    if not features and predictions is None:
        return None
    return DriftInputs(features or {}, predictions)


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _kind(values: Values) -> SketchKind:
    return "categorical" if isinstance(values[0], str) else "numeric"


def _joined(kind: SketchKind, arrays: list[Values]) -> Any:
    """One group's arrays as one: strings as one list; numbers as one list when every array
    is a list (small ones: the sketch converts the whole once), else as ONE float64 array
    (np.concatenate, ~150 µs less than a joined list for a batch of 100 arrays of 100,
    measured; the lists among them convert here). Either way the sketch gets the same doubles,
    whichever transport and form they came in."""
    if len(arrays) == 1:
        return arrays[0]
    if kind == "categorical" or not any(type(a) is np.ndarray for a in arrays):
        return list(chain.from_iterable(arrays))
    return np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays])


def drift_partials(
    tenant: str, docs: Sequence[dict[str, Any]], inputs: dict[str, DriftInputs]
) -> list[dict[str, Any]]:
    """The drift partials of these newly stored events (`inputs` by event `_id`)."""
    groups: dict[GroupKey, list[Values]] = {}
    for doc in docs:
        taken = inputs.get(doc["_id"])
        if taken is None:
            continue
        model, hour = doc["model_id"], hour_of(doc["timestamp"])
        for name, values in taken.features.items():
            groups.setdefault((model, "feature", name, _kind(values), hour), []).append(values)
        if taken.predictions is not None:
            key = (model, PREDICTION, PREDICTION, _kind(taken.predictions), hour)
            groups.setdefault(key, []).append(taken.predictions)
    out: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
    for (model, role, name, kind, hour), arrays in groups.items():
        # One array per group: the sketch takes it in one update (sketches.numeric_sketch).
        summary = sketches.summarise(_joined(kind, arrays))
        partial = out.get((model, hour))
        if partial is None:
            partial = out[model, hour] = {
                "tenant": tenant,
                "model_id": model,
                "hour": hour,
                "sketches": [],
            }
        partial["sketches"].append(
            {
                "role": role,
                "name": name,
                "kind": summary.kind,
                "rows": summary.rows,
                "blob": bson.Binary(summary.blob),
            }
        )
    return list(out.values())
