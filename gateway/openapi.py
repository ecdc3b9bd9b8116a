"""The OpenAPI contract, derived from the descriptors by rules, never written per route.

- Request schemas come from the request messages: `google.api.field_behavior = REQUIRED` marks
  required fields, `(aegis.v1.json_schema)` (or another field's, named by
  `(aegis.v1.json_schema_as)`) adds the bounds the collector enforces, read by both through
  aegis_shared.json_schema, and a `(aegis.v1.json_message)` Value field is documented as that
  message.
- Response schemas come from the response messages as `gateway.marshal.to_json` prints them:
  every field present, an unset optional or message field null.
- The error statuses of a route follow from its shape (STATUS_RULES): every route may answer
  400, 401, 429, 503 and 504; one that needs a token also 403; one with path parameters
  (or `http_not_found`) 404;
  one with a body 413 and 415. Every error has the same body (ERROR_SCHEMA), except on a
  method with `(aegis.v1.oauth2_errors)`: RFC 6749's (OAUTH2_ERROR_SCHEMA).
A route added to the protos gets all of this without an edit here. The hand-written routes
(GET /export/{kind}, POST /v1/traces) are documented by the same rules, given the content
of their success response (`operation(..., success_content=...)`, `error_responses`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from aegis.v1 import options_pb2
from aegis_shared import json_schema
from gateway.marshal import json_texts

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.CPPTYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.CPPTYPE_INT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.CPPTYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.CPPTYPE_UINT64: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.CPPTYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.CPPTYPE_FLOAT: {"type": "number"},
    FieldDescriptor.CPPTYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.CPPTYPE_STRING: {"type": "string"},
}
# JSON numbers are doubles: 64-bit integers are documented up to what a double holds exactly.
_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**53), 2**53),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**53),
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "grpc-gateway's error body: the gRPC status code and what went wrong.",
    "properties": {
        "code": {"type": "integer", "description": "gRPC status code"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {}},
    },
    "required": ["code", "message", "details"],
}
OAUTH2_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "OAuth2Error",
    "description": "RFC 6749 section 5.2's error body (gateway.status.oauth2_error_body).",
    "properties": {
        "error": {
            "type": "string",
            "description": "invalid_request, invalid_client, invalid_scope, "
            "unsupported_grant_type, slow_down (too many failed sign-ins: see Retry-After)",
        },
        "error_description": {"type": "string"},
    },
    "required": ["error", "error_description"],
}
BEARER = "bearerAuth"


@dataclass(frozen=True)
class RouteShape:
    """What the status rules look at."""

    path: str
    body: str
    method: MethodDescriptor

    @property
    def needs_token(self) -> bool:
        return not self.method.GetOptions().Extensions[options_pb2.no_auth]

    @property
    def finds(self) -> bool:
        """Names a resource that may not exist: in its path, or by `http_not_found`."""
        options = self.method.GetOptions().Extensions
        return bool(self.path_params) or bool(options[options_pb2.http_not_found])

    @property
    def oauth2(self) -> bool:
        return bool(self.method.GetOptions().Extensions[options_pb2.oauth2_errors])

    @property
    def path_params(self) -> set[str]:
        return set(re.findall(r"{(\w+)}", self.path))


# (status, description, applies to the route). The gRPC codes behind them: gateway.status.
STATUS_RULES: tuple[tuple[int, str, Callable[[RouteShape], bool]], ...] = (
    (400, "Invalid request: a field is missing or invalid (INVALID_ARGUMENT).", lambda r: True),
    (401, "Missing, invalid or expired credentials (UNAUTHENTICATED).", lambda r: True),
    (
        403,
        "The token lacks the scope this route needs (PERMISSION_DENIED).",
        lambda r: r.needs_token,
    ),
    (404, "No such resource for the caller's tenant (NOT_FOUND).", lambda r: r.finds),
    (
        409,
        "The resource's state forbids this, e.g. rotating a revoked client (ABORTED).",
        lambda r: bool(r.path_params) and r.body == "*",
    ),
    (413, "Request body larger than the limit (4 MiB).", lambda r: r.body == "*"),
    (
        415,
        "A Content-Encoding other than identity (bodies are not inflated).",
        lambda r: r.body == "*",
    ),
    (
        429,
        "Too many requests or batches in flight, or the database is busy (it did not answer "
        "in time); retry after Retry-After seconds (RESOURCE_EXHAUSTED).",
        lambda r: True,
    ),
    (
        503,
        "The collector or its database cannot be reached; retry (UNAVAILABLE).",
        lambda r: True,
    ),
    (504, "The collector did not answer in time (DEADLINE_EXCEEDED).", lambda r: True),
)


# Messages a request may also give as a plain JSON array of one of these repeated fields.
_ARRAY_SHORTHANDS: dict[str, tuple[str, ...]] = {"aegis.v1.FeatureValues": ("numbers", "strings")}


def _required(field: FieldDescriptor) -> bool:
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors


def _element_schema(field: FieldDescriptor, *, response: bool) -> dict[str, Any]:
    if field.message_type is not None:
        name = field.message_type.full_name
        if name in _WELL_KNOWN:
            schema = dict(_WELL_KNOWN[name])
            if json_message := field.GetOptions().Extensions[options_pb2.json_message]:
                shape = descriptor_pool.Default().FindMessageTypeByName(json_message)
                # Any JSON is taken: an element that is not this message is rejected on its
                # own and reported in the response, so the shape documents, never refuses.
                schema = {
                    "description": f"A {shape.name} (any other value is rejected on its own, "
                    "reported by its index in the response's errors).",
                    "anyOf": [message_schema(shape, response=False), {}],
                }
            return schema
        if name in _ARRAY_SHORTHANDS and not response:
            # The collector also reads a plain JSON array of one of the fields' values
            # (collector.api.json_events: REST's shorthand, e.g. "age": [31, 45.5]).
            arrays = [
                field_schema(f, response=False)
                for f in field.message_type.fields
                if f.name in _ARRAY_SHORTHANDS[name]
            ]
            return {"anyOf": [*arrays, message_schema(field.message_type, response=False)]}
        return message_schema(field.message_type, response=response)
    schema = dict(_SCALARS.get(field.cpp_type, {"type": "string"}))
    if field.cpp_type in _INT_RANGES and not response:
        schema["minimum"], schema["maximum"] = _INT_RANGES[field.cpp_type]
        schema.pop("format", None)
    return schema


def field_schema(
    field: FieldDescriptor, *, response: bool = False, nullable: bool = False
) -> dict[str, Any]:
    """`nullable`: a body field, where null means unset (proto3's JSON mapping)."""
    schema: dict[str, Any]
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        # proto3's JSON mapping: a map is a JSON object of its values, keyed by its keys.
        value = field.message_type.fields_by_name["value"]
        schema = {
            "type": "object",
            "additionalProperties": _element_schema(value, response=response),
        }
    elif field.is_repeated:
        schema = {"type": "array", "items": _element_schema(field, response=response)}
    else:
        schema = _element_schema(field, response=response)
    if not response:
        schema = _merge(schema, json_schema.keywords(field))
    if (response and field.has_presence and not field.is_repeated) or (
        nullable and not _required(field)
    ):
        schema = {"anyOf": [schema, {"type": "null"}]}  # printed as null when unset
    return schema


def _merge(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    for key, value in extra.items():
        if key == "items" and isinstance(out.get("items"), dict):
            out["items"] = {**out["items"], **value}
        else:
            out[key] = value
    return out


def message_schema(
    message: Descriptor, *, response: bool = False, skip: frozenset[str] = frozenset()
) -> dict[str, Any]:
    fields = [f for f in message.fields if f.name not in skip]
    schema: dict[str, Any] = {
        "type": "object",
        "title": message.name,
        "properties": {
            f.name: field_schema(f, response=response, nullable=not response) for f in fields
        },
    }
    # Responses print every field; requests name the fields the collector requires.
    required = [f.name for f in fields if response or _required(f)]
    if required:
        schema["required"] = required
    if not response:
        schema["additionalProperties"] = False  # an unknown field is a 400
    return schema


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error_responses(route: RouteShape, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error statuses STATUS_RULES give the route; `content`: their body, by default
    ERROR_SCHEMA (OAUTH2_ERROR_SCHEMA with oauth2_errors) as JSON."""
    if content is None:
        content = _json(OAUTH2_ERROR_SCHEMA if route.oauth2 else ERROR_SCHEMA)
    out: dict[str, Any] = {}
    for status, description, applies in STATUS_RULES:
        if applies(route):
            headers = {}
            if status in (429, 503):
                headers = {"Retry-After": {"schema": {"type": "integer"}}}
            out[str(status)] = {
                "description": description,
                "content": content,
                **({"headers": headers} if headers else {}),
            }
    return out


def responses(
    route: RouteShape, success_status: int, success_content: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`success_content`: by default the response message as JSON."""
    if success_content is None:
        success_content = _json(message_schema(route.method.output_type, response=True))
    out: dict[str, Any] = {str(success_status): {"description": "OK", "content": success_content}}
    return {**out, **error_responses(route)}


def operation(
    path: str,
    body: str,
    method: MethodDescriptor,
    success_status: int = 200,
    success_content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Path parameters, then the body (`body: "*"`) or the remaining fields as the query."""
    route = RouteShape(path, body, method)
    message = method.input_type
    in_path = route.path_params
    parameters = [
        {"name": f.name, "in": "path", "required": True, "schema": field_schema(f)}
        for f in message.fields
        if f.name in in_path
    ]
    spec: dict[str, Any] = {
        "responses": responses(route, success_status, success_content),
        "security": [{BEARER: []}] if route.needs_token else [],
    }
    if body == "*":
        # A `(aegis.v1.json_text)` field's bytes twin is how the gateway forwards, not REST's.
        texts = json_texts(message)
        schema = message_schema(message, skip=frozenset(in_path) | frozenset(texts.values()))
        spec["requestBody"] = {"required": True, "content": _json(schema)}
    else:
        parameters += [
            {
                "name": f.name,
                "in": "query",
                "required": _required(f),
                "schema": field_schema(f),
                **({"style": "form", "explode": True} if f.is_repeated else {}),
            }
            for f in message.fields
            if f.name not in in_path
        ]
    spec["parameters"] = parameters
    return spec


def security_schemes() -> dict[str, Any]:
    return {
        BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        # POST /auth/token's client_secret_basic (gateway.oauth2).
        "basicAuth": {"type": "http", "scheme": "basic"},
    }
