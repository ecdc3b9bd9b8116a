"""Events as the application logs them: keyword arguments → protobuf messages.

Messages are built at the call site, so a wrong type (a float shape, a non-JSON metadata
value) raises in the caller's own code instead of failing later on a background thread.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from google.protobuf import timestamp_pb2

from aegis.v1 import events_pb2
from aegis_sdk.ids import new_event_id

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
        event.metadata.update(metadata)
    return event


def ml_event(
    *,
    model_type: str,
    model_id: str,
    input_shape: Sequence[int] = (),
    prediction_count: int | None = None,
    timestamp: dt.datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
    latency_ms: float | None = None,
    event_id: str | None = None,
) -> events_pb2.MLEvent:
    event = events_pb2.MLEvent(
        event_id=event_id or new_event_id(),
        model_type=model_type,
        model_id=model_id,
        input_shape=list(input_shape),
        timestamp=_timestamp(timestamp),
        **_present(prediction_count=prediction_count, latency_ms=latency_ms),
    )
    _with_metadata(event, metadata)
    return event


def llm_event(
    *,
    model_name: str,
    prompt_length: int | None = None,
    response_length: int | None = None,
    tokens_used: int | None = None,
    cost: float | None = None,
    timestamp: dt.datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
    latency_ms: float | None = None,
    event_id: str | None = None,
) -> events_pb2.LLMEvent:
    event = events_pb2.LLMEvent(
        event_id=event_id or new_event_id(),
        model_name=model_name,
        timestamp=_timestamp(timestamp),
        **_present(
            prompt_length=prompt_length,
            response_length=response_length,
            tokens_used=tokens_used,
            cost=cost,
            latency_ms=latency_ms,
        ),
    )
    _with_metadata(event, metadata)
    return event
