"""The checks of an ML event's features and predictions (what drift summarises). Each array
is numbers or strings, one value per row; every array of one event has the same length, its
rows, which is also its prediction_count when that is not given.

Checked arrays replace their FeatureValues in the event: strings as a list, numbers as they
came: ONE float64 NumPy array from protobuf when the column has proto_events.ARRAY_FROM values
or more, checked with one np.isfinite (measured for 100 values: 1.0 µs against 1.4 µs with
math.isfinite over a list, and no list to build); otherwise a list (a JSON one, or a small
protobuf column), checked with math.isfinite (NumPy's per-array cost outweighs it for a few
values). The sketch joins a whole batch's arrays of a column once (collector.drift.partials).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from aegis_shared import json_schema
from collector.ingest.invalid import Invalid

# The bounds are the proto's (aegis_shared.json_schema), which the OpenAPI document shows.
_FEATURES = json_schema.of("aegis.v1.MLEvent", "features")
_NUMBERS = json_schema.of("aegis.v1.FeatureValues", "numbers")
_STRINGS = json_schema.of("aegis.v1.FeatureValues", "strings")
MAX_FEATURES: int = _FEATURES["maxProperties"]
MAX_FEATURE_NAME: int = _FEATURES["propertyNames"]["maxLength"]
MAX_VALUES: int = _NUMBERS["maxItems"]  # per feature, and of predictions: an event's rows
MAX_CATEGORY: int = _STRINGS["items"]["maxLength"]
# Numbers as a float64 NumPy array (the protobuf path's) or a list (the JSON path's).
Values = list[float] | list[str] | np.ndarray  # characters of one string value
if _STRINGS["maxItems"] != MAX_VALUES:
    raise json_schema.SchemaError("FeatureValues: numbers and strings must have one maxItems")


def feature_field(name: str) -> str:
    """How an error names a feature: features["age"] (JSON quoting, cut to the longest
    valid name)."""
    return f"features[{json.dumps(name[: MAX_FEATURE_NAME + 1], ensure_ascii=False)}]"


def _field(name: str | None) -> str:
    """The field of feature `name`, or of the predictions (None). Only built for an error:
    a JSON-quoted name per feature per event showed in the profile."""
    return "predictions" if name is None else feature_field(name)


def _array(name: str | None, values: dict[str, Any]) -> Values:
    """Feature `name`'s checked values (the predictions' for None)."""
    numbers, strings = values.get("numbers"), values.get("strings")
    # len(), not truth: numbers may be a NumPy array (the protobuf path's).
    if numbers is not None and len(numbers) and strings:
        raise Invalid(_field(name), "holds both numbers and strings; expected one or the other")
    given = strings if numbers is None or not len(numbers) else numbers
    if given is None:
        given = []
    if not 1 <= len(given) <= MAX_VALUES:
        raise Invalid(_field(name), f"expected 1 to {MAX_VALUES} values, got {len(given)}")
    if strings:
        if max(map(len, strings)) > MAX_CATEGORY:  # C-level; find the first only on failure
            index = next(i for i, v in enumerate(strings) if len(v) > MAX_CATEGORY)
            raise Invalid(
                _field(name),
                f"value {index} is longer than {MAX_CATEGORY} characters ({len(strings[index])})",
            )
        return strings
    assert numbers is not None
    if isinstance(numbers, np.ndarray):  # one call per array; the index only on failure
        if np.isfinite(numbers).all():
            return numbers
        index = int(np.argmin(np.isfinite(numbers)))
    elif all(map(math.isfinite, numbers)):
        return numbers
    else:
        index = next(i for i, v in enumerate(numbers) if not math.isfinite(v))
    raise Invalid(_field(name), f"value {index} is not a finite number ({float(numbers[index])})")


def check(event: dict[str, Any]) -> None:
    """Check the event's features and predictions, if it has any, and fill an absent
    prediction_count with their rows; raise Invalid naming the first bad one."""
    features = event.get("features")
    predictions = event.get("predictions")
    if features is None and predictions is None:
        return
    rows: int | None = None
    first: str | None = None  # the feature whose length set `rows` (None: the predictions)

    def same_rows(name: str | None, length: int) -> None:
        nonlocal rows, first
        if rows is None:
            rows, first = length, name
        elif length != rows:
            raise Invalid(
                _field(name), f"has {length} values, but {_field(first)} has {rows}: one per row"
            )

    if features is not None:
        if len(features) > MAX_FEATURES:
            raise Invalid("features", f"at most {MAX_FEATURES} features, got {len(features)}")
        checked: dict[str, Values] = {}
        # In name order: a JSON object's (a Struct's) order is not kept, errors should be.
        for name, values in sorted(features.items()):
            if not 1 <= len(name) <= MAX_FEATURE_NAME or not name.isprintable():
                raise Invalid(
                    feature_field(name),
                    f"a feature name is 1 to {MAX_FEATURE_NAME} printable characters",
                )
            checked[name] = _array(name, values)
            same_rows(name, len(checked[name]))
        event["features"] = checked
    if predictions is not None:
        event["predictions"] = _array(None, predictions)
        same_rows(None, len(event["predictions"]))
    if event.get("prediction_count") is None:
        event["prediction_count"] = rows
