"""Per-event validation. Each event is judged on its own; a bad one never sinks its batch."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

MAX_NAME = 256
MAX_EVENT_ID = 128
MAX_SHAPE_DIMS = 16
MAX_METADATA_DEPTH = 8
MAX_METADATA_NODES = 2000
MAX_METADATA_STRING = 16_384
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_FUTURE = dt.timedelta(days=1)


@dataclass(frozen=True)
class EventError:
    index: int
    field: str
    reason: str


class Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _name(event: dict[str, Any], key: str) -> None:
    value = event[key]
    if not value:
        raise Invalid(key, "required")
    if len(value) > MAX_NAME:
        raise Invalid(key, f"longer than {MAX_NAME} characters")


def _count(event: dict[str, Any], key: str) -> None:
    value = event.get(key)
    if value is not None and value < 0:
        raise Invalid(key, "must not be negative")


def _amount(event: dict[str, Any], key: str) -> None:
    value = event.get(key)
    if value is not None and (not math.isfinite(value) or value < 0):
        raise Invalid(key, "must be a finite number, not negative")


def _timestamp(event: dict[str, Any], now: dt.datetime) -> None:
    ts = event["timestamp"]
    if ts is None:
        event["timestamp"] = now
    elif ts < EARLIEST or ts > now + MAX_FUTURE:
        raise Invalid("timestamp", "outside 2000-01-01 .. one day from now")


def _event_id(event: dict[str, Any]) -> None:
    value = event["event_id"]
    if len(value) > MAX_EVENT_ID or not value.isprintable():
        raise Invalid("event_id", f"at most {MAX_EVENT_ID} printable characters")


def _metadata(value: Any, depth: int = 1, budget: list[int] | None = None) -> None:
    """Keys must be safe as MongoDB field names; size and depth are bounded."""
    budget = budget if budget is not None else [MAX_METADATA_NODES]
    if depth > MAX_METADATA_DEPTH:
        raise Invalid("metadata", f"nested deeper than {MAX_METADATA_DEPTH} levels")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        budget[0] -= 1
        if budget[0] < 0:
            raise Invalid("metadata", f"more than {MAX_METADATA_NODES} keys and values")
        if isinstance(key, str) and (not key or key.startswith("$") or "." in key or "\x00" in key):
            raise Invalid("metadata", f"key {key[:40]!r}: empty, '$'-prefixed or dotted")
        if isinstance(item, dict | list):
            _metadata(item, depth + 1, budget)
        elif isinstance(item, str) and len(item) > MAX_METADATA_STRING:
            raise Invalid("metadata", f"a string is longer than {MAX_METADATA_STRING} characters")
        elif isinstance(item, float) and not math.isfinite(item):
            raise Invalid("metadata", "numbers must be finite")


def _common(event: dict[str, Any], now: dt.datetime) -> None:
    _event_id(event)
    _timestamp(event, now)
    _amount(event, "latency_ms")
    if event.get("metadata") is not None:
        _metadata(event["metadata"])


def check_ml(event: dict[str, Any], now: dt.datetime) -> None:
    """Raise Invalid, or fill defaults in place."""
    _name(event, "model_id")
    _name(event, "model_type")
    if event["prediction_count"] is None:
        event["prediction_count"] = 1
    _count(event, "prediction_count")
    shape = event["input_shape"]
    if len(shape) > MAX_SHAPE_DIMS or any(d < 0 for d in shape):
        raise Invalid("input_shape", f"at most {MAX_SHAPE_DIMS} non-negative dimensions")
    _common(event, now)


def check_llm(event: dict[str, Any], now: dt.datetime) -> None:
    _name(event, "model_name")
    for key in ("prompt_length", "response_length", "tokens_used"):
        if event[key] is None:
            event[key] = 0
        _count(event, key)
    if event["cost"] is None:
        event["cost"] = 0.0
    _amount(event, "cost")
    _common(event, now)
