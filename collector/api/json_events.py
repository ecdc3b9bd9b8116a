"""The events of a JSON batch as plain Python, each read on its own, so that one of the wrong
shape is rejected alone (an `Invalid` naming the field) and its siblings are stored. A batch
comes as one JSON array of text (`events_json`: what the REST gateway forwards, parsed in one
go) or as a google.protobuf.Value per event (`events`: other callers of the JSON RPCs).

An event is read as proto3's JSON mapping reads it (json_format.ParseDict, made strict by
aegis_shared.json_mapping). ParseDict costs ~80 µs per seed-shaped event, so events whose values
all have their plain JSON types take a fast reader instead (~10x cheaper) that gives the same
result; anything else (an int64 as a string, metadata_json, a bad value) goes to ParseDict.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from aegis.v1 import events_pb2
from aegis_shared import json_mapping, structs
from aegis_shared.json_shape import json_int, show
from aegis_shared.structs import struct_to_dict
from collector.api import fast_json
from collector.api.proto_events import llm_event_from_proto, ml_event_from_proto
from collector.api.proto_values import time_from_proto
from collector.errors import InvalidArgument
from collector.ingest.features import feature_field
from collector.ingest.validation import Invalid

MAX_REASON = 200
# A path's leading field, and its map key if it has one: features["a.b"] of
# features["a.b"].numbers[1].
_FIELD = re.compile(r'[^.\[]*(?:\["(?:[^"\\]|\\.)*"\])?')

# The fast reader of JSON events: per field, the JSON key (proto and camelCase names), its
# name in the plain event and its kind. "s": string, "i": int64, "d": double, "t": RFC 3339
# timestamp, "m": Struct metadata, "l": list of int64, "ls": list of strings, "v": any JSON
# value (a google.protobuf.Value: content, whose shape validation checks), "fv": a
# FeatureValues ({"numbers": [...]} or {"strings": [...]}), "fm": a map of them.
_FieldKinds = dict[str, tuple[str, str]]


def _kinds(message: Any, kinds: dict[str, str]) -> _FieldKinds:
    out: _FieldKinds = {}
    for field in message.DESCRIPTOR.fields:
        if field.name in kinds:
            out[field.name] = out[field.json_name] = (field.name, kinds[field.name])
    return out


_ATTRIBUTION = {
    "user_id": "s", "session_id": "s", "trace_id": "s", "span_id": "s", "parent_span_id": "s",
    "environment": "s", "release": "s", "tags": "ls",
}  # fmt: skip
_ML_KINDS = _kinds(events_pb2.MLEvent, {
    "event_id": "s", "model_type": "s", "model_id": "s", "input_shape": "l",
    "prediction_count": "i", "timestamp": "t", "metadata": "m", "latency_ms": "d", "error": "s",
    **_ATTRIBUTION, "features": "fm", "predictions": "fv",
})  # fmt: skip
_LLM_KINDS = _kinds(events_pb2.LLMEvent, {
    "event_id": "s", "model_name": "s", "prompt_length": "i", "response_length": "i",
    "tokens_used": "i", "cost": "d", "timestamp": "t", "metadata": "m", "latency_ms": "d",
    "error": "s", "input_tokens": "i", "output_tokens": "i", "provider": "s", **_ATTRIBUTION,
    "cache_read_tokens": "i", "cache_write_tokens": "i", "reasoning_tokens": "i",
    "input": "v", "output": "v", "system": "s",
})  # fmt: skip
_MIN_INT64, _MAX_INT64 = -(2**63), 2**63 - 1
# The string fields under their proto names, which most keys of an event are: read first, in
# one look-up (~0.4 µs a seed-shaped event less than the general path; issue 21).
_ML_STRINGS = frozenset(k for k, (name, kind) in _ML_KINDS.items() if kind == "s" and k == name)
_LLM_STRINGS = frozenset(k for k, (name, kind) in _LLM_KINDS.items() if kind == "s" and k == name)


# RFC 3339 as Timestamp.FromJsonString reads it, in the forms datetime.fromisoformat reads
# the same way: ~1.5 µs against ~7 µs (FromJsonString's strptime), measured in
# docs/benchmarks.md. Anything else takes FromJsonString.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")


# What to take off a time for whole milliseconds: a look-up, where datetime.replace cost
# ~0.9 µs an event (measured: 1.0 µs a replace, 0.08 µs a subtraction from this table).
_SUB_MS = [dt.timedelta(microseconds=us) for us in range(1000)]


def _timestamp(value: str) -> dt.datetime | None:
    """An RFC 3339 timestamp in UTC, whole milliseconds as time_from_proto keeps them; None
    when FromJsonString refuses it."""
    if _RFC3339.fullmatch(value):
        try:
            moment = dt.datetime.fromisoformat(value).astimezone(dt.UTC)
        except (ValueError, OverflowError):
            pass  # FromJsonString's verdict, below
        else:
            return moment - _SUB_MS[moment.microsecond % 1000]
    ts = timestamp_pb2.Timestamp()
    try:
        ts.FromJsonString(value)
    except ValueError:
        return None
    return time_from_proto(ts)


def _feature_values(value: Any) -> dict[str, list[Any]] | None:
    """A FeatureValues in its plain JSON form, as ParseDict would read it; None for anything
    else (ParseDict then reads it, or names what is wrong)."""
    if type(value) is not dict:
        return None
    out: dict[str, list[Any]] = {}
    for key, values in value.items():
        if type(values) is not list:
            return None
        if key == "numbers":
            if not all(type(v) is float or type(v) is int for v in values):
                return None
        elif key != "strings" or not all(type(v) is str for v in values):
            return None
        if values:  # an empty array is unset, as in the message
            out[key] = values
    return out


def _plain_array(field: str, values: Any) -> Any:
    """REST's shorthand for a FeatureValues: a plain JSON array of numbers or of strings, read
    as the FeatureValues it stands for. Anything but an array is returned as sent (ParseDict
    reads it or names what is wrong); an array mixing kinds is an `Invalid` naming `field`."""
    if type(values) is not list:
        return values
    if all(type(v) is str for v in values):
        return {"strings": values} if values else {}
    if all(type(v) is float or type(v) is int for v in values):
        return {"numbers": values}
    return Invalid(
        field, "all numbers or all strings (one value per row), got a mix or another type"
    )


def _shorthands(data: dict[str, Any]) -> Invalid | None:
    """Read an ML event's plain-array features and predictions in place (see _plain_array)."""
    features = data.get("features")
    if type(features) is dict:
        for name, values in features.items():
            read = _plain_array(feature_field(name), values)
            if isinstance(read, Invalid):
                return read
            features[name] = read
    if "predictions" in data:
        read = _plain_array("predictions", data["predictions"])
        if isinstance(read, Invalid):
            return read
        data["predictions"] = read
    return None


def _feature_map(value: Any) -> dict[str, dict[str, list[Any]]] | None:
    if type(value) is not dict:
        return None
    out = {}
    for name, values in value.items():
        read = _feature_values(values)
        if read is None:
            return None
        out[name] = read
    return out


def _fast(
    data: dict[str, Any], kinds: _FieldKinds, strings: frozenset[str], event: dict[str, Any]
) -> bool:
    """Fill `event` from an event whose values all have their plain JSON types, as ParseDict
    would; False, leaving the event half-filled, at anything else (metadata_json, an int as a
    string, a bad value), for ParseDict to read or reject. ~10x cheaper than ParseDict. A
    field sent under both its names (model_name and modelName) is ParseDict's to settle.
    `strings`: the keys of `kinds` that are string fields under their own name."""
    aliased = False
    for key, value in data.items():
        if type(value) is str and key in strings:
            event[key] = value
            continue
        known = kinds.get(key)
        if known is None:
            return False
        name, kind = known
        if name != key:
            aliased = True
        if value is None:
            continue  # null: unset
        vtype = type(value)
        if (kind == "s" and vtype is str) or (
            kind == "i" and vtype is int and _MIN_INT64 <= value <= _MAX_INT64
        ):
            event[name] = value
        elif kind == "d" and (vtype is float or vtype is int):
            event[name] = float(value)
        elif kind == "m" and vtype is dict:
            event[name] = value  # a JSON object as decoded: validation checks its shape
        elif kind == "t" and vtype is str:
            moment = _timestamp(value)
            if moment is None:
                return False
            event[name] = moment
        elif kind == "l" and vtype is list:
            if not all(type(d) is int and _MIN_INT64 <= d <= _MAX_INT64 for d in value):
                return False
            event[name] = value
        elif kind == "ls" and vtype is list:
            if not all(type(d) is str for d in value):
                return False
            event[name] = value
        elif kind == "v":
            event[name] = value  # a Value holds any JSON, as read from the request
        elif kind == "fv" and (values := _feature_values(value)) is not None:
            event[name] = values
        elif kind == "fm" and (features := _feature_map(value)) is not None:
            if features:
                event[name] = features
        else:
            return False
    return not aliased or len({kinds[key][0] for key in data}) == len(data)


def _parse_slowly(data: dict[str, Any], message: Message) -> Message | Invalid:
    """proto3's JSON mapping (ParseDict), naming the field to blame when it fails."""
    try:
        return json_mapping.parse_dict(data, message)
    except json_mapping.ShapeError as exc:
        problem = exc.problem
    if problem.unknown is not None:
        return Invalid(
            problem.unknown[:MAX_REASON], f"unknown field; {problem.reason}"[:MAX_REASON]
        )
    # The event's own field is the one reported, with a map's key (features["age"]); a deeper
    # path (input_shape[1]) says where.
    found = _FIELD.match(problem.path)
    field = found.group(0) if found else problem.path
    reason = problem.reason if problem.path == field else f"{problem.path}: {problem.reason}"
    return Invalid(field, reason[:MAX_REASON])


def _not_an_object(value: Any) -> Invalid:
    return Invalid("", f"expected a JSON object (an event), got {show(value)}")


# An event with every field unset, as the converters give it: copied for each JSON event
# (its only mutable values, metadata and input_shape, are fresh for each).
_EMPTY_ML = ml_event_from_proto(events_pb2.MLEvent())
_EMPTY_LLM = llm_event_from_proto(events_pb2.LLMEvent())


def ml_event_from_data(data: Any) -> dict[str, Any] | Invalid:
    """One event of a JSON batch, as decoded JSON, read as proto3's JSON mapping reads it."""
    if type(data) is not dict:
        return _not_an_object(data)
    if (wrong := _shorthands(data)) is not None:
        return wrong
    event = {**_EMPTY_ML, "metadata": {}, "input_shape": []}
    if _fast(data, _ML_KINDS, _ML_STRINGS, event):
        return event
    message = _parse_slowly(data, events_pb2.MLEvent())
    if isinstance(message, Invalid):
        return message
    assert isinstance(message, events_pb2.MLEvent)
    return ml_event_from_proto(message)


def llm_event_from_data(data: Any) -> dict[str, Any] | Invalid:
    """One event of a JSON batch, as decoded JSON, read as proto3's JSON mapping reads it."""
    if type(data) is not dict:
        return _not_an_object(data)
    event = {**_EMPTY_LLM, "metadata": {}}
    if _fast(data, _LLM_KINDS, _LLM_STRINGS, event):
        return event
    message = _parse_slowly(data, events_pb2.LLMEvent())
    if isinstance(message, Invalid):
        return message
    assert isinstance(message, events_pb2.LLMEvent)
    return llm_event_from_proto(message)


def _decoded(value: struct_pb2.Value) -> Any:
    if value.WhichOneof("kind") == "struct_value":
        return struct_to_dict(value.struct_value)  # the common case, without a detour
    return structs.value_to_python(value)


class JsonBatch(Protocol):
    """IngestMLJsonRequest and IngestLLMJsonRequest."""

    @property
    def events(self) -> Any: ...

    @property
    def events_json(self) -> bytes: ...


def decoded_events(request: JsonBatch) -> list[Any]:
    """The batch's events as decoded JSON, from whichever form it was sent in."""
    if not request.events_json:
        return [_decoded(value) for value in request.events]
    if len(request.events):
        raise InvalidArgument("events and events_json are both set; set one or the other")
    try:
        # Integers too long for a double become ±inf, as the gateway reads a REST body.
        events = fast_json.loads(request.events_json, parse_int=json_int)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"events_json: not valid JSON ({str(exc)[:MAX_REASON]})") from None
    if type(events) is not list:
        raise InvalidArgument(f"events_json: expected a JSON array of events, got {show(events)}")
    return events
