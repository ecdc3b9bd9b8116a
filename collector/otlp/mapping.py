"""Which spans are LLM calls, and the LLM event each one becomes.

Attribute names, in order of preference: the current OpenTelemetry GenAI semantic conventions,
then their deprecated names (still emitted by many instrumentations), then OpenInference's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from collector.ingest.validation import MAX_ERROR, Invalid
from collector.otlp.spans import Span

# A span is an LLM call when it carries any of these, or openinference.span.kind = LLM.
MARKERS = ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.operation.name")
OI_KIND = "openinference.span.kind"
OI_MODEL = "llm.model_name"

RESPONSE_MODEL = ("gen_ai.response.model",)
REQUEST_MODEL = ("gen_ai.request.model", OI_MODEL)
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
TOTAL_TOKENS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
# No GenAI convention for cost exists yet; these are what instrumentations emit today
# (OpenLIT: gen_ai.usage.cost; OpenInference: llm.cost.total).
COST = ("gen_ai.usage.cost", "llm.cost.total")
INPUT_CONTENT = ("gen_ai.input.messages", "gen_ai.prompt", "input.value")
OUTPUT_CONTENT = ("gen_ai.output.messages", "gen_ai.completion", "output.value")
FINISH_REASONS = ("gen_ai.response.finish_reasons",)
OPERATION = ("gen_ai.operation.name",)
# Message contents are stored only up to this many characters each; longer ones are counted
# (prompt_length / response_length) but not kept.
MAX_CONTENT = 4096
MAX_LABEL = 256

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_llm_call(attributes: Mapping[str, Any]) -> bool:
    if any(key in attributes for key in MARKERS) or OI_MODEL in attributes:
        return True
    kind = attributes.get(OI_KIND)
    return isinstance(kind, str) and kind.upper() == "LLM"


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return key, value
    return "", None


def _label(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    key, value = _first(attributes, keys)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(key, "must be a string")
    return value[:MAX_LABEL]


def _tokens(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    key, value = _first(attributes, keys)
    if value is None:
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise Invalid(key, "must be an integer")
    if value < 0:
        raise Invalid(key, "must not be negative")
    return value


def _cost(attributes: Mapping[str, Any]) -> float | None:
    key, value = _first(attributes, COST)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise Invalid(key, "must be a number")
    return float(value)


def _content(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    _, value = _first(attributes, keys)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _time(ns: int) -> dt.datetime:
    # Whole milliseconds, as BSON stores them (see collector.api.proto_values.time_from_proto).
    return _EPOCH + dt.timedelta(milliseconds=ns // 1_000_000)


def _ids(span: Span) -> str:
    if len(span.trace_id) != 32 or span.trace_id == "0" * 32:
        raise Invalid("trace_id", "must be 16 bytes, not all zero")
    if len(span.span_id) != 16 or span.span_id == "0" * 16:
        raise Invalid("span_id", "must be 8 bytes, not all zero")
    # Deterministic, so a re-exported span is the same event and counted once.
    return span.trace_id + span.span_id


def _error(span: Span) -> str:
    if not span.error:
        return ""
    error_type = span.attributes.get("error.type")
    text = error_type if isinstance(error_type, str) and error_type else span.status_message
    return (text or "error")[:MAX_ERROR]


def _metadata(span: Span, operation: str, provider: str) -> dict[str, Any]:
    service = span.resource.get("service.name")
    metadata: dict[str, Any] = {
        "source": "otlp",
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "span_name": span.name[:MAX_LABEL],
    }
    if span.parent_span_id:
        metadata["parent_span_id"] = span.parent_span_id
    if operation:
        metadata["operation"] = operation
    if provider:
        metadata["provider"] = provider
    if isinstance(service, str) and service:
        metadata["service_name"] = service[:MAX_LABEL]
    _, reasons = _first(span.attributes, FINISH_REASONS)
    if isinstance(reasons, str):
        reasons = [reasons]
    if isinstance(reasons, list):
        metadata["finish_reasons"] = [str(r)[:MAX_LABEL] for r in reasons[:16]]
    return metadata


def llm_event(span: Span) -> dict[str, Any] | None:
    """The LLM event for a span, None when the span is not an LLM call; Invalid (naming the
    attribute and the reason) when it is one that cannot be stored."""
    attributes = span.attributes
    if not is_llm_call(attributes):
        return None
    event_id = _ids(span)
    model = _label(attributes, RESPONSE_MODEL) or _label(attributes, REQUEST_MODEL)
    if not model:
        raise Invalid(
            "model_name", "no gen_ai.response.model, gen_ai.request.model or llm.model_name"
        )
    provider = _label(attributes, PROVIDER)
    operation = _label(attributes, OPERATION)
    input_tokens = _tokens(attributes, INPUT_TOKENS)
    output_tokens = _tokens(attributes, OUTPUT_TOKENS)
    if input_tokens is None and output_tokens is None:
        total = _tokens(attributes, TOTAL_TOKENS)
    else:
        total = (input_tokens or 0) + (output_tokens or 0)
    if span.start_ns <= 0:
        raise Invalid("start_time_unix_nano", "required")
    latency_ms = None
    if span.end_ns:
        if span.end_ns < span.start_ns:
            raise Invalid("end_time_unix_nano", "before start_time_unix_nano")
        latency_ms = (span.end_ns - span.start_ns) / 1e6
    metadata = _metadata(span, operation, provider)
    prompt = _content(attributes, INPUT_CONTENT)
    response = _content(attributes, OUTPUT_CONTENT)
    if prompt is not None and len(prompt) <= MAX_CONTENT:
        metadata["input_messages"] = prompt
    if response is not None and len(response) <= MAX_CONTENT:
        metadata["output_messages"] = response
    cost = _cost(attributes)
    event: dict[str, Any] = {
        "event_id": event_id,
        "model_name": model,
        "prompt_length": len(prompt) if prompt is not None else None,
        "response_length": len(response) if response is not None else None,
        "tokens_used": total,
        "cost": cost,  # None: priced at ingest (collector.ingest.pricing)
        "timestamp": _time(span.start_ns),
        "metadata": metadata,
        "latency_ms": latency_ms,
        "error": _error(span),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }
    if provider:
        event["provider"] = provider
    return event
