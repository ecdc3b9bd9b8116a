"""What is wrong with a JSON object read as a protobuf message, said in JSON's words: the
field's path (`events[0].timestamp`), what it should be (a string, an integer, a list of
integers, an RFC 3339 date-time) and the value that was sent. Never protobuf's words: a REST
caller knows neither message types nor `repeated` fields.

Only the failure path comes here (json_format.ParseDict refused the object): each field is
tried alone with ParseDict, so a field is blamed exactly when ParseDict refuses it, and the
message only describes it. Shared by the gateway (request bodies and queries) and the
collector (each JSON event); it imports only protobuf. Descriptors are typed Any: protobuf's
two implementations (Python, upb) have different descriptor classes.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor

from aegis.v1 import options_pb2

MAX_SHOWN = 40  # characters of a sent value quoted in a message
MAX_LISTED = 12  # field names listed as expected
TIMESTAMP_EXAMPLE = '"2024-01-02T10:00:00Z"'


@dataclass(frozen=True)
class Problem:
    """path: the JSON path of the value at fault, "" for the object itself. For an unknown
    field, `unknown` is the key that was sent (path is then the object's) and `reason` says
    what was expected instead."""

    path: str
    reason: str
    unknown: str | None = None


def show(value: Any) -> str:
    """A sent value as JSON text, cut short."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a number too large to hold" if not math.isnan(value) else "NaN"
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        text = value.decode(errors="replace") if isinstance(value, bytes) else type(value).__name__
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_POWERS = {2**31 - 1: "2^31-1", -(2**31): "-2^31", 2**63 - 1: "2^63-1", -(2**63): "-2^63"}
# What one value of a field is, in JSON's words: (singular, plural).
_SCALARS = {
    FieldDescriptor.CPPTYPE_STRING: ("a string", "strings"),
    FieldDescriptor.CPPTYPE_BOOL: ("true or false", "booleans"),
    FieldDescriptor.CPPTYPE_DOUBLE: ("a number", "numbers"),
    FieldDescriptor.CPPTYPE_FLOAT: ("a number", "numbers"),
}
_MESSAGES = {
    "google.protobuf.Timestamp": (
        f"an RFC 3339 date-time string (e.g. {TIMESTAMP_EXAMPLE})",
        "RFC 3339 date-time strings",
    ),
    "google.protobuf.Duration": ('a duration string (e.g. "1.5s")', "duration strings"),
    "google.protobuf.Struct": ("a JSON object", "JSON objects"),
    "google.protobuf.ListValue": ("a list", "lists"),
}


# The well-known types that hold any JSON (of one type), and protobuf's own package.
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "google.protobuf.Value": object,
    "google.protobuf.Struct": dict,
    "google.protobuf.ListValue": list,
}
_WELL_KNOWN = "google.protobuf."


def _what(field: FieldDescriptor) -> tuple[str, str]:
    if field.type == FieldDescriptor.TYPE_BYTES:
        return ("base64 text", "base64 texts")
    if field.cpp_type in _INT_RANGES:
        return ("an integer", "integers")
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM and field.enum_type is not None:
        names = ", ".join(v.name for v in field.enum_type.values)
        return (f"one of {names}", f"values from {names}")
    if field.message_type is not None:
        return _MESSAGES.get(field.message_type.full_name, ("a JSON object", "JSON objects"))
    return _SCALARS.get(field.cpp_type, ("a JSON value", "JSON values"))


def _range(field: FieldDescriptor) -> str:
    low, high = _INT_RANGES[field.cpp_type]
    return f"from {_POWERS.get(low, low)} to {_POWERS.get(high, high)}"


def _accepts(descriptor: Any, data: dict[str, Any], ignore_unknown: bool = False) -> bool:
    try:
        message = message_factory.GetMessageClass(descriptor)()
        json_format.ParseDict(data, message, ignore_unknown_fields=ignore_unknown)
    except (json_format.ParseError, ValueError, TypeError, AttributeError):
        return False
    return True


def _value_problem(field: FieldDescriptor, value: Any, path: str, lax: bool) -> Problem:
    """Why one value of the field (an element, for a list) was refused."""
    nested = field.message_type
    json_type = _JSON_TYPES.get(nested.full_name) if nested is not None else None
    if json_type is not None and isinstance(value, json_type):
        # Any JSON of the right type is taken, so only its depth can have been refused.
        return Problem(path, "nested too deeply")
    if (
        nested is not None
        and not nested.full_name.startswith(_WELL_KNOWN)
        and isinstance(value, dict)
    ):
        found = explain(value, nested, path, ignore_unknown=lax)
        if found is not None:
            return found
    singular = _what(field)[0]
    timestamp = nested is not None and nested.full_name == "google.protobuf.Timestamp"
    if timestamp and isinstance(value, str):
        return Problem(
            path, f"{show(value)} is not an RFC 3339 date-time (e.g. {TIMESTAMP_EXAMPLE})"
        )
    whole = type(value) is int or (
        type(value) is float and (value.is_integer() or not math.isfinite(value))
    )
    if field.cpp_type in _INT_RANGES and whole:
        return Problem(path, f"expected an integer {_range(field)}, got {show(value)}")
    if field.cpp_type in _SCALARS and type(value) is float and not math.isfinite(value):
        return Problem(path, f"expected a number of at most ±1.8e308, got {show(value)}")
    return Problem(path, f"expected {singular}, got {show(value)}")


def map_key_path(path: str, key: str) -> str:
    """The path of one entry of a map field: features["age"] (the key as a JSON string)."""
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _map_problem(
    descriptor: Any, field: FieldDescriptor, key: str, value: Any, path: str, lax: bool
) -> Problem:
    """Why a map field (a JSON object of one kind of value) was refused: its first entry
    refused, by its key."""
    value_field = field.message_type.fields_by_name["value"]  # type: ignore[union-attr]
    if not isinstance(value, dict):
        return Problem(
            path, f"expected a JSON object of {_what(value_field)[1]}, got {show(value)}"
        )
    for entry_key, item in value.items():
        if not _accepts(descriptor, {key: {entry_key: item}}, lax):
            return _value_problem(value_field, item, map_key_path(path, entry_key), lax)
    return Problem(path, f"expected a JSON object of {_what(value_field)[1]}")


def _field_problem(
    descriptor: Any, field: FieldDescriptor, key: str, value: Any, path: str, lax: bool
) -> Problem:
    if field.message_type and field.message_type.GetOptions().map_entry:
        return _map_problem(descriptor, field, key, value, path, lax)
    if field.is_repeated:
        if not isinstance(value, list):
            return Problem(path, f"expected a list of {_what(field)[1]}, got {show(value)}")
        for index, item in enumerate(value):
            if not _accepts(descriptor, {key: [item]}, lax):
                return _value_problem(field, item, f"{path}[{index}]", lax)
    return _value_problem(field, value, path, lax)


def _skeleton(field: FieldDescriptor) -> str:
    if field.is_repeated:
        return "[...]"
    if field.message_type is not None:
        return "{...}" if field.message_type.full_name not in _MESSAGES else '"..."'
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return "false"
    numeric = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT, *_INT_RANGES)
    return "0" if field.cpp_type in numeric else '"..."'


def _json_fields(descriptor: Any) -> list[Any]:
    """The fields a JSON body may send: not the bytes twins of `(aegis.v1.json_text)`
    fields, which carry what the gateway forwards."""
    twins = {
        f.GetOptions().Extensions[options_pb2.json_text]
        for f in descriptor.fields
        if f.GetOptions().HasExtension(options_pb2.json_text)
    }
    return [f for f in descriptor.fields if f.name not in twins]


def expected_instead(key: str, descriptor: Any, *, noun: str = "fields") -> str:
    """What to send instead of an unknown key: the closest field name, else the object's
    shape (for at most three fields, in a body) or its field names."""
    fields = _json_fields(descriptor)
    names = [f.name for f in fields]
    spellings = {f.name: f.name for f in fields} | {f.json_name: f.name for f in fields}
    close = difflib.get_close_matches(key, list(spellings), n=1, cutoff=0.7)
    if close:
        return f'did you mean "{spellings[close[0]]}"?'
    if not fields:
        return f"expected no {noun}"
    if len(fields) <= 3 and noun == "fields":
        shape = ", ".join(f'"{f.name}": {_skeleton(f)}' for f in fields)
        return f"expected {{{shape}}}"
    listed = ", ".join(names[:MAX_LISTED]) + (", …" if len(names) > MAX_LISTED else "")
    return f"expected one of {listed}"


def explain(
    data: dict[str, Any], descriptor: Any, path: str = "", *, ignore_unknown: bool = False
) -> Problem | None:
    """The first problem with `data` as the message `descriptor` (read as ParseDict reads it,
    with ignore_unknown_fields=ignore_unknown), or None when none can be named."""
    by_name = {f.name: f for f in descriptor.fields} | {f.json_name: f for f in descriptor.fields}
    for key in data:
        if key not in by_name and not ignore_unknown:
            return Problem(path, expected_instead(key, descriptor), unknown=key)
    for key, value in data.items():
        field = by_name.get(key)
        if field is None:
            continue
        if value is not None and not _accepts(descriptor, {key: value}, ignore_unknown):
            where = _join(path, key)  # as sent: a body may use either spelling
            return _field_problem(descriptor, field, key, value, where, ignore_unknown)
    for oneof in descriptor.oneofs:
        given = [
            k
            for k, v in data.items()
            if v is not None and k in by_name and by_name[k].containing_oneof is oneof
        ]
        if len(given) > 1:
            return Problem(path, f'"{given[0]}" and "{given[1]}" cannot both be set; send one')
    return None


MAX_INT_DIGITS = 300  # a double holds at most ~1.8e308


def json_int(text: str) -> int | float:
    """json.loads' parse_int for what a client sends: JSON has one number type, so an integer
    past what a double holds becomes ±inf (rejected where it lands, as a number out of range)
    instead of failing the whole body or overflowing a float() later."""
    return int(text) if len(text.lstrip("-")) < MAX_INT_DIGITS else float(text)
