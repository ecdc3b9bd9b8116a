"""Events as the application logs them: keyword arguments → protobuf messages.

Messages are built at the call site, so a wrong type (a float shape, a non-JSON metadata
value) raises in the caller's own code instead of failing later on a background thread.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict, Unpack

from google.protobuf import timestamp_pb2

from aegis.v1 import events_pb2
from aegis_sdk.ids import new_event_id
from aegis_sdk.tabular import features_message, predictions_message, rows_of
from aegis_sdk.trace_context import current_ids

Kind = Literal["ml", "llm"]
Event: TypeAlias = events_pb2.MLEvent | events_pb2.LLMEvent
KINDS: tuple[Kind, ...] = ("ml", "llm")


def _timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp:
    if value is None:
        # Cheaper than Timestamp.GetCurrentTime(), which matters once per log_* call.
        seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
        return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    ts = timestamp_pb2.Timestamp()
    # protobuf takes a naive datetime as UTC, which is what we document.
    ts.FromDatetime(value)
    return ts


def _present(**fields: Any) -> dict[str, Any]:
    """Optional fields left as None stay unset, so the server applies its defaults."""
    return {key: value for key, value in fields.items() if value is not None}


def _with_metadata(event: Event, metadata: Mapping[str, Any] | None) -> Event:
    if metadata:
        # JSON text rather than a Struct: the collector decodes it 3-5x faster (see
        # proto/aegis/v1/events.proto). A value JSON cannot hold raises here, in the caller.
        event.metadata_json = json.dumps(metadata, separators=(",", ":"), allow_nan=False).encode()
    return event


def _content(event: events_pb2.LLMEvent, name: str, value: str | Sequence[Any] | None) -> None:
    if value is None:
        return
    if isinstance(value, str):
        getattr(event, name).string_value = value
    elif isinstance(value, Sequence):
        # A list of messages as JSON text, like metadata: cheaper to build here and to read
        # in the collector than a google.protobuf.Value (see events.proto's ContentForm).
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        setattr(event, f"{name}_json", text.encode())
    else:
        raise TypeError(
            f"{name} must be a string or a list of {{'role': ..., 'content': ...}} messages, "
            f"not {type(value).__name__}"
        )


def _attribution(f: Mapping[str, Any]) -> dict[str, Any]:
    """The attribution fields given, with trace_id and span_id taken from the active
    OpenTelemetry span when neither is given (an explicit value, even "", wins)."""
    trace_id, span_id = f.get("trace_id"), f.get("span_id")
    if trace_id is None and span_id is None and (ids := current_ids()) is not None:
        trace_id, span_id = ids
    tags = f.get("tags")
    if isinstance(tags, str):
        raise TypeError("tags must be a list of strings, not a string")
    return _present(
        user_id=f.get("user_id"),
        session_id=f.get("session_id"),
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=f.get("parent_span_id"),
        environment=f.get("environment"),
        release=f.get("release"),
        tags=None if tags is None else list(tags),
    )


# Required keys live in a total base class: with postponed annotations Python 3.11 cannot
# see Required[...] when it builds __required_keys__.
class _MLRequired(TypedDict):
    model_type: str
    model_id: str


class _Attribution(TypedDict, total=False):
    """Who, which conversation, which trace, where: optional on every event. trace_id and
    span_id default to the active OpenTelemetry span's when neither is given."""

    user_id: str | None
    session_id: str | None
    trace_id: str | None  # 32 lowercase hex digits
    span_id: str | None  # 16 lowercase hex digits
    parent_span_id: str | None
    environment: str | None  # e.g. "production"
    release: str | None  # the application's version
    tags: Sequence[str] | None  # at most 20, each 1 to 64 characters


class MLFields(_MLRequired, _Attribution, total=False):
    """log_ml's keyword arguments: the ML event's fields."""

    input_shape: Sequence[int]
    prediction_count: int | None
    timestamp: dt.datetime | None
    metadata: Mapping[str, Any] | None
    latency_ms: float | None
    event_id: str | None
    error: str | None  # an error type or short message; None or "" means success


class _LLMRequired(TypedDict):
    model_name: str


Messages: TypeAlias = Sequence[Mapping[str, str]]  # [{"role": ..., "content": ...}, ...]


class LLMFields(_LLMRequired, _Attribution, total=False):
    """log_llm's keyword arguments: the LLM event's fields."""

    prompt_length: int | None
    response_length: int | None
    tokens_used: int | None
    cost: float | None
    timestamp: dt.datetime | None
    metadata: Mapping[str, Any] | None
    latency_ms: float | None
    event_id: str | None
    error: str | None  # an error type or short message; None or "" means success
    input_tokens: int | None  # where known; tokens_used stays the total
    output_tokens: int | None
    provider: str | None  # "openai", "anthropic", …: helps price events sent without cost
    cache_read_tokens: int | None  # part of input_tokens, priced at the cache-read rate
    cache_write_tokens: int | None
    reasoning_tokens: int | None  # part of output_tokens
    input: str | Messages | None  # content: a string, or a list of messages
    output: str | Messages | None
    system: str | None


def _checked(fields: Mapping[str, Any], spec: type, call: str) -> Mapping[str, Any]:
    """The TypeError a plain keyword signature would raise: **kwargs alone would accept a
    misspelt field and silently lose it."""
    unknown = sorted(fields.keys() - spec.__required_keys__ - spec.__optional_keys__)  # type: ignore[attr-defined]
    if unknown:
        raise TypeError(f"{call}() got unexpected keyword argument(s) {unknown}")
    missing = sorted(spec.__required_keys__ - fields.keys())  # type: ignore[attr-defined]
    if missing:
        raise TypeError(f"{call}() missing required keyword argument(s) {missing}")
    return fields


def ml_event(**fields: Unpack[MLFields]) -> events_pb2.MLEvent:
    f = _checked(fields, MLFields, "log_ml")
    event = events_pb2.MLEvent(
        event_id=f.get("event_id") or new_event_id(),
        model_type=f["model_type"],
        model_id=f["model_id"],
        input_shape=list(f.get("input_shape", ())),
        timestamp=_timestamp(f.get("timestamp")),
        **_present(
            prediction_count=f.get("prediction_count"),
            latency_ms=f.get("latency_ms"),
            error=f.get("error"),
        ),
        **_attribution(f),
    )
    _with_metadata(event, f.get("metadata"))
    return event


def prediction_event(
    features: Any = None,
    predictions: Any = None,
    feature_names: Sequence[str] | None = None,
    **fields: Unpack[MLFields],
) -> events_pb2.MLEvent:
    """An ML event with the features the model saw and what it predicted, one value per row
    (aegis_sdk.tabular says what they may be); input_shape defaults to [rows, features]."""
    event = ml_event(**fields)
    by_name = features_message(features, feature_names) if features is not None else {}
    answered = predictions_message(predictions) if predictions is not None else None
    rows = rows_of(by_name, answered)
    for name, values in by_name.items():
        event.features[name].CopyFrom(values)
    if answered is not None:
        event.predictions.CopyFrom(answered)
    if not event.input_shape and by_name:
        event.input_shape[:] = [rows, len(by_name)]
    return event


def llm_event(**fields: Unpack[LLMFields]) -> events_pb2.LLMEvent:
    f = _checked(fields, LLMFields, "log_llm")
    event = events_pb2.LLMEvent(
        event_id=f.get("event_id") or new_event_id(),
        model_name=f["model_name"],
        timestamp=_timestamp(f.get("timestamp")),
        **_present(
            prompt_length=f.get("prompt_length"),
            response_length=f.get("response_length"),
            tokens_used=f.get("tokens_used"),
            cost=f.get("cost"),
            latency_ms=f.get("latency_ms"),
            error=f.get("error"),
            input_tokens=f.get("input_tokens"),
            output_tokens=f.get("output_tokens"),
            provider=f.get("provider"),
            cache_read_tokens=f.get("cache_read_tokens"),
            cache_write_tokens=f.get("cache_write_tokens"),
            reasoning_tokens=f.get("reasoning_tokens"),
            system=f.get("system"),
        ),
        **_attribution(f),
    )
    _with_metadata(event, f.get("metadata"))
    _content(event, "input", f.get("input"))
    _content(event, "output", f.get("output"))
    return event
