"""OTLP/JSON ⇄ the OTLP protobuf messages.

OTLP/JSON is proto3 JSON with one exception: trace and span ids are hex strings, not base64
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). Unknown fields are
ignored, as the spec asks of receivers. Marshalling only: what the spans mean is the
collector's business.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from aegis_shared import json_shape
from gateway.marshal import BadRequest

ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _ids_to_base64(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        return
    for key in ID_KEYS:
        value = item.get(key)
        if isinstance(value, str):
            try:
                item[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BadRequest(
                    f"{where}.{key}: expected a hex string, got {json_shape.show(value)}"
                ) from None


def _list(parent: dict[str, Any], *keys: str) -> list[Any]:
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _object(item: Any, where: str) -> None:
    # json_format would take a string here for a message, iterating its characters as
    # (unknown, ignored) field names: say it is not one.
    if not isinstance(item, dict):
        raise BadRequest(f"{where}: expected a JSON object, got {json_shape.show(item)}")


def parse_traces(raw: bytes) -> trace_service_pb2.ExportTraceServiceRequest:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise BadRequest(f"body: not valid JSON ({exc.msg} at {where})") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"body: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest(f"body: expected a JSON object, got {json_shape.show(data)}")
    for r, resource in enumerate(_list(data, "resourceSpans", "resource_spans")):
        _object(resource, f"resourceSpans[{r}]")
        for s, scope in enumerate(_list(resource, "scopeSpans", "scope_spans")):
            _object(scope, f"resourceSpans[{r}].scopeSpans[{s}]")
            for n, span in enumerate(_list(scope, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                _object(span, where)
                _ids_to_base64(span, where)
                for k, link in enumerate(_list(span, "links")):
                    _object(link, f"{where}.links[{k}]")
                    _ids_to_base64(link, f"{where}.links[{k}]")
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        return json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except json_format.ParseError:
        problem = json_shape.explain(data, request.DESCRIPTOR, ignore_unknown=True)
    if problem is None:
        raise BadRequest("body: not an OTLP/JSON ExportTraceServiceRequest") from None
    raise BadRequest(f"{problem.path or 'body'}: {problem.reason}") from None


def response_json(reply: bytes) -> bytes:
    """The Export response as OTLP/JSON (int64 as strings, lowerCamelCase keys)."""
    message = trace_service_pb2.ExportTraceServiceResponse.FromString(reply)
    return json.dumps(json_format.MessageToDict(message)).encode()
