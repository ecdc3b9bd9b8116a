"""Per-event validation, which also fills defaults (unset counts, timestamp = now). Each event
is judged on its own; a bad one never sinks its batch."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

from aegis_shared.json_shape import show
from collector.domain import EARLIEST
from collector.ingest import attribution, content, features
from collector.ingest.invalid import Invalid
from collector.ingest.metadata_limits import (
    MAX_METADATA_CHARS,
    MAX_METADATA_DEPTH,
    MAX_METADATA_KEY,
    MAX_METADATA_NODES,
    MAX_METADATA_STRING,
)

MAX_NAME = 256
MAX_EVENT_ID = 128
# Counts add up in rollups as 64-bit integers: 2^40 per event leaves room for 2^23 events
# of that size in one bucket, and no real call has more tokens or predictions.
MAX_COUNT = 2**40
MAX_ERROR = 512  # an error type or a short message, not a stack trace
MAX_SHAPE_DIMS = 16
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1
MAX_FUTURE = dt.timedelta(days=1)


def _name(event: dict[str, Any], key: str) -> None:
    value = event[key]
    if not value:
        raise Invalid(key, "missing; expected a non-empty string")
    if len(value) > MAX_NAME:
        raise Invalid(key, f"longer than {MAX_NAME} characters ({len(value)} sent)")


def _count(event: dict[str, Any], key: str) -> None:
    value = event.get(key)
    if value is not None and value < 0:
        raise Invalid(key, f"must not be negative, got {value}")
    if value is not None and value > MAX_COUNT:
        raise Invalid(key, f"must be at most 2^40 ({MAX_COUNT}), got {value}")


def _error(event: dict[str, Any]) -> None:
    value = event.get("error")
    if value and len(value) > MAX_ERROR:
        raise Invalid(
            "error",
            f"longer than {MAX_ERROR} characters ({len(value)} sent); "
            "expected an error type or a short message",
        )


def _amount(event: dict[str, Any], key: str) -> None:
    value = event.get(key)
    if value is not None and (not math.isfinite(value) or value < 0):
        raise Invalid(key, f"must be a finite number, not negative, got {show(value)}")


def _timestamp_or_now(event: dict[str, Any], now: dt.datetime) -> None:
    ts = event["timestamp"]
    if ts is None:
        event["timestamp"] = now
    elif ts < EARLIEST or ts > now + MAX_FUTURE:
        sent = ts.isoformat().replace("+00:00", "Z")
        raise Invalid("timestamp", f'"{sent}" is outside 2000-01-01 .. one day from now')


def _event_id(event: dict[str, Any]) -> None:
    value = event["event_id"]
    if len(value) > MAX_EVENT_ID or not value.isprintable():
        raise Invalid(
            "event_id",
            f"expected at most {MAX_EVENT_ID} printable characters, got {show(value)}",
        )


def _keys(value: dict[str, Any]) -> int:
    """Raise Invalid for the first key that is empty, '$'-prefixed, dotted, holds NUL or is too
    long; return the characters of the keys. Hot path: the keys are looked at joined (one
    scan per rule, in C) and one by one only when a rule may be broken (~0.4 µs less for
    the bench's metadata)."""
    if not value:
        return 0
    joined = "\x01".join(value)
    if (
        "." in joined
        or "\x00" in joined
        or "$" in joined
        or "" in value
        or (len(joined) > MAX_METADATA_KEY and max(map(len, value)) > MAX_METADATA_KEY)
    ):
        for key in value:  # the first key that breaks a rule, in order, names it
            if not key or key[0] == "$" or "." in key or "\x00" in key:
                raise Invalid("metadata", f"key {key[:40]!r}: empty, '$'-prefixed or dotted")
            if len(key) > MAX_METADATA_KEY:
                raise Invalid("metadata", f"a key is longer than {MAX_METADATA_KEY} characters")
    return len(joined) - len(value) + 1


def _metadata(value: dict[str, Any] | list[Any], depth: int = 1) -> tuple[int, int]:
    """Keys must be safe as MongoDB field names; size and depth are bounded. Returns the
    number of keys and values seen, and the characters of their keys and strings.

    Dispatches on exact types: decoded JSON and Structs hold only plain dict, list, str,
    int, float, bool and None, and this is ~2.7x faster than isinstance chains (measured
    8-15 → 3-4.5 µs for a 10-key object); it runs for every event."""
    if depth > MAX_METADATA_DEPTH:
        raise Invalid("metadata", f"nested deeper than {MAX_METADATA_DEPTH} levels")
    chars = 0
    if type(value) is dict:
        chars = _keys(value)
        items: Iterable[Any] = value.values()
    else:
        items = value
    nodes = 0
    for item in items:
        nodes += 1
        kind = type(item)
        if kind is str:
            if len(item) > MAX_METADATA_STRING:
                raise Invalid(
                    "metadata", f"a string is longer than {MAX_METADATA_STRING} characters"
                )
            chars += len(item)
        elif kind is dict or kind is list:
            inner_nodes, inner_chars = _metadata(item, depth + 1)
            nodes += inner_nodes
            chars += inner_chars
        elif kind is float:
            if not math.isfinite(item):
                raise Invalid("metadata", "numbers must be finite")
        elif kind is int and not MIN_INT64 <= item <= MAX_INT64:
            # JSON allows any size; BSON stores at most 64 bits.
            raise Invalid("metadata", "integers must fit in 64 bits")
    if nodes > MAX_METADATA_NODES:
        raise Invalid("metadata", f"more than {MAX_METADATA_NODES} keys and values")
    if chars > MAX_METADATA_CHARS:
        raise Invalid("metadata", f"more than {MAX_METADATA_CHARS} characters of keys and strings")
    return nodes, chars


walk_metadata: Callable[[Any], tuple[int, int]]
try:  # the same walk in C (~10x cheaper), when built; _metadata stays the rule
    from collector.ingest.metadata_walk import walk as walk_metadata
except ImportError:  # not built
    walk_metadata = _metadata


common_fine: Callable[[dict[str, Any], dt.datetime], bool] | None
try:  # the checks below in C for the events that pass them (~4x cheaper), when built
    from collector.ingest.event_checks import Common
except ImportError:  # not built
    common_fine = None
else:
    common_fine = Common(
        max_event_id=MAX_EVENT_ID,
        max_error=MAX_ERROR,
        earliest=EARLIEST,
        max_future=MAX_FUTURE,
        walk=walk_metadata,
        lengths=attribution.LENGTHS,
        digits={name: digits for name, (_, digits, _) in attribution.IDS.items()},
        max_tags=attribution.MAX_TAGS,
        min_tag=attribution.MIN_TAG,
        max_tag=attribution.MAX_TAG,
    ).fine


def _fill_and_check_common(event: dict[str, Any], now: dt.datetime) -> None:
    if common_fine is not None and common_fine(event, now):
        return  # passed all of the below (collector.ingest.event_checks)
    _event_id(event)
    _timestamp_or_now(event, now)
    _amount(event, "latency_ms")
    _error(event)
    if not isinstance(event["metadata"], dict):
        sent = event["metadata"]
        if isinstance(sent, bytes):  # metadata_json that does not parse (gRPC, the SDK)
            raise Invalid("metadata", "expected a JSON object; metadata_json is not valid JSON")
        raise Invalid("metadata", f"expected a JSON object, got {show(sent)}")
    walk_metadata(event["metadata"])
    attribution.check(event)


def fill_and_check_ml(event: dict[str, Any], now: dt.datetime) -> None:
    """Fill the defaults of unset fields in place; raise Invalid for the first bad field."""
    _name(event, "model_id")
    _name(event, "model_type")
    features.check(event)  # before the default below: absent means the rows sent
    if event["prediction_count"] is None:
        event["prediction_count"] = 1
    _count(event, "prediction_count")
    shape = event["input_shape"]
    # min(), not any() over a generator: a generator object per event costs more.
    if len(shape) > MAX_SHAPE_DIMS or (shape and min(shape) < 0):
        raise Invalid(
            "input_shape",
            f"expected at most {MAX_SHAPE_DIMS} non-negative integers, got {show(shape)}",
        )
    _fill_and_check_common(event, now)


def fill_and_check_llm(event: dict[str, Any], now: dt.datetime) -> None:
    """Fill the defaults of unset fields in place; raise Invalid for the first bad field."""
    _name(event, "model_name")
    for key in ("prompt_length", "response_length", "tokens_used"):
        if event[key] is None:
            event[key] = 0
        _count(event, key)
    _count(event, "input_tokens")
    _count(event, "output_tokens")
    if not event["tokens_used"]:
        # Only the split was given: the total is its sum, as OTLP's mapping does.
        event["tokens_used"] = (event.get("input_tokens") or 0) + (event.get("output_tokens") or 0)
    provider = event.get("provider")
    if provider and len(provider) > MAX_NAME:
        raise Invalid("provider", f"longer than {MAX_NAME} characters ({len(provider)} sent)")
    for key in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        if event.get(key) is None:  # not given: not stored
            event.pop(key, None)
        else:
            _count(event, key)
    _amount(event, "cost")  # None: priced at ingest if it can be (collector.ingest.pricing)
    _fill_and_check_common(event, now)
    content.check(event)
