"""OTLP protobuf → plain spans: the only module of collector.otlp that reads protobuf.

Attributes are read field by field (MessageToDict is far slower), and resource attributes are
read once per resource, not once per span. Of a span's events only the GenAI content event is
read (its attributes carry the messages when an instrumentation records them there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR
# An attribute value nested deeper than this is cut off: arrays of arrays are rare in spans.
MAX_VALUE_DEPTH = 4
# The GenAI semantic conventions' event that carries gen_ai.input.messages,
# gen_ai.output.messages and gen_ai.system_instructions as attributes.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
# OTLP's enum names without their prefixes: "INTERNAL", "CLIENT"…; "UNSET", "OK", "ERROR".
KINDS = {
    number: name.removeprefix("SPAN_KIND_") for name, number in trace_pb2.Span.SpanKind.items()
}
STATUSES = {
    number: name.removeprefix("STATUS_CODE_")
    for name, number in trace_pb2.Status.StatusCode.items()
}


# Slots and not frozen: a frozen dataclass sets each field through object.__setattr__, which
# cost ~2 µs per span of the 13 (issue 21's profile). Nothing changes a Span once read.
@dataclass(slots=True)
class Span:
    trace_id: str  # hex, as OTLP/JSON and every trace UI show it
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    error: bool  # status ERROR
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]  # shared by the spans of one resource: never modified
    kind: str = "UNSPECIFIED"
    status: str = "UNSET"
    # The attributes of the span's DETAILS_EVENT, if it has one.
    details: dict[str, Any] = field(default_factory=dict)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def _value(value: common_pb2.AnyValue, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if depth >= MAX_VALUE_DEPTH:
        return None
    if which == "array_value":
        return [_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes(pairs: Any) -> dict[str, Any]:
    """Hot path (~1 µs an attribute, most of it protobuf access): a scalar is read in place,
    anything else by _value (~7 % less than calling _value for each). A non-empty string,
    most attributes, is read without WhichOneof (a string read is a third of its cost); an
    empty one may be another kind's default, so WhichOneof says. The pairs are copied to a
    list first: iterating protobuf's container ends on an IndexError it raises, which costs
    more than the copy."""
    out: dict[str, Any] = {}
    for kv in pairs[:]:
        value = kv.value
        text = value.string_value
        if text:
            out[kv.key] = text
            continue
        which = value.WhichOneof("value")
        out[kv.key] = getattr(value, which) if which in _SCALARS else _value(value)
    return out


def _details(span: trace_pb2.Span) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for event in span.events:
        if event.name == DETAILS_EVENT:
            found.update(attributes(event.attributes))
    return found


def spans_of(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    out: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                status = span.status  # read once: each read of a message field costs one
                code = status.code
                out.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        error=code == STATUS_ERROR,
                        status_message=status.message,
                        attributes=attributes(span.attributes),
                        resource=resource,
                        kind=KINDS.get(span.kind, "UNSPECIFIED"),
                        status=STATUSES.get(code, "UNSET"),
                        details=_details(span) if span.events else {},
                    )
                )
    return out


def export_response(rejected: int, message: str) -> trace_service_pb2.ExportTraceServiceResponse:
    """Per the OTLP spec, partial_success is left unset when every span was accepted and there
    is nothing to warn about; a message with no rejected span is a warning."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response
