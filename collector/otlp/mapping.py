"""Which spans are LLM calls, and the LLM event each one becomes.

Attribute names, in order of preference: the current OpenTelemetry GenAI semantic conventions,
then their deprecated names (still emitted by many instrumentations), then OpenInference's.
Content (input, output, system) is read by collector.otlp.content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collector.ingest.validation import MAX_ERROR, Invalid
from collector.otlp import content
from collector.otlp.records import check_ids, span_time
from collector.otlp.spans import Span

# A span is an LLM call when it carries any of these (and is not an agent's or a tool's), or
# openinference.span.kind = LLM.
MARKERS = ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.operation.name")
OI_KIND = "openinference.span.kind"
# gen_ai.operation.name values of the GenAI conventions that are not a call to a model.
NOT_MODEL_CALLS = frozenset(("create_agent", "invoke_agent", "execute_tool", "invoke_workflow"))
OI_MODEL = "llm.model_name"
_ANY_MARKER = frozenset((*MARKERS, OI_MODEL))

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
# Parts of the input and output tokens (each included in them, as the conventions say): the
# released GenAI names, the renamed cache write (semantic-conventions main: cache_write, was
# cache_creation), the flat names of older instrumentations, then OpenInference's.
CACHE_READ_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_TOKENS = (
    "gen_ai.usage.reasoning.output_tokens",
    "llm.token_count.completion_details.reasoning",
)
# No GenAI convention for cost exists yet; these are what instrumentations emit today
# (OpenLIT: gen_ai.usage.cost; OpenInference: llm.cost.total).
COST = ("gen_ai.usage.cost", "llm.cost.total")
FINISH_REASONS = ("gen_ai.response.finish_reasons",)
OPERATION = ("gen_ai.operation.name",)
# Attribution. user.id and session.id are OpenTelemetry's general names (OpenInference uses
# them too); enduser.id is the older one, gen_ai.conversation.id the GenAI one. A span without
# them takes them from its nearest ancestor in the same export that has them (an agent's root
# span usually carries the user and the conversation, its LLM calls do not).
USER = ("user.id", "enduser.id")
SESSION = ("session.id", "gen_ai.conversation.id")
# Resource attributes.
ENVIRONMENT = ("deployment.environment.name", "deployment.environment")
RELEASE = ("service.version",)
TAGS = "tag.tags"  # OpenInference
MAX_LABEL = 256
MAX_ID = 256  # user_id, session_id
MAX_SHORT = 64  # environment, release, a tag
MAX_TAGS = 20


def is_llm_call(attributes: Mapping[str, Any]) -> bool:
    """Agents and tools carry gen_ai.* attributes too (an invoke_agent span may name its model
    and sum its calls' tokens): those spans are spans of the trace, not LLM calls, or the
    calls would be counted twice."""
    kind = attributes.get(OI_KIND)
    if isinstance(kind, str):
        return kind.upper() == "LLM"
    if attributes.get("gen_ai.operation.name") in NOT_MODEL_CALLS:
        return False
    return not _ANY_MARKER.isdisjoint(attributes)  # in C: a generator cost ~0.3 µs a span


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """The first of `keys` set (not None, not ""). Hot path: most keys are absent, and `in`
    costs less than `.get`, a method call (~40 keys an LLM span)."""
    for key in keys:
        if key in attributes:
            value = attributes[key]
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


def _text(value: Any, bound: int) -> str | None:
    """An identifier or a short label, cut to its bound: ints are ids too (user.id = 42)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)[:bound]
    return text or None


def _inherited(span: Span, ancestors: Sequence[Span], keys: tuple[str, ...]) -> str | None:
    for source in (span, *ancestors):
        _, value = _first(source.attributes, keys)
        if (text := _text(value, MAX_ID)) is not None:
            return text
    return None


def _tags(attributes: Mapping[str, Any]) -> list[str] | None:
    value = attributes.get(TAGS)
    if not isinstance(value, list):
        return None
    tags = [tag[:MAX_SHORT] for tag in value if isinstance(tag, str) and tag][:MAX_TAGS]
    return tags or None


def _attribution(span: Span, ancestors: Sequence[Span]) -> dict[str, Any]:
    """trace/span ids, user, session, environment, release and tags: set only when known."""
    found: dict[str, Any] = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "user_id": _inherited(span, ancestors, USER),
        "session_id": _inherited(span, ancestors, SESSION),
        "environment": _text(_first(span.resource, ENVIRONMENT)[1], MAX_SHORT),
        "release": _text(_first(span.resource, RELEASE)[1], MAX_SHORT),
        "tags": _tags(span.attributes),
    }
    return {key: value for key, value in found.items() if value is not None}


def _ids(span: Span) -> str:
    check_ids(span)
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
        "span_name": span.name[:MAX_LABEL],
        "span_kind": span.kind,
    }
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


def llm_event(
    span: Span, ancestors: Sequence[Span] = (), *, known_llm: bool = False
) -> dict[str, Any] | None:
    """The LLM event for a span, None when the span is not an LLM call; Invalid (naming the
    attribute and the reason) when it is one that cannot be stored. `ancestors`: the span's
    parent, its parent's parent… as far as the same export holds them. `known_llm`: the
    caller has asked is_llm_call already."""
    attributes = span.attributes
    if not known_llm and not is_llm_call(attributes):
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
    prompt = content.input_of(attributes, span.details)
    response = content.output_of(attributes, span.details)
    system = content.system_of(attributes, span.details)
    cost = _cost(attributes)
    event: dict[str, Any] = {
        "event_id": event_id,
        "model_name": model,
        "prompt_length": content.length(prompt),
        "response_length": content.length(response),
        "tokens_used": total,
        "cost": cost,  # None: priced at ingest (collector.ingest.pricing)
        "timestamp": span_time(span.start_ns),
        "metadata": metadata,
        "latency_ms": latency_ms,
        "error": _error(span),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        **_attribution(span, ancestors),
    }
    usage_parts = (
        ("cache_read_tokens", CACHE_READ_TOKENS),
        ("cache_write_tokens", CACHE_WRITE_TOKENS),
        ("reasoning_tokens", REASONING_TOKENS),
    )
    for name, keys in usage_parts:
        if (count := _tokens(attributes, keys)) is not None:
            event[name] = count
    for name, value in (("input", prompt), ("output", response), ("system", system)):
        if value is not None:
            event[name] = value  # bounded (MAX_CONTENT_BYTES) by validation, as any event's
    if provider:
        event["provider"] = provider
    return event
