"""Features and predictions as the application holds them → FeatureValues messages.

Takes plain lists, NumPy arrays and pandas DataFrames / Series without importing either
library: the SDK must work where they are not installed, so they are recognised by what they
offer (`dtype`, `to_numpy`, `columns`). Mistakes raise here, in the caller's code: a column of
mixed types, NaN or infinity (the collector takes only finite numbers), columns of different
lengths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from aegis.v1 import events_pb2

# NumPy dtype kinds: bool, signed and unsigned integers, floats; unicode and bytes strings.
_NUMERIC_KINDS = "biuf"
_STRING_KINDS = "US"


def _plain(values: Any) -> Any:
    """A pandas Series / Index as its NumPy array; anything else as it is."""
    to_numpy = getattr(values, "to_numpy", None)
    return to_numpy() if callable(to_numpy) else values


def _bad_numbers(where: str) -> ValueError:
    return ValueError(
        f"{where} holds NaN or an infinity: the collector takes only finite numbers "
        "(fill or drop missing values first)"
    )


def feature_values(values: Any, where: str) -> events_pb2.FeatureValues:
    """One column: numbers or strings, one value per row."""
    values = _plain(values)
    dtype = getattr(values, "dtype", None)
    if dtype is not None and getattr(values, "ndim", 1) != 1:
        raise ValueError(f"{where} must be one value per row, not an array of shape {values.shape}")
    if dtype is not None and dtype.kind in _NUMERIC_KINDS:
        numbers = values.astype("float64")
        if not bool((abs(numbers) < math.inf).all()):  # False for NaN too
            raise _bad_numbers(where)
        return events_pb2.FeatureValues(numbers=numbers.tolist())
    if dtype is not None and dtype.kind in _STRING_KINDS:
        return events_pb2.FeatureValues(strings=[str(v) for v in values.tolist()])
    if isinstance(values, str | bytes):
        raise TypeError(f"{where} must be a list of values, not a single string")
    items = values.tolist() if dtype is not None else list(values)
    if all(type(v) is str for v in items):
        return events_pb2.FeatureValues(strings=items)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        if not all(math.isfinite(v) for v in items):
            raise _bad_numbers(where)
        return events_pb2.FeatureValues(numbers=[float(v) for v in items])
    kinds = sorted({type(v).__name__ for v in items})
    raise TypeError(f"{where} must be all numbers or all strings, not a mix of {kinds}")


def _columns(features: Any, names: Sequence[str] | None) -> list[tuple[str, Any]]:
    if hasattr(features, "columns") and hasattr(features, "items"):  # a pandas DataFrame
        return [(str(name), column) for name, column in features.items()]
    if isinstance(features, Mapping):
        return [(str(name), column) for name, column in features.items()]
    # Rows: a 2-D NumPy array, or a list of rows, of the same length each.
    rows = _plain(features)
    if getattr(rows, "ndim", 2) != 2:
        raise ValueError(f"features must be a table (rows by features), not shape {rows.shape}")
    columns = list(rows.T) if hasattr(rows, "T") else [list(c) for c in zip(*rows, strict=True)]
    if names is None:
        names = [str(i) for i in range(len(columns))]
    if len(names) != len(columns):
        raise ValueError(f"{len(names)} feature_names for {len(columns)} features")
    return list(zip(names, columns, strict=True))


def features_message(
    features: Any, names: Sequence[str] | None = None
) -> dict[str, events_pb2.FeatureValues]:
    """The features (a DataFrame, a mapping of name → column, or rows with `names`) as
    FeatureValues by name."""
    return {
        name: feature_values(column, f"features[{name!r}]")
        for name, column in _columns(features, names)
    }


def predictions_message(predictions: Any) -> events_pb2.FeatureValues:
    """One prediction per row: a list, a 1-D array, a Series, or a one-column DataFrame (or
    array of shape (rows, 1))."""
    if hasattr(predictions, "columns") and hasattr(predictions, "items"):
        columns = [column for _, column in predictions.items()]
        if len(columns) != 1:
            raise ValueError(f"predictions must be one column, not {len(columns)}")
        predictions = columns[0]
    plain = _plain(predictions)
    if getattr(plain, "ndim", 1) == 2 and plain.shape[1] == 1:
        plain = plain[:, 0]
    return feature_values(plain, "predictions")


def rows_of(
    features: dict[str, events_pb2.FeatureValues], predictions: events_pb2.FeatureValues | None
) -> int:
    """The rows of the event: every column's length, which must agree."""
    lengths = {name: len(v.numbers) or len(v.strings) for name, v in features.items()}
    if predictions is not None:
        lengths["predictions"] = len(predictions.numbers) or len(predictions.strings)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"every column needs one value per row; lengths differ: {lengths}")
    return next(iter(lengths.values()), 0)
