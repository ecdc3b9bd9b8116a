"""The JSON Schema keywords of a request field: the one definition of the bounds the API
enforces (lengths, ranges, enums, patterns), kept in the protos' `(aegis.v1.json_schema)`
options, with `(aegis.v1.json_schema_as)` naming another field whose keywords a field shares.

The gateway's OpenAPI document (gateway.openapi) and the collector's validators (e.g.
collector.alerts.rules, collector.auth.clients) both read them here, so the document and the
server cannot disagree. The collector gets plain dicts and compiled patterns, never
descriptors: `of("aegis.v1.CreateRuleRequest", "name")["maxLength"]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

# Every file of the API, so that any of its messages can be named (and json_schema_as can
# point across files) whichever module asks first.
from aegis.v1 import (  # noqa: F401
    alerts_pb2,
    auth_pb2,
    dashboard_pb2,
    events_pb2,
    export_pb2,
    ingest_pb2,
    options_pb2,
    prices_pb2,
    tail_pb2,
)


class SchemaError(LookupError):
    """An option names no field, names one of another type, or the names go round."""


def keywords(field: FieldDescriptor) -> dict[str, Any]:
    """The field's keywords: those of the field its json_schema_as names (followed on), with
    its own json_schema over them. A new dict each call: callers may change it."""
    return _keywords(field, ())


def _keywords(field: FieldDescriptor, seen: tuple[str, ...]) -> dict[str, Any]:
    options = field.GetOptions()
    out: dict[str, Any] = {}
    if same := options.Extensions[options_pb2.json_schema_as]:
        if same in seen or same == field.full_name:
            raise SchemaError(f"{field.full_name}: json_schema_as goes round: {seen}")
        try:
            other = descriptor_pool.Default().FindFieldByName(same)
        except KeyError:
            raise SchemaError(f"{field.full_name}: json_schema_as names no field: {same}") from None
        if (other.cpp_type, other.is_repeated) != (field.cpp_type, field.is_repeated):
            raise SchemaError(f"{field.full_name}: json_schema_as names a field of another type")
        out = _keywords(other, (*seen, field.full_name))
    if text := options.Extensions[options_pb2.json_schema]:
        out.update(json.loads(text))
    return out


def of(message: str, field: str) -> dict[str, Any]:
    """The keywords of a field named by its message's full name and its own name."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(message)
        return keywords(descriptor.fields_by_name[field])
    except KeyError:
        raise SchemaError(f"no field {field!r} in a message {message!r}") from None


def pattern(regex: str) -> re.Pattern[str]:
    """A JSON Schema `pattern` (ECMA-262) as Python compiles it, to be used with `search`, as
    JSON Schema does (a pattern is anchored only by its own ^ and $). ECMA's $ matches at the
    very end only, Python's also before a final newline: each $ outside a character class
    becomes \\Z, so a trailing newline is refused as the document says."""
    out: list[str] = []
    escaped = in_class = False
    for char in regex:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out))


def choices(message: str, field: str) -> tuple[str, ...]:
    """A string field's enum without "" (which only stands for the default)."""
    return tuple(value for value in of(message, field)["enum"] if value != "")


def agree(what: str, ours: Iterable[str], documented: Iterable[str]) -> None:
    """Raise at import when a table of behaviour (keyed by what the API accepts) and the
    proto's enum have come apart: the collector must not start with the two disagreeing."""
    if set(ours) != set(documented):
        raise SchemaError(
            f"{what} must have exactly the values of the proto ({', '.join(documented)}); it "
            f"has {', '.join(ours)}"
        )
