"""The checks of an ML event's features and predictions (what drift summarises). Each array
is numbers or strings, one value per row; every array of one event has the same length, its
rows, which is also its prediction_count when that is not given.

Checked arrays replace their FeatureValues in the event as plain lists of numbers or strings.
Plain Python rather than NumPy here: most events carry a few rows, and converting each small
array costs more than the check (measured: 11 µs to convert and check 10 numbers with NumPy,
1.3 µs with math.isfinite; 107 µs against 75 µs for 1,000). The sketch converts a whole
batch's values once (collector.drift.partials).
"""

from __future__ import annotations

import json
import math
from typing import Any

from aegis_shared import json_schema
from collector.ingest.invalid import Invalid

# The bounds are the proto's (aegis_shared.json_schema), which the OpenAPI document shows.
_FEATURES = json_schema.of("aegis.v1.MLEvent", "features")
_NUMBERS = json_schema.of("aegis.v1.FeatureValues", "numbers")
_STRINGS = json_schema.of("aegis.v1.FeatureValues", "strings")
MAX_FEATURES: int = _FEATURES["maxProperties"]
MAX_FEATURE_NAME: int = _FEATURES["propertyNames"]["maxLength"]
MAX_VALUES: int = _NUMBERS["maxItems"]  # per feature, and of predictions: an event's rows
MAX_CATEGORY: int = _STRINGS["items"]["maxLength"]  # characters of one string value
if _STRINGS["maxItems"] != MAX_VALUES:
    raise json_schema.SchemaError("FeatureValues: numbers and strings must have one maxItems")


def feature_field(name: str) -> str:
    """How an error names a feature: features["age"] (JSON quoting, cut to the longest
    valid name)."""
    return f"features[{json.dumps(name[: MAX_FEATURE_NAME + 1], ensure_ascii=False)}]"


def _array(field: str, values: dict[str, list[Any]]) -> list[float] | list[str]:
    numbers, strings = values.get("numbers"), values.get("strings")
    if numbers and strings:
        raise Invalid(field, "holds both numbers and strings; expected one or the other")
    given = numbers or strings or []
    if not 1 <= len(given) <= MAX_VALUES:
        raise Invalid(field, f"expected 1 to {MAX_VALUES} values, got {len(given)}")
    if strings:
        for index, value in enumerate(strings):
            if len(value) > MAX_CATEGORY:
                raise Invalid(
                    field, f"value {index} is longer than {MAX_CATEGORY} characters ({len(value)})"
                )
        return strings
    assert numbers is not None
    if not all(map(math.isfinite, numbers)):
        index = next(i for i, v in enumerate(numbers) if not math.isfinite(v))
        raise Invalid(field, f"value {index} is not a finite number ({numbers[index]})")
    return numbers


def check(event: dict[str, Any]) -> None:
    """Check the event's features and predictions, if it has any, and fill an absent
    prediction_count with their rows; raise Invalid naming the first bad one."""
    features = event.get("features")
    predictions = event.get("predictions")
    if features is None and predictions is None:
        return
    rows: int | None = None
    first = ""  # the field whose length set `rows`

    def same_rows(field: str, length: int) -> None:
        nonlocal rows, first
        if rows is None:
            rows, first = length, field
        elif length != rows:
            raise Invalid(field, f"has {length} values, but {first} has {rows}: one per row")

    if features is not None:
        if len(features) > MAX_FEATURES:
            raise Invalid("features", f"at most {MAX_FEATURES} features, got {len(features)}")
        checked: dict[str, list[float] | list[str]] = {}
        # In name order: a JSON object's (a Struct's) order is not kept, errors should be.
        for name, values in sorted(features.items()):
            field = feature_field(name)
            if not 1 <= len(name) <= MAX_FEATURE_NAME or not name.isprintable():
                raise Invalid(
                    field, f"a feature name is 1 to {MAX_FEATURE_NAME} printable characters"
                )
            checked[name] = _array(field, values)
            same_rows(field, len(checked[name]))
        event["features"] = checked
    if predictions is not None:
        event["predictions"] = _array("predictions", predictions)
        same_rows("predictions", len(event["predictions"]))
    if event.get("prediction_count") is None:
        event["prediction_count"] = rows
