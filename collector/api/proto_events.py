"""Ingest's protobuf events (MLEvent, LLMEvent) as plain Python; collector.api.json_events reads
the events of JSON batches into the same shape.

Hot path: events are read field by field (MessageToDict is ~30x slower), and Struct
metadata is walked directly. A repeated field is copied to a list by slicing it: `list()`
reads it item by item until protobuf raises IndexError, which costs twice as much (~0.45
against ~0.2 µs for two items).

An event converts to a plain dict, or to an `Invalid` naming the field when it cannot even be
read (a JSON event of the wrong shape, a timestamp no calendar holds): ingest reports that
event by its index, as it does one that fails validation, and stores its siblings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aegis.v1 import events_pb2
from aegis_shared.structs import struct_to_dict, value_to_python
from collector.api.fast_json import loads
from collector.api.proto_values import time_from_proto


def json_or_text(text: bytes) -> Any:
    """A `*_json` field's value, or the text itself when it is not JSON: left for validation
    to reject, with its event (never echoed when it is content)."""
    try:
        return loads(text)
    except (ValueError, RecursionError):
        return text


def _metadata(e: events_pb2.MLEvent | events_pb2.LLMEvent) -> Any:
    """Either metadata form as plain Python; validation rejects anything but a JSON object."""
    text = e.metadata_json
    # Non-empty, it is the form set (the SDK's): known without WhichOneof (~0.3 µs).
    form = "metadata_json" if text else e.WhichOneof("metadata_form")
    if form == "metadata_json":
        return json_or_text(text)
    if form == "metadata":
        return struct_to_dict(e.metadata)
    return {}


def _content(e: events_pb2.LLMEvent, which: str) -> Any:
    """Input or output (`which` names the form set) as plain Python; validation rejects
    anything but a string or a list of messages. Never echoed in an error: it is content."""
    if which.endswith("_json"):
        return json_or_text(getattr(e, which))
    return value_to_python(getattr(e, which))


def _attribution(e: events_pb2.MLEvent | events_pb2.LLMEvent, event: dict[str, Any]) -> Any:
    """Add the attribution fields that are set (an empty string is not). Hot path: a field
    read once and tested costs less than a key added and removed again (measured), and less
    than reading it twice."""
    if value := e.user_id:
        event["user_id"] = value
    if value := e.session_id:
        event["session_id"] = value
    if value := e.trace_id:
        event["trace_id"] = value
    if value := e.span_id:
        event["span_id"] = value
    if value := e.parent_span_id:
        event["parent_span_id"] = value
    if value := e.environment:
        event["environment"] = value
    if value := e.release:
        event["release"] = value
    if tags := e.tags:
        event["tags"] = tags[:]
    return event


# From this many numbers, a column is read as a NumPy array; below, as a list. An array is
# cheaper to check and to join for a batch's sketch, but costs ~3 µs per column whatever its
# length; measured per column, converting and checking: 10 values 3.8 µs as an array against
# 0.9 µs as a list, 100 values 3.4 against 4.1 µs, before joining (a list's values are joined
# one by one, an array's with np.concatenate).
ARRAY_FROM = 48


def _values(values: events_pb2.FeatureValues) -> dict[str, Any]:
    """A FeatureValues as its JSON shape, only the arrays that are set (validation rejects
    both or neither). Numbers of ARRAY_FROM values or more become ONE float64 NumPy array,
    checked and sketched as a whole (collector.ingest.features, collector.drift.partials);
    fewer, and strings, a list."""
    out: dict[str, Any] = {}
    numbers = values.numbers
    if len(numbers) >= ARRAY_FROM:
        out["numbers"] = np.array(numbers, dtype=np.float64)
    elif numbers:
        out["numbers"] = numbers[:]
    if values.strings:
        out["strings"] = values.strings[:]
    return out


def _drift_inputs(e: events_pb2.MLEvent, event: dict[str, Any]) -> dict[str, Any]:
    """Features and predictions, when sent (collector.drift.values checks them)."""
    if e.features:
        event["features"] = {name: _values(values) for name, values in e.features.items()}
    if e.HasField("predictions"):
        event["predictions"] = _values(e.predictions)
    return event


def ml_event_from_proto(e: events_pb2.MLEvent) -> dict[str, Any]:
    event = _attribution(
        e,
        {
            "event_id": e.event_id,
            "model_type": e.model_type,
            "model_id": e.model_id,
            "input_shape": e.input_shape[:],
            "prediction_count": e.prediction_count if e.HasField("prediction_count") else None,
            "timestamp": time_from_proto(e.timestamp) if e.HasField("timestamp") else None,
            "metadata": _metadata(e),
            "latency_ms": e.latency_ms if e.HasField("latency_ms") else None,
            "error": e.error,
        },
    )
    return _drift_inputs(e, event)


_COUNTS = ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def llm_event_from_proto(e: events_pb2.LLMEvent) -> dict[str, Any]:
    event = {
        "event_id": e.event_id,
        "model_name": e.model_name,
        "prompt_length": e.prompt_length if e.HasField("prompt_length") else None,
        "response_length": e.response_length if e.HasField("response_length") else None,
        "tokens_used": e.tokens_used if e.HasField("tokens_used") else None,
        "cost": e.cost if e.HasField("cost") else None,
        "timestamp": time_from_proto(e.timestamp) if e.HasField("timestamp") else None,
        "metadata": _metadata(e),
        "latency_ms": e.latency_ms if e.HasField("latency_ms") else None,
        "error": e.error,
        "input_tokens": e.input_tokens if e.HasField("input_tokens") else None,
        "output_tokens": e.output_tokens if e.HasField("output_tokens") else None,
        "provider": e.provider,
    }
    # The fields added since the seed's: only those that are set.
    for count in _COUNTS:
        if e.HasField(count):
            event[count] = getattr(e, count)
    if which := e.WhichOneof("input_form"):
        event["input"] = _content(e, which)
    if which := e.WhichOneof("output_form"):
        event["output"] = _content(e, which)
    if e.system:
        event["system"] = e.system
    return _attribution(e, event)
